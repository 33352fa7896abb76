Feature: Drug interactions
  Active medications that interact with esketamine or IV ketamine: each says the direction, the
  severity and what to do. Stopped medications do not interact.

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing

  @interaction.cns-depressant @interaction.cns-depressant.antipsychotic @interaction.psychostimulant @interaction.maoi @interaction.memantine @interaction.theophylline.ketamine-iv @interaction.theophylline.esketamine @interaction.lamotrigine @interaction.antihypertensive
  Scenario Outline: An active interacting medication
    Given <drug> <mg> mg daily from 2025-03-01, ongoing
    When eligibility is assessed
    Then rule <rule> fires
    And esketamine is <esketamine>
    And ketamine-iv is <ketamine>

    Examples:
      | drug            | mg  | rule                                    | esketamine       | ketamine         |
      | oxycodone       | 10  | interaction.cns-depressant              | use-with-caution | use-with-caution |
      | quetiapine      | 100 | interaction.cns-depressant.antipsychotic | use-with-caution | use-with-caution |
      | methylphenidate | 20  | interaction.psychostimulant             | use-with-caution | use-with-caution |
      | tranylcypromine | 30  | interaction.maoi                        | use-with-caution | use-with-caution |
      | memantine       | 10  | interaction.memantine                   | use-with-caution | use-with-caution |
      | theophylline    | 300 | interaction.theophylline.ketamine-iv    | use-with-caution | use-with-caution |
      | aminophylline   | 300 | interaction.theophylline.esketamine     | use-with-caution | use-with-caution |
      | lamotrigine     | 200 | interaction.lamotrigine                 | appropriate      | appropriate      |
      | lisinopril      | 10  | interaction.antihypertensive            | appropriate      | appropriate      |

  @interaction.cns-depressant
  Scenario: A stopped opioid does not interact
    Given oxycodone 10 mg daily from 2024-01-01 to 2024-02-01 stopped for remission
    When eligibility is assessed
    Then rule interaction.cns-depressant does not fire
    And esketamine is appropriate

  @interaction.benzodiazepine-efficacy @interaction.cns-depressant
  Scenario Outline: Benzodiazepine load above 8 mg diazepam-equivalent may blunt the response
    Given <drug> <mg> mg daily from 2025-03-01, ongoing
    When eligibility is assessed
    Then rule interaction.cns-depressant fires
    And rule interaction.benzodiazepine-efficacy <fires>

    Examples:
      | drug      | mg | fires         |
      | lorazepam | 2  | fires         |
      | diazepam  | 5  | does not fire |
      | clonazepam | 0.5 | fires        |

  @interaction.cns-depressant @interaction.psychostimulant @interaction.blood-pressure-raising-drugs @interaction.thyroid-hormones @interaction.nasal-spray-timing
  Scenario Outline: Interactions the first pass did not recognise
    Given <drug> <mg> mg daily from 2025-03-01, ongoing
    When eligibility is assessed
    Then rule <rule> fires
    And esketamine is <esketamine>

    Examples:
      | drug               | mg   | rule                                      | esketamine       |
      | chlordiazepoxide   | 25   | interaction.cns-depressant                | use-with-caution |
      | zopiclone          | 7.5  | interaction.cns-depressant                | use-with-caution |
      | eszopiclone        | 2    | interaction.cns-depressant                | use-with-caution |
      | pregabalin         | 150  | interaction.cns-depressant                | use-with-caution |
      | gabapentin         | 900  | interaction.cns-depressant                | use-with-caution |
      | phenobarbital      | 60   | interaction.cns-depressant                | use-with-caution |
      | tapentadol         | 100  | interaction.cns-depressant                | use-with-caution |
      | dexmethylphenidate | 10   | interaction.psychostimulant               | use-with-caution |
      | methamphetamine    | 10   | interaction.psychostimulant               | use-with-caution |
      | methylergometrine  | 0.2  | interaction.blood-pressure-raising-drugs  | use-with-caution |
      | levothyroxine      | 0.1  | interaction.thyroid-hormones              | appropriate      |
      | fluticasone        | 0.1  | interaction.nasal-spray-timing            | appropriate      |
      | oxymetazoline      | 0.1  | interaction.nasal-spray-timing            | appropriate      |

  @interaction.blood-pressure-raising-drugs @interaction.thyroid-hormones @interaction.nasal-spray-timing
  Scenario Outline: Neighbours that do not interact
    Given <drug> <mg> mg daily from 2025-03-01, ongoing
    When eligibility is assessed
    Then rule <rule> does not fire

    Examples:
      | drug          | mg  | rule                                     |
      | levothyroxine | 0.1 | interaction.blood-pressure-raising-drugs |
      | lisinopril    | 10  | interaction.thyroid-hormones             |
      | lisinopril    | 10  | interaction.nasal-spray-timing           |

  @data-gap.medication-identity @interaction.cns-depressant
  Scenario Outline: A current medication coded only by a product code
    Given a medication coded only as NDC <ndc> from 2025-03-01, ongoing
    When eligibility is assessed
    Then rule data-gap.medication-identity <unidentified>
    And rule interaction.cns-depressant <cns>
    And esketamine is use-with-caution

    Examples: an NDC the RxNorm table resolves (lorazepam 1 mg, Ativan) and one it does not
      | ndc          | unidentified  | cns           |
      | 00187006401  | does not fire | fires         |
      | 99999-999-99 | fires         | does not fire |

  @data-gap.medication-identity
  Scenario: An unidentified medication that was stopped does not hide an interaction
    Given a medication coded only as NDC 99999-999-99 from 2024-01-01 to 2024-02-01
    When eligibility is assessed
    Then rule data-gap.medication-identity does not fire
    And esketamine is appropriate
