Feature: Contraindications, data gaps and dosing
  A missed contraindication is the worst defect; an "appropriate" built on missing data the
  second worst. Each rule fires on its case and stays silent on its neighbour.

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing

  @contraindication.aneurysmal-vascular-disease
  Scenario: Abdominal aortic aneurysm contraindicates both products
    Given a condition I71.40 since 2023-04-02
    When eligibility is assessed
    Then esketamine is contraindicated
    And ketamine-iv is contraindicated
    And a contraindication finding aneurysmal-vascular-disease cites the Condition

  @contraindication.aneurysmal-vascular-disease
  Scenario: Essential hypertension is not an aneurysm
    Given a condition I10 since 2023-04-02
    When eligibility is assessed
    Then esketamine is appropriate
    And rule precaution.hypertension fires
    And there is no finding aneurysmal-vascular-disease

  @contraindication.intracerebral-hemorrhage
  Scenario: A resolved intracerebral haemorrhage still counts
    Given a resolved condition I61.9 since 2019-04-02
    When eligibility is assessed
    Then esketamine is contraindicated

  @contraindication.pregnancy
  Scenario: A positive pregnancy test means do not start
    Given a positive pregnancy test on 2025-05-30
    When eligibility is assessed
    Then esketamine is contraindicated

  @data-gap.blood-pressure
  Scenario: No blood pressure within 30 days gives insufficient data
    Given the blood pressure was last measured on 2025-04-01
    When eligibility is assessed
    Then esketamine is insufficient-data
    And a data gap blood-pressure says to obtain "Measure blood pressure"

  @precaution.elevated-blood-pressure
  Scenario: Blood pressure above 140/90 calls for caution
    Given a blood pressure of 152/88 on 2025-06-01
    When eligibility is assessed
    Then esketamine is use-with-caution

  @dosing.esketamine.eu-older-adult
  Scenario: A 70-year-old under the EU profile starts at 28 mg
    Given the patient is 70 years old
    When eligibility is assessed under the eu-smpc profile
    Then the esketamine start dose is 28 mg

  @dosing.esketamine.trd
  Scenario: A 70-year-old under the US profile starts at 56 mg
    Given the patient is 70 years old
    When eligibility is assessed
    Then the esketamine start dose is 56 mg

  @dosing.ketamine-iv.standard
  Scenario: A 130 kg patient gets 65 mg IV with the ideal-weight note
    Given a weight of 130 kg and height of 175 cm on 2025-05-28
    When eligibility is assessed
    Then the IV ketamine dose is 65 mg
    And the IV ketamine notes mention "ideal-body-weight"
