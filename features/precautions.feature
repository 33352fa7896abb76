Feature: Precautions and relative contraindications
  Each precaution turns an otherwise appropriate patient into "use with caution" for the products
  it concerns, and says why. Each example is also the neighbouring case for the other rules.

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing

  @precaution.hypertension @precaution.cardiovascular-disease @precaution.cerebrovascular-disease @precaution.substance-use-disorder @precaution.breastfeeding @precaution.respiratory-risk.condition @precaution.cognitive-impairment @precaution.elevated-intracranial-pressure @precaution.psychosis
  Scenario Outline: A recorded condition calls for caution
    Given a condition <code> since 2023-01-10
    When eligibility is assessed
    Then rule <rule> fires
    And esketamine is <esketamine>
    And ketamine-iv is <ketamine>

    Examples:
      | code   | rule                                      | esketamine       | ketamine         |
      | I10    | precaution.hypertension                   | appropriate      | appropriate      |
      | I50.9  | precaution.cardiovascular-disease         | use-with-caution | use-with-caution |
      | I63.9  | precaution.cerebrovascular-disease        | use-with-caution | use-with-caution |
      | F10.20 | precaution.substance-use-disorder         | use-with-caution | use-with-caution |
      | F16.21 | precaution.substance-use-disorder         | use-with-caution | use-with-caution |
      | Z39.1  | precaution.breastfeeding                  | use-with-caution | use-with-caution |
      | G47.33 | precaution.respiratory-risk.condition     | use-with-caution | use-with-caution |
      | G30.9  | precaution.cognitive-impairment           | use-with-caution | use-with-caution |
      | G93.2  | precaution.elevated-intracranial-pressure | use-with-caution | use-with-caution |
      | F33.3  | precaution.psychosis                      | use-with-caution | use-with-caution |

  @precaution.hypertension @precaution.substance-use-disorder
  Scenario: Nicotine dependence and an elevated reading code are neither hypertension nor SUD
    Given a condition F17.210 since 2023-01-10
    And a condition R03.0 since 2023-01-10
    When eligibility is assessed
    Then rule precaution.hypertension does not fire
    And rule precaution.substance-use-disorder does not fire
    And esketamine is appropriate

  @precaution.breastfeeding
  Scenario: Breastfeeding that has ended does not count
    Given a resolved condition Z39.1 since 2019-04-02
    When eligibility is assessed
    Then rule precaution.breastfeeding does not fire

  @precaution.older-adult
  Scenario: Aged 65 and over
    Given the patient is 70 years old
    When eligibility is assessed
    Then rule precaution.older-adult fires
    And esketamine is appropriate

  @precaution.older-adult
  Scenario: Aged 64 is not an older adult
    Given the patient is 64 years old
    When eligibility is assessed
    Then rule precaution.older-adult does not fire

  @precaution.respiratory-risk.bmi
  Scenario Outline: Severe obesity is a respiratory risk from BMI 35
    Given a weight of <kg> kg and height of 170 cm on 2025-05-28
    When eligibility is assessed
    Then rule precaution.respiratory-risk.bmi <fires>

    Examples:
      | kg  | fires         |
      | 102 | fires         |
      | 100 | does not fire |

  @precaution.suicidal-ideation @precaution.bipolar-disorder
  Scenario: Current suicidal ideation
    Given suicidal ideation recorded on 2025-05-30
    When eligibility is assessed
    Then rule precaution.suicidal-ideation fires
    And rule precaution.bipolar-disorder does not fire

  @precaution.suicidal-ideation @precaution.bipolar-disorder
  Scenario: Bipolar disorder in remission still carries the manic-switch precaution
    Given a bipolar disorder diagnosis
    When eligibility is assessed
    Then rule precaution.bipolar-disorder fires
    And rule precaution.suicidal-ideation does not fire

  @precaution.ketamine-uropathy
  Scenario Outline: Prior ketamine use calls for a urinary symptom screen
    Given <drug> 35 mg daily from <start> to <end> stopped for remission
    When eligibility is assessed
    Then rule precaution.ketamine-uropathy <fires>

    Examples:
      | drug     | start      | end        | fires         |
      | ketamine | 2023-01-10 | 2023-02-10 | fires         |
      | ketamine | 2026-01-10 | 2026-02-10 | does not fire |

  @precaution.elevated-blood-pressure @precaution.elevated-blood-pressure.eu-under-65 @precaution.elevated-blood-pressure.eu-65-and-over
  Scenario Outline: Pre-dose blood pressure thresholds differ by profile and age
    Given the patient is <age> years old
    And a blood pressure of <bp> on 2025-06-01
    When eligibility is assessed under the <profile> profile
    Then rule <rule> <fires>

    Examples:
      | age | bp     | profile | rule                                            | fires         |
      | 45  | 141/80 | us-fda  | precaution.elevated-blood-pressure              | fires         |
      | 45  | 130/91 | us-fda  | precaution.elevated-blood-pressure              | fires         |
      | 45  | 140/90 | us-fda  | precaution.elevated-blood-pressure              | does not fire |
      | 70  | 145/85 | us-fda  | precaution.elevated-blood-pressure              | fires         |
      | 45  | 145/85 | eu-smpc | precaution.elevated-blood-pressure.eu-under-65  | fires         |
      | 45  | 140/90 | eu-smpc | precaution.elevated-blood-pressure.eu-under-65  | does not fire |
      | 70  | 145/85 | eu-smpc | precaution.elevated-blood-pressure.eu-65-and-over | does not fire |
      | 70  | 151/85 | eu-smpc | precaution.elevated-blood-pressure.eu-65-and-over | fires         |
      | 70  | 151/85 | eu-smpc | precaution.elevated-blood-pressure.eu-under-65  | does not fire |

  @precaution.hyperthyroidism
  Scenario Outline: Hyperthyroidism that is current calls for caution
    Given a <status> condition E05.90 since 2023-01-10
    When eligibility is assessed
    Then rule precaution.hyperthyroidism <fires>

    Examples:
      | status   | fires         |
      | active   | fires         |
      | resolved | does not fire |

  @data-gap.depression-severity
  Scenario Outline: A baseline depression severity score is asked for
    Given the PHQ-9 was last recorded on <day>
    When eligibility is assessed
    Then rule data-gap.depression-severity <fires>
    And esketamine is <verdict>

    # Without a recent score the ongoing venlafaxine trial cannot be shown to be failing (issue 13
    # item 7), so the indication is unsettled; the severity gap itself does not block.
    Examples:
      | day        | fires         | verdict           |
      | 2025-05-28 | does not fire | appropriate       |
      | 2025-02-01 | fires         | insufficient-data |

  @precaution.raised-intraocular-pressure
  Scenario Outline: Glaucoma calls for caution; resolved or unrelated eye disease does not
    Given a <status> condition <code> since 2022-01-10
    When eligibility is assessed
    Then rule precaution.raised-intraocular-pressure <fires>

    Examples:
      | status   | code   | fires         |
      | active   | H40.11 | fires         |
      | resolved | H40.11 | does not fire |
      | active   | H52.4  | does not fire |

  @monitoring.cssrs
  Scenario Outline: C-SSRS at baseline and at each dose change
    Given <screen>
    When eligibility is assessed
    Then rule monitoring.cssrs <fires>

    Examples:
      | screen                                                        | fires         |
      | no recorded ancestry                                          | fires         |
      | C-SSRS item 1 (wish to be dead) answered yes on 2025-05-30    | does not fire |
      | C-SSRS item 1 (wish to be dead) answered yes on 2025-01-30    | fires         |

  @precaution.cardiovascular-disease @precaution.cardiovascular-disease.history
  Scenario Outline: Resolved cardiac history is information; current disease calls for caution
    Given a <status> condition I21.9 since 2010-03-01
    When eligibility is assessed
    Then rule precaution.cardiovascular-disease <current>
    And rule precaution.cardiovascular-disease.history <history>
    And esketamine is <verdict>

    Examples:
      | status   | current       | history       | verdict          |
      | resolved | does not fire | fires         | appropriate      |
      | active   | fires         | does not fire | use-with-caution |

  @data-gap.pregnancy-status
  Scenario: The pregnancy-status gap says why it is asked
    Given no pregnancy test is recorded
    When eligibility is assessed
    Then a data gap pregnancy-status says to obtain "pregnancy test"
    And the finding pregnancy-status says "could become pregnant"

  @precaution.cardiovascular-disease.history
  Scenario: An old MI reads as the chart's term and date, not the value set's "acute (≤4 weeks)"
    Given a resolved condition I21.9 since 2010-03-01
    When eligibility is assessed
    Then the cardiovascular-disease summary says "I21.9, 2010-03-01" within 140 characters
    And the finding cardiovascular-disease says "Resolved cardiac history"

  @monitoring.post-dose @monitoring.post-dose.ketamine-iv
  Scenario: Monitoring text belongs to its product
    Given the patient is 45 years old
    When eligibility is assessed
    Then rule monitoring.post-dose fires
    And rule monitoring.post-dose.ketamine-iv fires
    And the finding post-dose-monitoring says "Esketamine"

  @monitoring.post-dose @monitoring.post-dose.ketamine-iv
  Scenario: No monitoring advice for a 17-year-old
    Given the patient is 17 years old
    When eligibility is assessed
    Then rule monitoring.post-dose.ketamine-iv does not fire
