Feature: The current episode: ongoing trials, severity (EU) and the antidepressant alongside
  An ongoing trial counts as failed only with evidence of non-response: a PHQ-9 of 10 or more
  within 30 days, taken after the trial had run 6 weeks, or a recorded lack of efficacy. An active
  MDD code alone is not evidence. Under the EU SmPC the current episode must be moderate to severe
  (a recent PHQ-9 outranks the code), and esketamine is given with an SSRI or SNRI.

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy

  @indication.trd.met @indication.trd.not-met @indication.trd.unsettled
  Scenario Outline: An ongoing trial fails only with evidence of non-response
    Given venlafaxine 150 mg daily from <start>, ongoing
    And a PHQ-9 of <score> on <day>
    When eligibility is assessed
    Then the indication is <status>
    And rule <rule> fires

    Examples:
      | start      | score | day        | status            | rule                   |
      | 2025-01-02 | 19    | 2025-05-28 | eligible          | indication.trd.met     |
      | 2025-01-02 | 10    | 2025-05-28 | eligible          | indication.trd.met     |
      | 2025-01-02 | 6     | 2025-05-28 | not-eligible      | indication.trd.not-met |
      | 2025-01-02 | 19    | 2025-03-01 | insufficient-data | indication.trd.unsettled |
      | 2025-04-01 | 19    | 2025-05-10 | insufficient-data | indication.trd.unsettled |

  @indication.trd.met @indication.trd.unsettled
  Scenario: No recent score: what to obtain says so
    Given venlafaxine 150 mg daily from 2025-01-02, ongoing
    And a PHQ-9 of 19 on 2025-03-01
    When eligibility is assessed
    Then the indication is insufficient-data
    And rule indication.trd.met does not fire
    And what to obtain mentions "venlafaxine" and "PHQ-9"
