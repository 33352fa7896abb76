Feature: Age from partial birth dates, and deceased patients
  A birth date recorded as a year or a year and month allows a range of ages: a patient who may
  be under 18 is never cleared, and the 65-and-over readings apply to a patient who may be 65.

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing

  @data-gap.birth-date @indication.age-unsettled
  Scenario: A birth year that allows 17 is a blocking data gap, never eligible
    Given the birth date is recorded only as 2007
    When eligibility is assessed
    Then rule data-gap.birth-date fires
    And rule indication.age-unsettled fires
    And the indication is insufficient-data
    And esketamine is insufficient-data
    And ketamine-iv is insufficient-data
    And a data gap birth-date says to obtain "full date of birth"

  @data-gap.birth-date @indication.age-unsettled
  Scenario: A birth year that allows only 18 and over settles adulthood
    Given the birth date is recorded only as 2006
    When eligibility is assessed
    Then rule data-gap.birth-date does not fire
    And rule indication.age-unsettled does not fire
    And the indication is eligible

  @data-gap.birth-date
  Scenario: A birth month before the 18th birthday in that month allows 17
    Given the birth date is recorded only as 2007-06
    When eligibility is assessed
    Then rule data-gap.birth-date fires
    And esketamine is insufficient-data

  @contraindication.age-under-18
  Scenario: A birth year that allows only 16 or 17 is under 18
    Given the birth date is recorded only as 2008
    When eligibility is assessed
    Then rule contraindication.age-under-18 fires
    And esketamine is contraindicated

  @precaution.older-adult @dosing.esketamine.eu-older-adult @precaution.elevated-blood-pressure.eu-under-65
  Scenario: A birth year that allows 65 gets the 65-and-over precautions and dose, and the stricter BP threshold
    Given the birth date is recorded only as 1960
    And a blood pressure of 145/85 on 2025-05-31
    When eligibility is assessed under the eu-smpc profile
    Then rule precaution.older-adult fires
    And rule precaution.elevated-blood-pressure.eu-under-65 fires
    And rule precaution.elevated-blood-pressure.eu-65-and-over does not fire
    And the esketamine start dose is 28 mg

  @precaution.older-adult
  Scenario: A birth year that allows only 63 or 64 is not an older adult
    Given the birth date is recorded only as 1961
    When eligibility is assessed
    Then rule precaution.older-adult does not fire

  @indication.deceased
  Scenario: A patient recorded as deceased is not assessed for treatment
    Given the patient died on 2025-05-20
    When eligibility is assessed
    Then rule indication.deceased fires
    And the indication is not-eligible
    And esketamine is not-indicated
    And ketamine-iv is not-indicated
    And the IV ketamine dosing is null

  @indication.deceased
  Scenario: A death date after the evaluation date does not apply on that date
    Given the patient died on 2025-07-01
    When eligibility is assessed
    Then rule indication.deceased does not fire
    And the indication is eligible
