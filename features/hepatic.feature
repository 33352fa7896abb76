Feature: Hepatic impairment and the Child-Pugh class
  Esketamine is not recommended in severe hepatic impairment (Child-Pugh C: do not start) and
  needs longer monitoring in moderate impairment (B). The class is computed from bilirubin,
  albumin, INR, ascites and encephalopathy; when labs are missing and the class could be C, the
  answer is insufficient data.

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing
    And a condition K74.60 since 2022-01-10

  @contraindication.severe-hepatic-impairment @precaution.hepatic-impairment.moderate @precaution.hepatic-impairment.ketamine-iv
  Scenario Outline: Child-Pugh class from labs and complications
    Given liver labs on 2025-05-20: bilirubin <bili> mg/dL, albumin <alb> g/dL, INR <inr>
    And <complications>
    When eligibility is assessed
    Then the Child-Pugh class is <class>
    And esketamine is <esketamine>
    And ketamine-iv is use-with-caution

    Examples:
      | bili | alb | inr | complications                    | class | esketamine       |
      | 1.0  | 4.0 | 1.1 | no complications                 | A     | appropriate      |
      | 2.5  | 3.0 | 1.8 | no complications                 | B     | use-with-caution |
      | 3.5  | 2.5 | 2.5 | a condition K76.82 since 2025-01-01 | C  | contraindicated  |

  @contraindication.severe-hepatic-impairment @data-gap.child-pugh
  Scenario: Cirrhosis with ascites and no labs cannot be classed
    Given a condition R18.8 since 2025-03-01
    When eligibility is assessed
    Then the Child-Pugh class is unknown
    And esketamine is insufficient-data
    And rule data-gap.child-pugh fires
    And rule contraindication.severe-hepatic-impairment does not fire

  @data-gap.child-pugh
  Scenario: Cirrhosis with normal labs is class A, no gap
    Given liver labs on 2025-05-20: bilirubin 1.0 mg/dL, albumin 4.0 g/dL, INR 1.0
    When eligibility is assessed
    Then rule data-gap.child-pugh does not fire
