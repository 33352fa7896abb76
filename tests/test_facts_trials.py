"""Trials: merging consecutive records, adequacy proven vs allowed, outcome, current episode."""

from __future__ import annotations

from datetime import date

from cds.contract.facts import TrialFact
from cds.facts.build import FactSet, build_facts
from cds.ingest.load import flatten
from cds.knowledge import default_knowledge
from cds.synthetic import PatientBuilder

AS_OF = date(2025, 6, 2)


def facts(p: PatientBuilder) -> FactSet:
    return build_facts(flatten(p.bundle()), default_knowledge(), AS_OF)


def patient() -> PatientBuilder:
    p = PatientBuilder("1980-01-01", pid="t")
    p.condition("F33.1", onset="2024-09-01")
    return p


def test_consecutive_records_of_one_drug_merge_into_one_trial() -> None:
    p = patient()
    p.medication("sertraline", start="2024-09-15", end="2024-10-15", mg=100)
    p.medication("sertraline", start="2024-10-18", end="2024-12-15", mg=150, stop_reason="ineffective")
    [trial] = facts(p).trials
    assert (trial.start, trial.end, trial.daily_dose_mg) == (date(2024, 9, 15), date(2024, 12, 15), 150)
    assert trial.adequate is True and trial.outcome == "failed" and trial.counts_as_failed is True
    assert len(trial.evidence) == 2


def test_a_gap_of_more_than_7_days_starts_a_new_trial() -> None:
    p = patient()
    p.medication("sertraline", start="2024-09-15", end="2024-10-15", mg=100)
    p.medication("sertraline", start="2024-11-15", end="2024-12-15", mg=100)
    assert len(facts(p).trials) == 2


def test_adequate_duration_needs_the_minimum_dose_continuously() -> None:
    # 4 weeks at 25 mg then 4 weeks at 100 mg: 8 weeks in all, only 4 at an adequate dose.
    p = patient()
    p.medication("sertraline", start="2024-09-15", end="2024-10-13", mg=25)
    p.medication("sertraline", start="2024-10-13", end="2024-11-10", mg=100, stop_reason="no response")
    [trial] = facts(p).trials
    assert trial.adequate_dose is True and trial.adequate_duration is True
    assert trial.adequate is False and trial.counts_as_failed is False


def test_unknown_end_date_makes_the_trial_indeterminate_not_adequate() -> None:
    p = patient()
    p.medication("sertraline", start="2024-09-15", end=None, mg=150, status="stopped")
    [trial] = facts(p).trials
    assert trial.adequate is None and trial.counts_as_failed is None
    assert trial.missing and "end date" in trial.missing


def test_adequate_trial_stopped_without_a_reason_cannot_count() -> None:
    p = patient()
    p.medication("sertraline", start="2024-09-15", end="2024-12-15", mg=150)
    [trial] = facts(p).trials
    assert trial.adequate is True and trial.outcome == "unknown" and trial.counts_as_failed is None
    assert trial.missing and "why it was stopped" in trial.missing


def test_intolerance_after_an_adequate_trial_counts() -> None:
    p = patient()
    p.medication("sertraline", start="2024-09-15", end="2024-12-15", mg=150, stop_reason="side effects")
    [trial] = facts(p).trials
    assert trial.outcome == "intolerance" and trial.counts_as_failed is True


def test_text_only_record_is_recognised_by_ingredient() -> None:
    p = patient()
    p.medication(
        "sertraline",
        start="2024-09-15",
        end="2024-12-15",
        mg=150,
        stop_reason="lack of efficacy",
        text_only=True,
    )
    [trial] = facts(p).trials
    assert trial.drug == "sertraline" and trial.counts_as_failed is True


def test_distinct_ingredients_are_counted_once() -> None:
    p = patient()
    p.medication("sertraline", start="2024-09-15", end="2024-11-15", mg=150, stop_reason="ineffective")
    p.medication("sertraline", start="2025-01-15", end="2025-03-15", mg=200, stop_reason="ineffective")
    assert facts(p).history.adequate_failed_trials == 1


