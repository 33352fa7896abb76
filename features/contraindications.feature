Feature: Absolute contraindications and do-not-start items
  A missed contraindication is the worst defect. Each fires with the FHIR resource as evidence
  and makes the product "contraindicated", whatever else the record says.

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing

  @contraindication.aneurysmal-vascular-disease @contraindication.arteriovenous-malformation @contraindication.intracerebral-hemorrhage
  Scenario Outline: Vascular contraindications, active or resolved
    Given a <status> condition <code> since 2020-03-01
    When eligibility is assessed
    Then rule <rule> fires
    And esketamine is contraindicated
    And ketamine-iv is contraindicated

    Examples:
      | status   | code   | rule                                       |
      | active   | I71.21 | contraindication.aneurysmal-vascular-disease |
      | resolved | I67.1  | contraindication.aneurysmal-vascular-disease |
      | active   | Q28.2  | contraindication.arteriovenous-malformation |
      | resolved | I61.0  | contraindication.intracerebral-hemorrhage  |

  @contraindication.arteriovenous-malformation @contraindication.intracerebral-hemorrhage
  Scenario: An ischaemic stroke is not an intracerebral haemorrhage
    Given a resolved condition I63.9 since 2020-03-01
    When eligibility is assessed
    Then rule contraindication.intracerebral-hemorrhage does not fire
    And rule contraindication.arteriovenous-malformation does not fire
    And esketamine is use-with-caution

  @contraindication.hypersensitivity
  Scenario: Ketamine allergy contraindicates both products
    Given an allergy to ketamine
    When eligibility is assessed
    Then rule contraindication.hypersensitivity fires
    And esketamine is contraindicated

  @contraindication.hypersensitivity
  Scenario: A penicillin allergy is not a ketamine allergy
    Given an allergy to penicillin
    When eligibility is assessed
    Then rule contraindication.hypersensitivity does not fire

  @contraindication.age-under-18 @contraindication.pregnancy @data-gap.pregnancy-status
  Scenario: A 17-year-old is do-not-start
    Given the patient is 17 years old
    When eligibility is assessed
    Then rule contraindication.age-under-18 fires
    And rule contraindication.pregnancy does not fire
    And rule data-gap.pregnancy-status does not fire

  @contraindication.pregnancy @data-gap.pregnancy-status
  Scenario: An active pregnancy condition is do-not-start
    Given a condition Z34.00 since 2025-04-01
    When eligibility is assessed
    Then rule contraindication.pregnancy fires
    And esketamine is contraindicated

  @data-gap.pregnancy-status @contraindication.pregnancy
  Scenario: No recent pregnancy status for a woman who could be pregnant
    Given no pregnancy test is recorded
    When eligibility is assessed
    Then rule data-gap.pregnancy-status fires
    And rule contraindication.pregnancy does not fire
    And esketamine is insufficient-data
    And a data gap pregnancy-status says to obtain "pregnancy test"

  @data-gap.pregnancy-status
  Scenario: A man needs no pregnancy status
    Given a 45-year-old man with recurrent MDD since 2024-09-01
    And no pregnancy test is recorded
    When eligibility is assessed
    Then rule data-gap.pregnancy-status does not fire

  @contraindication.recent-cardiovascular-event.eu @precaution.recent-cardiovascular-event.us @contraindication.recent-cardiovascular-event.ketamine-iv
  Scenario Outline: A myocardial infarction within 6 weeks
    Given a condition I21.4 since <onset>
    When eligibility is assessed under the <profile> profile
    Then esketamine is <esketamine>
    And ketamine-iv is <ketamine>

    Examples:
      | onset      | profile | esketamine       | ketamine         |
      | 2025-05-01 | eu-smpc | contraindicated  | contraindicated  |
      | 2025-05-01 | us-fda  | use-with-caution | contraindicated  |
      | 2025-03-01 | eu-smpc | use-with-caution | use-with-caution |
      | 2025-03-01 | us-fda  | use-with-caution | use-with-caution |

  @data-gap.weight
  Scenario: No weight within 30 days: no IV dose, never a dose on a stale weight
    Given the weight was last measured on 2025-03-01
    When eligibility is assessed
    Then rule data-gap.weight fires
    And ketamine-iv is insufficient-data
    And the IV ketamine dosing is null
    And esketamine is appropriate

  @data-gap.weight @data-gap.blood-pressure @precaution.hepatic-impairment.ketamine-iv
  Scenario: With current vitals and no liver disease there is no gap
    When eligibility is assessed
    Then rule data-gap.weight does not fire
    And rule data-gap.blood-pressure does not fire
    And rule precaution.hepatic-impairment.ketamine-iv does not fire

  @data-gap.pregnancy-status
  Scenario: Sex not recorded: pregnancy cannot be ruled out
    Given a 45-year-old patient of unknown sex with recurrent MDD since 2024-09-01
    And no pregnancy test is recorded
    When eligibility is assessed
    Then rule data-gap.pregnancy-status fires
    And esketamine is insufficient-data

  @contraindication.severe-blood-pressure.esketamine-us @contraindication.severe-blood-pressure.esketamine-eu @contraindication.severe-blood-pressure.ketamine-iv @precaution.elevated-blood-pressure @precaution.elevated-blood-pressure.eu-under-65
  Scenario Outline: A reading at or above 180/100 stops today's dose, per product and profile
    Given a blood pressure of <bp> on 2025-06-01
    When eligibility is assessed under the <profile> profile
    Then rule <rule> <fires>
    And esketamine is <esk>
    And ketamine-iv is <iv>

    Examples:
      | bp      | profile | rule                                                  | fires         | esk              | iv               |
      | 182/95  | us-fda  | contraindication.severe-blood-pressure.esketamine-us  | fires         | contraindicated  | contraindicated  |
      | 150/100 | us-fda  | contraindication.severe-blood-pressure.ketamine-iv    | fires         | contraindicated  | contraindicated  |
      | 182/95  | us-fda  | precaution.elevated-blood-pressure                    | does not fire | contraindicated  | contraindicated  |
      | 179/99  | us-fda  | contraindication.severe-blood-pressure.esketamine-us  | does not fire | use-with-caution | use-with-caution |
      | 179/99  | us-fda  | contraindication.severe-blood-pressure.ketamine-iv    | does not fire | use-with-caution | use-with-caution |
      | 180/90  | eu-smpc | contraindication.severe-blood-pressure.esketamine-eu  | fires         | contraindicated  | contraindicated  |
      | 180/90  | eu-smpc | precaution.elevated-blood-pressure.eu-under-65        | does not fire | contraindicated  | contraindicated  |
      | 179/99  | eu-smpc | contraindication.severe-blood-pressure.esketamine-eu  | does not fire | use-with-caution | use-with-caution |
      | 182/95  | eu-smpc | contraindication.severe-blood-pressure.esketamine-us  | does not fire | contraindicated  | contraindicated  |

  @contraindication.severe-blood-pressure.esketamine-us
  Scenario: A reading of 182/95 older than the look-back is a blood-pressure data gap, not a stop
    Given a blood pressure of 182/95 on 2025-03-01
    And the blood pressure was last measured on 2025-03-01
    When eligibility is assessed
    Then rule contraindication.severe-blood-pressure.esketamine-us does not fire
    And esketamine is insufficient-data

  @contraindication.hypertensive-crisis.us @contraindication.hypertensive-crisis.eu
  Scenario Outline: An active hypertensive crisis or encephalopathy: do not dose
    Given a <status> condition <code> since <day>
    When eligibility is assessed under the <profile> profile
    Then rule <rule> <fires>

    Examples:
      | status   | code  | day        | profile | rule                                   | fires         |
      | active   | I16.0 | 2025-05-30 | us-fda  | contraindication.hypertensive-crisis.us | fires         |
      | active   | I16.1 | 2025-05-30 | eu-smpc | contraindication.hypertensive-crisis.eu | fires         |
      | active   | I67.4 | 2025-05-20 | us-fda  | contraindication.hypertensive-crisis.us | fires         |
      | resolved | I16.0 | 2024-01-10 | us-fda  | contraindication.hypertensive-crisis.us | does not fire |
      | resolved | I67.4 | 2024-01-10 | eu-smpc | contraindication.hypertensive-crisis.eu | does not fire |
      | active   | I10   | 2020-01-10 | us-fda  | contraindication.hypertensive-crisis.us | does not fire |

  @contraindication.aneurysmal-vascular-disease @precaution.cardiovascular-disease.history
  Scenario: A card says what the chart says, and never loses its conclusion to a long term
    Given a condition I71.40 recorded as "Abdominal aortic aneurysm without rupture, infrarenal, under ultrasound surveillance in the vascular clinic every twelve months since the first scan" since 2023-04-02
    When eligibility is assessed
    Then the aneurysmal-vascular-disease summary says "contraindicated" within 140 characters
    And the aneurysmal-vascular-disease summary says "I71.40, 2023-04-02" within 140 characters
    And rule precaution.cardiovascular-disease.history does not fire
