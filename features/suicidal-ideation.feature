Feature: The suicidal-ideation pathway needs current ideation with intent or plan, or recent behaviour
  The esketamine suicidal-ideation pathway (84 mg twice weekly) is for CURRENT suicidal ideation
  with intent or plan (C-SSRS screener items 3-5 within 30 days), recent suicidal behaviour (the
  C-SSRS "past 3 months" item, or an attempt within 90 days) or a recent active R45.851. A history
  code (Z91.51-), a passive wish to be dead (item 1 only) or lifetime-only behaviour gives the
  suicide-risk precaution, never the pathway.

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-05-01, ongoing

  @indication.suicidal-ideation.met @dosing.esketamine.suicidal-ideation @precaution.suicidal-ideation
  Scenario Outline: Current ideation with intent or plan, or recent behaviour: the pathway, 84 mg
    Given <record>
    When eligibility is assessed
    Then the indication is eligible
    And the pathway is suicidal-ideation
    And rule indication.suicidal-ideation.met fires
    And rule dosing.esketamine.suicidal-ideation fires
    And rule precaution.suicidal-ideation fires
    And the esketamine start dose is 84 mg

    Examples:
      | record                                                      |
      | C-SSRS item 4 (intent) answered yes on 2025-05-30            |
      | C-SSRS item 5 (plan) answered yes on 2025-05-20              |
      | C-SSRS item 3 (method) answered yes on 2025-05-20            |
      | C-SSRS item 6 (behaviour, past 3 months) answered yes on 2025-05-25 |
      | a condition T14.91XA since 2025-04-10                        |
      | suicidal ideation recorded on 2025-05-30                     |

  @indication.suicidal-ideation.met @dosing.esketamine.suicidal-ideation @precaution.suicidal-ideation
  Scenario Outline: History, passive wish or lifetime-only behaviour: a precaution, never the pathway
    Given <record>
    When eligibility is assessed
    Then the indication is not-eligible
    And rule indication.suicidal-ideation.met does not fire
    And rule dosing.esketamine.suicidal-ideation does not fire
    And rule precaution.suicidal-ideation fires
    And esketamine is not-indicated

    Examples:
      | record                                                   |
      | a condition Z91.51 since 2019-01-01                      |
      | a condition Z91.51 since 2025-05-30                      |
      | C-SSRS item 1 (wish to be dead) answered yes on 2025-05-30 |
      | C-SSRS item 2 (thoughts of killing self) answered yes on 2025-05-30 |
      | C-SSRS item 6 (behaviour, lifetime) answered yes on 2025-05-30 |
      | a condition T14.91XA since 2024-06-01                    |
      | a condition R45.851 since 2024-01-15                     |

  @indication.suicidal-ideation.met @precaution.suicidal-ideation
  Scenario: Intent answered yes more than 30 days ago is not current
    Given C-SSRS item 4 (intent) answered yes on 2025-04-15
    When eligibility is assessed
    Then rule indication.suicidal-ideation.met does not fire
    And rule precaution.suicidal-ideation does not fire

  @dosing.esketamine.suicidal-ideation-eu @dosing.esketamine.eu-older-adult
  Scenario Outline: EU: the 84 mg regimen for adults under 65 only
    Given the patient is <age> years old
    And C-SSRS item 4 (intent) answered yes on 2025-05-30
    When eligibility is assessed under the eu-smpc profile
    Then the pathway is suicidal-ideation
    And the esketamine start dose is <start> mg
    And rule dosing.esketamine.suicidal-ideation-eu <fires>
    And rule dosing.esketamine.suicidal-ideation does not fire

    Examples:
      | age | start | fires         |
      | 45  | 84    | fires         |
      | 70  | 28    | does not fire |