def test_medication_request_and_dispense_are_read() -> None:
    p = patient()
    p.medication(
        "fluoxetine",
        start="2024-09-15",
        end="2024-12-15",
        mg=40,
        kind="MedicationRequest",
        status="stopped",
        stop_reason="lack of efficacy",
    )
    p.resources.append(
        {
            "resourceType": "MedicationDispense",
            "id": "d1",
            "status": "completed",
            "medicationCodeableConcept": {
                "coding": [
                    {
                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                        "code": "312938",
                        "display": "sertraline 100 MG Oral Tablet",
                    }
                ]
            },
            "subject": {"reference": "Patient/t"},
            "whenHandedOver": "2025-01-10",
            "quantity": {"value": 90, "unit": "tablet"},
            "daysSupply": {"value": 90, "unit": "d"},
        }
    )
    trials = {t.drug: t for t in facts(p).trials}
    assert trials["fluoxetine"].counts_as_failed is True
    assert trials["sertraline"].daily_dose_mg == 100 and trials["sertraline"].weeks == 12.9  # 90 days supply


def test_trial_before_an_episode_known_only_from_recorded_date_cannot_be_placed() -> None:
    """The diagnosis was recorded 2024-12-01 without an onset: the episode began then or earlier,
    so a trial that ended in November may or may not belong to it: never counted as failed."""
    p = PatientBuilder("1980-01-01", pid="r")
    p.condition("F33.1", recorded="2024-12-01")
    p.medication("sertraline", start="2024-08-01", end="2024-11-01", mg=150, stop_reason="ineffective")
    p.medication("venlafaxine", start="2024-12-15", end=None, mg=150)
    p.phq9("2025-05-20", 18)  # non-response on the ongoing trial (issue 13 item 7)
    f = facts(p)
    by_drug = {t.drug: t for t in f.trials}
    assert by_drug["sertraline"].in_current_episode is None and by_drug["sertraline"].counts_as_failed is None
    assert (
        by_drug["venlafaxine"].in_current_episode is True and by_drug["venlafaxine"].counts_as_failed is True
    )
    assert (f.history.adequate_failed_trials, f.history.possible_failed_trials) == (1, 2)


def test_an_intended_antidepressant_is_not_a_trial_and_one_on_hold_is_not_ongoing() -> None:
    p = patient()
    p.medication("sertraline", start="2024-09-15", end=None, mg=150, status="intended")
    p.medication("venlafaxine", start="2024-09-15", end=None, mg=150, status="on-hold")
    trials = {t.drug: t for t in facts(p).trials}
    assert "sertraline" not in trials
    assert trials["venlafaxine"].ongoing is False and trials["venlafaxine"].counts_as_failed is None


def test_an_ongoing_trial_fails_only_with_evidence_of_non_response() -> None:
    """Issue 13 item 7: an active MDD code is no evidence; a recent PHQ-9 at or above the threshold,
    taken after the trial had run the minimum weeks, is; a low one means it is working."""

    def ongoing(score: float | None, day: str = "2025-05-25") -> TrialFact:
        p = patient()
        p.medication("venlafaxine", start="2024-12-01", end=None, mg=150)
        if score is not None:
            p.phq9(day, score)
        return next(t for t in facts(p).trials if t.drug == "venlafaxine")

    assert ongoing(None).counts_as_failed is None
    assert "PHQ-9" in (ongoing(None).missing or "")
    assert ongoing(15).counts_as_failed is True
    assert ongoing(9).counts_as_failed is False
    assert ongoing(15, day="2025-04-01").counts_as_failed is None  # not recent
    assert ongoing(15, day="2025-01-01").counts_as_failed is None  # before 6 weeks on it, and stale


def test_oral_selegiline_is_not_an_antidepressant_trial_transdermal_is() -> None:
    """Issue 13 item 9: oral selegiline (MAO-B, Parkinson's) is no antidepressant trial."""

    def trial_drugs(route_text: str | None) -> set[str]:
        p = patient()
        ref = p.medication(
            "selegiline",
            start="2024-10-01",
            end="2025-01-15",
            mg=6,
            stop_reason="ineffective",
            text_only=True,
        )
        if route_text:
            res = next(r for r in p.resources if f"{r['resourceType']}/{r['id']}" == ref)
            res["dosage"][0]["text"] = route_text
        return {t.drug for t in facts(p).trials}

    assert "selegiline" not in trial_drugs(None)
    assert "selegiline" not in trial_drugs("5 mg by mouth twice daily")
    assert "selegiline" in trial_drugs("Emsam 6 mg/24 hr transdermal patch daily")
