Feature: The current episode: ongoing trials, severity (EU) and the antidepressant alongside
  An ongoing trial counts as failed only with evidence of non-response: a PHQ-9 of 10 or more
  within 30 days, taken after the trial had run 6 weeks, or a recorded lack of efficacy. An active
  MDD code alone is not evidence. Under the EU SmPC the current episode must be moderate to severe
  (a recent PHQ-9 outranks the code), and esketamine is given with an SSRI or SNRI: when none is
  current the card says to start one alongside (a start condition, not a bar).

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy

  @indication.trd.met @indication.trd.not-met @indication.trd.unsettled
  Scenario Outline: An ongoing trial fails only with evidence of non-response
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And venlafaxine 150 mg daily from <start>, ongoing
    And a PHQ-9 of <score> on <day>
    When eligibility is assessed
    Then the indication is <status>
    And rule <rule> fires

    Examples:
      | start      | score | day        | status            | rule                     |
      | 2025-01-02 | 19    | 2025-05-28 | eligible          | indication.trd.met       |
      | 2025-01-02 | 10    | 2025-05-28 | eligible          | indication.trd.met       |
      | 2025-01-02 | 6     | 2025-05-28 | not-eligible      | indication.trd.not-met   |
      | 2025-01-02 | 19    | 2025-03-01 | insufficient-data | indication.trd.unsettled |
      | 2025-04-01 | 19    | 2025-05-10 | insufficient-data | indication.trd.unsettled |

  @indication.trd.met @indication.trd.unsettled
  Scenario: No recent score: what to obtain says so
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And venlafaxine 150 mg daily from 2025-01-02, ongoing
    And a PHQ-9 of 19 on 2025-03-01
    When eligibility is assessed
    Then the indication is insufficient-data
    And rule indication.trd.met does not fire
    And what to obtain mentions "venlafaxine" and "PHQ-9"

  @indication.trd.met-eu @indication.eu-mild-episode @indication.trd.met
  Scenario Outline: EU: the current episode must be moderate to severe; a recent score outranks the code
    Given a condition <code> since 2024-09-01
    And fluoxetine 40 mg daily from 2025-01-01 to 2025-04-01 stopped for lack of efficacy
    And a PHQ-9 of <score> on <day>
    When eligibility is assessed under the eu-smpc profile
    Then the indication is <status>
    And rule indication.trd.met-eu <met>
    And rule indication.eu-mild-episode <mild>
    And rule indication.trd.met does not fire

    Examples:
      | code  | score | day        | status       | met           | mild          |
      | F33.1 | 19    | 2025-05-28 | eligible     | fires         | does not fire |
      | F33.0 | 16    | 2025-05-28 | eligible     | fires         | does not fire |
      | F33.2 | 7     | 2025-05-28 | not-eligible | does not fire | fires         |
      | F33.0 | 16    | 2025-01-10 | not-eligible | does not fire | fires         |
      | F33.2 | 16    | 2025-01-10 | eligible     | fires         | does not fire |

  @indication.trd.met @indication.eu-mild-episode
  Scenario: US: severity is not part of the indication
    Given a condition F33.0 since 2024-09-01
    And fluoxetine 40 mg daily from 2025-01-01 to 2025-04-01 stopped for lack of efficacy
    And a PHQ-9 of 7 on 2025-05-28
    When eligibility is assessed
    Then the indication is eligible
    And rule indication.eu-mild-episode does not fire

  @indication.trd.severity-unsettled-eu @indication.trd.met-eu
  Scenario Outline: EU: TRD met but severity unknown is insufficient data
    Given a condition <code> since 2024-09-01
    And fluoxetine 40 mg daily from 2025-01-01 to 2025-04-01 stopped for lack of efficacy
    And a PHQ-9 of 16 on 2025-01-10
    When eligibility is assessed under the eu-smpc profile
    Then the indication is <status>
    And rule indication.trd.severity-unsettled-eu <fires>

    Examples:
      | code  | status            | fires         |
      | F33.9 | insufficient-data | fires         |
      | F33.1 | eligible          | does not fire |

  @indication.suicidal-ideation.met-eu @indication.suicidal-ideation.severity-unsettled-eu
  Scenario Outline: EU psychiatric emergency: a moderate to severe episode
    Given a condition <code> since 2024-09-01
    And venlafaxine 150 mg daily from 2025-05-01, ongoing
    And C-SSRS item 4 (intent) answered yes on 2025-05-30
    And a PHQ-9 of <score> on <day>
    When eligibility is assessed under the eu-smpc profile
    Then the indication is <status>
    And rule <rule> <fires>

    Examples:
      | code  | score | day        | status            | rule                                               | fires         |
      | F33.9 | 19    | 2025-05-28 | eligible          | indication.suicidal-ideation.met-eu                | fires         |
      | F33.9 | 19    | 2025-01-10 | insufficient-data | indication.suicidal-ideation.severity-unsettled-eu | fires         |
      | F33.9 | 19    | 2025-01-10 | insufficient-data | indication.suicidal-ideation.met-eu                | does not fire |
      | F33.1 | 19    | 2025-01-10 | eligible          | indication.suicidal-ideation.severity-unsettled-eu | does not fire |

  @dosing.esketamine.eu-ssri-snri
  Scenario Outline: EU: with no SSRI or SNRI current, the card says to start one alongside
    Given a condition F33.1 since 2024-09-01
    And fluoxetine 40 mg daily from 2025-01-01 to 2025-04-01 stopped for lack of efficacy
    And <current> 30 mg daily from 2025-04-05, ongoing
    When eligibility is assessed under the <profile> profile
    Then the indication is eligible
    And rule dosing.esketamine.eu-ssri-snri <fires>
    And esketamine is appropriate

    Examples:
      | current     | profile | fires         |
      | mirtazapine | eu-smpc | fires         |
      | duloxetine  | eu-smpc | does not fire |
      | mirtazapine | us-fda  | does not fire |
