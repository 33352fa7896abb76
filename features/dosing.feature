Feature: Dosing by profile, age, ancestry and pathway
  Esketamine starts at 56 mg (US, and EU under 65); the EU label starts at 28 mg for patients
  aged 65 and over or of Japanese ancestry; the suicidal-ideation regimen is 84 mg twice weekly.

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And a 45-year-old man with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing

  @dosing.esketamine.trd @dosing.esketamine.eu-older-adult @dosing.esketamine.eu-japanese-ancestry @dosing.ketamine-iv.standard @monitoring.rems
  Scenario Outline: Start dose
    Given the patient is <age> years old
    And <ancestry>
    When eligibility is assessed under the <profile> profile
    Then the esketamine start dose is <start> mg
    And rule <rule> <fires>

    Examples:
      | age | ancestry                             | profile | start | rule                                   | fires         |
      | 45  | no recorded ancestry                 | us-fda  | 56    | dosing.esketamine.eu-older-adult       | does not fire |
      | 70  | no recorded ancestry                 | eu-smpc | 28    | dosing.esketamine.eu-older-adult       | fires         |
      | 45  | the patient is of Japanese ancestry  | eu-smpc | 28    | dosing.esketamine.eu-japanese-ancestry | fires         |
      | 45  | the patient is of Japanese ancestry  | us-fda  | 56    | dosing.esketamine.eu-japanese-ancestry | does not fire |
      | 45  | no recorded ancestry                 | eu-smpc | 56    | dosing.esketamine.trd                  | fires         |

  @dosing.esketamine.trd @dosing.ketamine-iv.standard @dosing.esketamine.suicidal-ideation
  Scenario: No dosing for a 17-year-old
    Given the patient is 17 years old
    When eligibility is assessed
    Then rule dosing.esketamine.trd does not fire
    And rule dosing.ketamine-iv.standard does not fire
    And rule dosing.esketamine.suicidal-ideation does not fire

  @dosing.esketamine.suicidal-ideation @dosing.esketamine.trd
  Scenario: Suicidal ideation with TRD keeps the TRD regimen: one dosing answer
    Given suicidal ideation recorded on 2025-05-30
    When eligibility is assessed
    Then rule dosing.esketamine.suicidal-ideation does not fire
    And rule dosing.esketamine.trd fires
    And the pathway is trd
    And the esketamine start dose is 56 mg

  @dosing.esketamine.trd @dosing.esketamine.eu-older-adult
  Scenario: EU, 70 years old: one start dose (28 mg), not 56 mg beside it
    Given the patient is 70 years old
    When eligibility is assessed under the eu-smpc profile
    Then the esketamine start dose is 28 mg
    And rule dosing.esketamine.eu-older-adult fires
    And rule dosing.esketamine.trd does not fire
