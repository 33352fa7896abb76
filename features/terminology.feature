Feature: Terminology: SNOMED CT descendants, ICD-10-CM gaps, uncoded entries, hypersensitivity coding
  A missed contraindication is the worst defect. A descendant of an absolute concept is matched
  through the value set's expansion; an entry the codes cannot place but whose words read like an
  absolute concept withholds clearance (a review, never a contraindication by words alone).

  Background:
    Given the evaluation date is 2025-06-02
    And recent safety data: blood pressure 128/82, weight 68 kg, negative pregnancy test
    And a 45-year-old woman with recurrent MDD since 2024-09-01
    And sertraline 150 mg daily from 2024-09-15 to 2024-12-15 stopped for lack of efficacy
    And venlafaxine 150 mg daily from 2025-01-02, ongoing

  @contraindication.aneurysmal-vascular-disease @contraindication.arteriovenous-malformation @contraindication.intracerebral-hemorrhage
  Scenario Outline: SNOMED CT descendants of the absolute concepts are matched through the expansion
    Given a SNOMED CT condition <code> "<display>" since 2019-05-01
    When eligibility is assessed
    Then rule <rule> fires
    And esketamine is contraindicated
    And ketamine-iv is contraindicated

    Examples:
      | code      | display                                     | rule                                          |
      | 14336007  | Ruptured abdominal aortic aneurysm          | contraindication.aneurysmal-vascular-disease  |
      | 276282001 | SAH from anterior communicating aneurysm    | contraindication.aneurysmal-vascular-disease  |
      | 234142008 | Cerebral arteriovenous malformation         | contraindication.arteriovenous-malformation   |
      | 261482004 | Spinal arteriovenous malformation           | contraindication.arteriovenous-malformation   |
      | 195165005 | Basal ganglia hemorrhage                    | contraindication.intracerebral-hemorrhage     |
      | 1386000   | Intracranial hemorrhage                     | contraindication.intracerebral-hemorrhage     |

  @contraindication.aneurysmal-vascular-disease @contraindication.arteriovenous-malformation @contraindication.intracerebral-hemorrhage
  Scenario Outline: ICD-10-CM codes that were missing from the absolute value sets
    Given a resolved condition <code> since 2018-03-01
    When eligibility is assessed
    Then rule <rule> fires
    And esketamine is contraindicated

    Examples:
      | code     | rule                                          |
      | S06.350A | contraindication.intracerebral-hemorrhage     |
      | S06.369D | contraindication.intracerebral-hemorrhage     |
      | I69.151  | contraindication.intracerebral-hemorrhage     |
      | I69.298  | contraindication.intracerebral-hemorrhage     |
      | I69.031  | contraindication.aneurysmal-vascular-disease  |
      | I79.0    | contraindication.aneurysmal-vascular-disease  |
      | Q25.43   | contraindication.aneurysmal-vascular-disease  |
      | Q28.1    | contraindication.aneurysmal-vascular-disease  |
      | I28.0    | contraindication.arteriovenous-malformation   |
      | Q28.8    | contraindication.arteriovenous-malformation   |

  @contraindication.aneurysmal-vascular-disease @contraindication.intracerebral-hemorrhage
  Scenario Outline: Neighbouring codes that are not absolute concepts stay silent
    Given a <kind> condition <code> since 2018-03-01
    When eligibility is assessed
    Then rule contraindication.aneurysmal-vascular-disease does not fire
    And rule contraindication.intracerebral-hemorrhage does not fire
    And esketamine is appropriate

    Examples:
      | kind     | code   |
      | resolved | S06.0X0A |
      | resolved | Q25.45 |
      | active   | I77.1  |

  @contraindication.aneurysmal-vascular-disease
  Scenario: A repaired aneurysm (coded repair procedure) is still aneurysmal vascular disease
    Given a procedure 34830 in CPT "Open repair of infrarenal aortic aneurysm" on 2016-04-01
    When eligibility is assessed
    Then rule contraindication.aneurysmal-vascular-disease fires
    And esketamine is contraindicated

  @data-gap.review-aneurysmal-vascular-disease @data-gap.review-arteriovenous-malformation @data-gap.review-intracerebral-hemorrhage
  Scenario Outline: An uncoded or unplaced entry that reads like an absolute concept withholds clearance
    Given <entry>
    When eligibility is assessed
    Then rule <rule> fires
    And esketamine is insufficient-data
    And ketamine-iv is insufficient-data

    Examples:
      | entry                                                                      | rule                                          |
      | an uncoded condition "Abdominal aortic aneurysm" since 2020-01-01          | data-gap.review-aneurysmal-vascular-disease   |
      | a SNOMED CT condition 999000001 "Popliteal artery aneurysm" since 2020-01-01 | data-gap.review-aneurysmal-vascular-disease |
      | a condition coded http://example.org/local X12 "AVM of brain" since 2020-01-01 | data-gap.review-arteriovenous-malformation |
      | an uncoded condition "intracerebral bleed 2019" since 2020-01-01           | data-gap.review-intracerebral-hemorrhage      |
      | a procedure 34701 in CPT "EVAR for AAA" on 2016-04-01                      | data-gap.review-aneurysmal-vascular-disease   |

  @data-gap.review-aneurysmal-vascular-disease @data-gap.review-arteriovenous-malformation @data-gap.review-intracerebral-hemorrhage
  Scenario Outline: Negated, relatives' and unrelated entries do not read as absolute concepts
    Given <entry>
    When eligibility is assessed
    Then rule data-gap.review-aneurysmal-vascular-disease does not fire
    And rule data-gap.review-arteriovenous-malformation does not fire
    And rule data-gap.review-intracerebral-hemorrhage does not fire
    And esketamine is appropriate

    Examples:
      | entry                                                            |
      | an uncoded condition "Family history of aneurysm" since 2020-01-01 |
      | an uncoded condition "No evidence of AAA on ultrasound" since 2020-01-01 |
      | an uncoded condition "Haemorrhoids" since 2020-01-01               |
      | a condition coded http://hl7.org/fhir/sid/icd-10-cm Z82.49 "Family history of AAA" since 2020-01-01 |

  @data-gap.vascular-history-review
  Scenario: A vascular implant history code asks whether it is an aneurysm repair
    Given a condition Z95.828 since 2017-02-01
    When eligibility is assessed
    Then rule data-gap.vascular-history-review fires
    And esketamine is insufficient-data

  @data-gap.vascular-history-review
  Scenario: A cardiac pacemaker is not a vascular implant history
    Given a condition Z95.0 since 2017-02-01
    When eligibility is assessed
    Then rule data-gap.vascular-history-review does not fire
    And esketamine is appropriate

  @contraindication.hypersensitivity
  Scenario Outline: Hypersensitivity coded as a substance, a brand, a salt or a reaction substance
    Given <allergy>
    When eligibility is assessed
    Then rule contraindication.hypersensitivity fires
    And esketamine is contraindicated
    And ketamine-iv is contraindicated

    Examples:
      | allergy                                                              |
      | an allergy coded http://snomed.info/sct 373464007 "Ketamine"          |
      | an allergy recorded as text "Ketanest S"                             |
      | an allergy recorded as text "Ketamine hydrochloride"                  |
      | an allergy recorded as text "Ketalar (anaesthesia 2012)"              |
      | an allergy whose reaction substance is "esketamine"                   |

  @contraindication.hypersensitivity
  Scenario Outline: Allergies to other drugs are not ketamine hypersensitivity
    Given <allergy>
    When eligibility is assessed
    Then rule contraindication.hypersensitivity does not fire

    Examples:
      | allergy                                                  |
      | an allergy recorded as text "Ketorolac"                  |
      | an allergy coded http://snomed.info/sct 387423006 "Propofol" |
      | an allergy whose reaction substance is "propofol"        |
