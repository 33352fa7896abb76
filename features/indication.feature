Feature: Treatment-resistant depression (TRD) indication
  An adult with a current episode of major depressive disorder meets the indication for esketamine
  or ketamine when at least two distinct antidepressants failed after adequate trials (adequate
  dose, at least 6 weeks) in that episode. The record must prove it: missing doses or dates give
  "insufficient data", never a guess.

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test

  @indication.trd.met @indication.trd.not-met @indication.trd.unsettled @data-gap.treatment-history @indication.age-under-18 @contraindication.age-under-18 @indication.bipolar-disorder @indication.no-current-mdd @indication.psychotic-disorder @indication.suicidal-ideation.met @indication.suicidal-ideation.no-antidepressant @monitoring.post-dose @monitoring.rems
  Scenario: Clear TRD
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing
    When eligibility is assessed
    Then the indication is eligible
    And 2 adequate failed trials are counted
    And the pathway is trd
    And esketamine is appropriate
    And rule monitoring.post-dose fires
    And rule monitoring.rems fires

  @indication.trd.not-met @indication.trd.met
  Scenario: A trial too short does not count
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-10-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing
    When eligibility is assessed
    Then the indication is not-eligible
    And 1 adequate failed trial is counted
    And esketamine is not-indicated

  @indication.trd.not-met
  Scenario: A dose below the minimum does not count
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 25 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing
    When eligibility is assessed
    Then the indication is not-eligible
    And the sertraline trial has an inadequate dose

  @indication.trd.not-met
  Scenario: Trials only in a previous episode do not count
    Given a 45-year-old woman with MDD from 2020-01-01 in remission from 2021-06-01 and recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2020-02-01 to 2020-06-01 stopped for lack of efficacy
    And fluoxetine 40 mg daily from 2020-07-01 to 2021-01-01 stopped for lack of efficacy
    When eligibility is assessed
    Then the indication is not-eligible
    And 0 adequate failed trials are counted
    And the sertraline trial is not in the current episode

  @indication.age-under-18 @contraindication.age-under-18 @monitoring.post-dose
  Scenario: A 17-year-old does not meet the indication
    Given a 17-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing
    When eligibility is assessed
    Then the indication is not-eligible
    And esketamine is contraindicated
    And rule monitoring.post-dose does not fire

  @indication.bipolar-disorder
  Scenario: Bipolar depression is not the label indication
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And a bipolar disorder diagnosis
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing
    When eligibility is assessed
    Then the indication is not-eligible
    And esketamine is not-indicated

  @indication.trd.not-met
  Scenario: A trial stopped for intolerance after two weeks does not count
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-09-29 stopped for intolerance
    And venlafaxine 150 mg daily from 2025-01-02, ongoing
    When eligibility is assessed
    Then the indication is not-eligible
    And 1 adequate failed trial is counted

  @indication.trd.not-met
  Scenario: Augmentation is shown but does not count as a second antidepressant
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And venlafaxine 150 mg daily from 2024-09-15, ongoing
    And aripiprazole 5 mg daily from 2025-01-02, ongoing
    When eligibility is assessed
    Then the indication is not-eligible
    And 1 adequate failed trial is counted
    And aripiprazole is shown as augmentation

  @indication.trd.unsettled @data-gap.treatment-history
  Scenario: Missing dose information gives insufficient data, never eligible
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy, dose not recorded
    And venlafaxine 150 mg daily from 2025-01-02, ongoing
    When eligibility is assessed
    Then the indication is insufficient-data
    And esketamine is insufficient-data
    And what to obtain mentions "sertraline" and "daily dose"

  @indication.suicidal-ideation.met @indication.suicidal-ideation.no-antidepressant
  Scenario: Suicidal-ideation pathway with an oral antidepressant
    Given a 45-year-old woman with recurrent MDD since 2025-03-01
    And venlafaxine 150 mg daily from 2025-05-20, ongoing
    And suicidal ideation recorded on 2025-05-30
    When eligibility is assessed
    Then the indication is eligible
    And the pathway is suicidal-ideation
    And the esketamine start dose is 84 mg

  @indication.suicidal-ideation.no-antidepressant @indication.suicidal-ideation.met
  Scenario: Suicidal ideation without an oral antidepressant does not meet that pathway
    Given a 45-year-old woman with recurrent MDD since 2025-03-01
    And suicidal ideation recorded on 2025-05-30
    When eligibility is assessed
    Then the indication is not-eligible
    And rule indication.suicidal-ideation.no-antidepressant fires
    And rule indication.suicidal-ideation.met does not fire

  @indication.no-current-mdd
  Scenario: MDD in remission is not a current episode
    Given a 45-year-old woman with MDD from 2020-01-01 in remission from 2021-06-01 and no relapse
    When eligibility is assessed
    Then the indication is not-eligible
    And rule indication.no-current-mdd fires

  @indication.psychotic-disorder @precaution.psychosis
  Scenario: Schizophrenia is not the label indication
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And a condition F20.0 since 2010-01-01
    When eligibility is assessed
    Then the indication is not-eligible
    And rule indication.psychotic-disorder fires

  @indication.psychotic-disorder @precaution.psychosis
  Scenario: MDD with psychotic features is still MDD (a precaution, not an exclusion)
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And a condition F33.3 since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing
    When eligibility is assessed
    Then the indication is eligible
    And rule indication.psychotic-disorder does not fire
    And rule precaution.psychosis fires

  @indication.trd.met @indication.trd.not-met
  Scenario Outline: Trial adequacy: effective doses, one molecule family, oral selegiline, EU antidepressants
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And <first> <mg> mg daily from 2025-01-02 to 2025-04-15 stopped for lack of efficacy
    When eligibility is assessed
    Then <n> adequate failed trials are counted
    And rule <rule> fires

    Examples:
      | first          | mg  | n | rule                   |
      | mirtazapine    | 15  | 1 | indication.trd.not-met |
      | mirtazapine    | 30  | 2 | indication.trd.met     |
      | venlafaxine    | 75  | 1 | indication.trd.not-met |
      | fluvoxamine    | 50  | 1 | indication.trd.not-met |
      | selegiline     | 10  | 1 | indication.trd.not-met |
      | agomelatine    | 25  | 2 | indication.trd.met     |
      | moclobemide    | 300 | 2 | indication.trd.met     |
      | reboxetine     | 8   | 2 | indication.trd.met     |
      | tianeptine     | 37.5 | 2 | indication.trd.met    |

  @indication.trd.not-met @indication.trd.met
  Scenario: Venlafaxine then desvenlafaxine is one antidepressant, not two
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And venlafaxine 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And desvenlafaxine 100 mg daily from 2025-01-02 to 2025-04-15 stopped for lack of efficacy
    When eligibility is assessed
    Then 1 adequate failed trial is counted
    And the indication is not-eligible

  @indication.psychotic-disorder @precaution.psychosis
  Scenario Outline: A resolved remote psychotic disorder is a precaution, a current one excludes
    Given a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And fluoxetine 40 mg daily from 2025-01-02 to 2025-04-15 stopped for lack of efficacy
    And a <status> condition F23 since 2010-03-01
    When eligibility is assessed
    Then the indication is <indication>
    And rule indication.psychotic-disorder <fires>
    And rule precaution.psychosis fires

    Examples:
      | status   | indication   | fires         |
      | active   | not-eligible | fires         |
      | resolved | eligible     | does not fire |

  @indication.confirm-mdd @indication.no-current-mdd
  Scenario Outline: Depression not specified as MDD asks to confirm MDD
    Given a condition <code> since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And fluoxetine 40 mg daily from 2025-01-02 to 2025-04-15 stopped for lack of efficacy
    When eligibility is assessed
    Then the indication is <indication>
    And rule indication.confirm-mdd <confirm>
    And rule indication.no-current-mdd <none>

    Examples:
      | code  | indication        | confirm       | none          |
      | F32.A | insufficient-data | fires         | does not fire |
      | F41.1 | not-eligible      | does not fire | fires         |
      | F33.1 | eligible          | does not fire | does not fire |
