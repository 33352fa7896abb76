Feature: Observations as real records carry them
  Weights in any UCUM mass unit, hCG against stated thresholds, blood pressure in any common shape.
  A value that cannot be read is a data gap with what to record, never a dose or a clearance.

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing

  @data-gap.weight
  Scenario: A weight in pounds (UCUM [lb_av]) doses on kilograms
    Given a weight of 176.37 "[lb_av]" on 2025-05-30
    When eligibility is assessed
    Then rule data-gap.weight does not fire
    And the IV ketamine dose is 40 mg

  @data-gap.weight
  Scenario: A weight in "lbs" (not UCUM) is a data gap, never a dose
    Given a weight of 150 "lbs" on 2025-05-30
    When eligibility is assessed
    Then rule data-gap.weight fires
    And ketamine-iv is insufficient-data
    And the IV ketamine dosing is null
    And a data gap weight says to obtain "UCUM mass unit"

  @data-gap.weight
  Scenario: An implausible weight is a data gap, never a dose
    Given a weight of 2398 "kg" on 2025-05-30
    When eligibility is assessed
    Then rule data-gap.weight fires
    And the IV ketamine dosing is null

  @data-gap.pregnancy-status
  Scenario: An hCG between 5 and 25 IU/L cannot clear
    Given a serum hCG of 12 "[IU]/L" on 2025-05-30
    When eligibility is assessed
    Then rule data-gap.pregnancy-status fires
    And esketamine is insufficient-data

  @data-gap.pregnancy-status @contraindication.pregnancy
  Scenario: An hCG below 5 IU/L is negative
    Given a serum hCG of 2 "m[IU]/mL" on 2025-05-30
    When eligibility is assessed
    Then rule data-gap.pregnancy-status does not fire
    And rule contraindication.pregnancy does not fire
    And esketamine is appropriate

  @contraindication.pregnancy
  Scenario: An hCG of 25 IU/L and over is positive
    Given a serum hCG of 1200 "m[IU]/mL" on 2025-05-30
    When eligibility is assessed
    Then rule contraindication.pregnancy fires
    And esketamine is contraindicated

  @contraindication.pregnancy
  Scenario: An active pregnancy-chapter ICD-10-CM code means pregnant
    Given a condition O26.891 since 2025-05-01
    When eligibility is assessed
    Then rule contraindication.pregnancy fires
