"""Step definitions for the clinical specifications in features/*.feature.

Patients are built as FHIR (cds.synthetic) so every scenario runs the whole pipeline."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from cds.contract.assessment import Assessment, EsketamineDosing, Finding, KetamineIvDosing, Trial
from cds.ingest.load import flatten
from cds.pipeline import Evaluation, evaluate
from cds.synthetic import INGREDIENTS, JAPANESE_RACE, PatientBuilder
from tests.bdd_failures import Mismatch, expect
from tests.terminology.steps import *  # noqa: F403  (steps of features/terminology.feature)

scenarios(
    "indication.feature",
    "safety.feature",
    "contraindications.feature",
    "precautions.feature",
    "interactions.feature",
    "hepatic.feature",
    "dosing.feature",
    "terminology.feature",
    "patient.feature",
    "observations.feature",
    "suicidal-ideation.feature",
    "episode.feature",
)


class World:
    def __init__(self) -> None:
        self.as_of = date(2025, 6, 2)
        self.age = 45
        self.gender = "female"
        self.steps: list[Any] = []
        self.safety: tuple[tuple[float, float], float] | None = None
        self.bp_day: str | None = None
        self.result: Assessment | None = None
        self.evaluation: Evaluation | None = None
        self.pregnancy_test = True
        self.weight_day: str | None = None
        self.phq9_day: str | None = None
        self.birth_text: str | None = None  # a partial FHIR birthDate ("2007", "1960-05")
        self.died: str | None = None

    def build(self) -> PatientBuilder:
        birth: date | str = self.birth_text or (
            self.as_of.replace(year=self.as_of.year - self.age) - timedelta(days=30)
        )
        p = PatientBuilder(birth_date=birth, gender=self.gender, pid="scenario")
        for step in self.steps:
            step(p)
        if self.safety:
            (sys_, dia), kg = self.safety
            day = self.as_of - timedelta(days=5)
            p.blood_pressure(self.bp_day or day, sys_, dia)
            p.weight(self.weight_day or day, kg)
            p.phq9(self.phq9_day or day, 19)
            if self.gender == "female" and self.pregnancy_test:
                p.pregnancy_test(day, positive=False)
        return p


@pytest.fixture
def world() -> World:
    return World()


@given(parsers.parse("the evaluation date is {day}"))
def _as_of(world: World, day: str) -> None:
    world.as_of = date.fromisoformat(day)


@given(
    parsers.parse(
        "recent safety data: blood pressure {sys:d}/{dia:d}, weight {kg:d} kg, negative pregnancy test"
    )
)
def _safety(world: World, sys: int, dia: int, kg: int) -> None:
    world.safety = ((sys, dia), kg)


@given(
    parsers.re(
        r"a (?P<age>\d+)-year-old (?P<who>woman|man|patient of unknown sex) with recurrent MDD since (?P<onset>[\d-]+)"
    )
)
def _mdd(world: World, age: str, who: str, onset: str) -> None:
    world.age, world.gender = int(age), {"woman": "female", "man": "male"}.get(who, "unknown")
    world.steps.append(lambda p: p.condition("F33.1", onset=onset))


@given(
    parsers.parse(
        "a {age:d}-year-old woman with MDD from {first} in remission from {remit} and recurrent MDD since {onset}"
    )
)
def _two_episodes(world: World, age: int, first: str, remit: str, onset: str) -> None:
    world.age = age
    world.steps.append(lambda p: p.condition("F32.1", onset=first, status="resolved", abatement=remit))
    world.steps.append(lambda p: p.condition("F33.41", onset=remit, status="inactive"))
    world.steps.append(lambda p: p.condition("F33.1", onset=onset))


@given(
    parsers.parse("a {age:d}-year-old woman with MDD from {first} in remission from {remit} and no relapse")
)
def _remitted(world: World, age: int, first: str, remit: str) -> None:
    world.age = age
    world.steps.append(lambda p: p.condition("F32.1", onset=first, status="resolved", abatement=remit))
    world.steps.append(lambda p: p.condition("F32.5", onset=remit, status="active"))


@given("no recorded ancestry")
def _no_ancestry(world: World) -> None:
    """The default: no race/ethnicity extension."""


@given("the patient is of Japanese ancestry")
def _japanese(world: World) -> None:
    def add(p: PatientBuilder) -> None:
        p.race_extension = JAPANESE_RACE

    world.steps.append(add)


@given(
    parsers.re(
        r"(?P<drug>[a-z]+) (?P<mg>[\d.]+) mg daily from (?P<start>[\d-]+) to (?P<end>[\d-]+) stopped for (?P<why>.+)"
    )
)
def _stopped(world: World, drug: str, mg: str, start: str, end: str, why: str) -> None:
    # A drug with no RxNorm code here (EU-only antidepressants) is recorded by name only.
    world.steps.append(
        lambda p: p.medication(
            drug, start=start, end=end, mg=float(mg), stop_reason=why, text_only=drug not in INGREDIENTS
        )
    )


@given(
    parsers.re(
        r"(?P<drug>[a-z]+) daily from (?P<start>[\d-]+) to (?P<end>[\d-]+) stopped for (?P<why>[a-z ]+), dose not recorded"
    )
)
def _no_dose(world: World, drug: str, start: str, end: str, why: str) -> None:
    world.steps.append(lambda p: p.medication(drug, start=start, end=end, mg=None, stop_reason=why))


@given(parsers.re(r"(?P<drug>[a-z]+) (?P<mg>[\d.]+) mg daily from (?P<start>[\d-]+), ongoing"))
def _ongoing(world: World, drug: str, mg: str, start: str) -> None:
    world.steps.append(
        lambda p: p.medication(drug, start=start, end=None, mg=float(mg), text_only=drug not in INGREDIENTS)
    )


def _ndc_only(ndc: str, start: str, end: str | None) -> Any:
    """A MedicationStatement coded only by an NDC, with no display and no text (how some pharmacy
    feeds send it)."""

    def add(p: PatientBuilder) -> None:
        period = {"start": start, **({"end": end} if end else {})}
        p.resources.append(
            {
                "resourceType": "MedicationStatement",
                "id": f"scenario-ndc-{ndc}-{start}",
                "status": "active" if end is None else "completed",
                "medicationCodeableConcept": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": ndc}]
                },
                "subject": p.ref,
                "effectivePeriod": period,
            }
        )

    return add


@given(parsers.re(r"a medication coded only as NDC (?P<ndc>[\d-]+) from (?P<start>[\d-]+), ongoing"))
def _ndc_ongoing(world: World, ndc: str, start: str) -> None:
    world.steps.append(_ndc_only(ndc, start, None))


@given(
    parsers.re(r"a medication coded only as NDC (?P<ndc>[\d-]+) from (?P<start>[\d-]+) to (?P<end>[\d-]+)")
)
def _ndc_stopped(world: World, ndc: str, start: str, end: str) -> None:
    world.steps.append(_ndc_only(ndc, start, end))


@given("a bipolar disorder diagnosis")
def _bipolar(world: World) -> None:
    world.steps.append(lambda p: p.condition("F31.32", onset="2015-01-01"))


@given(parsers.parse("suicidal ideation recorded on {day}"))
def _si(world: World, day: str) -> None:
    world.steps.append(lambda p: p.condition("R45.851", onset=day))


@given(parsers.re(r"a (?:(?P<status>active|resolved) )?condition (?P<code>[A-Z0-9.]+) since (?P<day>[\d-]+)"))
def _condition(world: World, status: str | None, code: str, day: str) -> None:
    if status == "resolved":
        abated = (date.fromisoformat(day) + timedelta(days=60)).isoformat()
        world.steps.append(lambda p: p.condition(code, onset=day, status="resolved", abatement=abated))
    else:
        world.steps.append(lambda p: p.condition(code, onset=day))


@given(parsers.parse("C-SSRS {item} answered yes on {day}"))
def _cssrs(world: World, item: str, day: str) -> None:
    code = {
        "item 1 (wish to be dead)": "93246-7",
        "item 2 (thoughts of killing self)": "93247-5",
        "item 3 (method)": "93248-3",
        "item 4 (intent)": "93249-1",
        "item 5 (plan)": "93250-9",
        "item 6 (behaviour, lifetime)": "93267-3",
        "item 6 (behaviour, past 3 months)": "93269-9",
    }[item]
    world.steps.append(lambda p: p.observation(code, day, answer=("http://loinc.org", "LA33-6"), vital=False))


@given(parsers.parse("a PHQ-9 of {score:d} on {day}"))
def _phq9(world: World, score: int, day: str) -> None:
    world.phq9_day = "2024-01-01"  # the default safety PHQ-9 is older than this one
    world.steps.append(lambda p: p.phq9(day, score))


@given(parsers.parse('a condition {code} recorded as "{display}" since {day}'))
def _condition_display(world: World, code: str, display: str, day: str) -> None:
    world.steps.append(lambda p: p.condition(code, display=display, onset=day))


@then(parsers.parse('the {concept} summary says "{text}" within 140 characters'))
def _summary(world: World, concept: str, text: str) -> None:
    f = next(f for f in _a(world).findings if f.concept == concept)
    assert text in f.summary and len(f.summary) < 140, f.summary


@given("no complications")
def _no_complications(world: World) -> None:
    """Nothing to add: no ascites, no encephalopathy."""


@given(parsers.parse("liver labs on {day}: bilirubin {bili:g} mg/dL, albumin {alb:g} g/dL, INR {inr:g}"))
def _labs(world: World, day: str, bili: float, alb: float, inr: float) -> None:
    def add(p: PatientBuilder) -> None:
        p.observation("1975-2", day, value=bili, unit="mg/dL", vital=False)
        p.observation("1751-7", day, value=alb, unit="g/dL", vital=False)
        p.observation("6301-6", day, value=inr, unit="{INR}", vital=False)

    world.steps.append(add)


@given(parsers.parse("an allergy to {substance}"))
def _allergy(world: World, substance: str) -> None:
    code = {"ketamine": "6130", "penicillin": "7980"}[substance]
    world.steps.append(lambda p: p.allergy(code, substance))


@given("no pregnancy test is recorded")
def _no_pregnancy_test(world: World) -> None:
    world.pregnancy_test = False


@given(parsers.parse("the PHQ-9 was last recorded on {day}"))
def _old_phq9(world: World, day: str) -> None:
    world.phq9_day = day


@given(parsers.parse("the weight was last measured on {day}"))
def _old_weight(world: World, day: str) -> None:
    world.weight_day = day


@given(parsers.parse("a positive pregnancy test on {day}"))
def _pregnant(world: World, day: str) -> None:
    world.steps.append(lambda p: p.pregnancy_test(day, positive=True))


@given(parsers.parse("the blood pressure was last measured on {day}"))
def _old_bp(world: World, day: str) -> None:
    world.bp_day = day


@given(parsers.parse("a blood pressure of {sys:d}/{dia:d} on {day}"))
def _bp(world: World, sys: int, dia: int, day: str) -> None:
    world.steps.append(lambda p: p.blood_pressure(day, sys, dia))


@given(parsers.parse("the patient is {age:d} years old"))
def _age(world: World, age: int) -> None:
    world.age = age


@given(parsers.parse("a weight of {kg:d} kg and height of {cm:d} cm on {day}"))
def _weight(world: World, kg: int, cm: int, day: str) -> None:
    world.steps.append(lambda p: (p.weight(day, kg), p.height(day, cm)))


@given(parsers.parse('a weight of {value:g} "{unit}" on {day}'))
def _weight_unit(world: World, value: float, unit: str, day: str) -> None:
    # The unit as the EHR sent it: UCUM code when it is one, else only the unit text.
    world.weight_day = "2025-01-01"  # the default safety weight is older than this one

    def add(p: PatientBuilder) -> None:
        ref = p.observation("29463-7", day, value=value, unit=unit)
        obs = next(r for r in p.resources if f"Observation/{r['id']}" == ref)
        obs["valueQuantity"] = {"value": value, "unit": unit}

    world.steps.append(add)


@given(parsers.parse('a serum hCG of {value:g} "{unit}" on {day}'))
def _hcg(world: World, value: float, unit: str, day: str) -> None:
    world.pregnancy_test = False
    world.steps.append(lambda p: p.observation("21198-7", day, value=value, unit=unit, vital=False))


@given(parsers.parse("the birth date is recorded only as {value}"))
def _partial_birth(world: World, value: str) -> None:
    world.birth_text = value


@given(parsers.parse("the patient died on {day}"))
def _died(world: World, day: str) -> None:
    world.died = day


@when("eligibility is assessed")
def _assess(world: World) -> None:
    _run(world, "us-fda")


@when(parsers.parse("eligibility is assessed under the {profile} profile"))
def _assess_profile(world: World, profile: str) -> None:
    _run(world, profile)


def _run(world: World, profile: str) -> None:
    resources = [r.data for r in flatten(world.build().bundle())]
    if world.died:
        for r in resources:
            if r["resourceType"] == "Patient":
                r["deceasedDateTime"] = world.died
    world.evaluation = evaluate(resources, as_of=world.as_of, profile=profile)  # type: ignore[arg-type]
    world.result = world.evaluation.assessment


def fired_rules(a: Assessment) -> set[str]:
    return {f.rule for f in a.findings} | {r.rule for r in a.indication.rules}


def _a(world: World) -> Assessment:
    assert world.result is not None, "no assessment: the scenario needs a When step"
    return world.result


def _trial(world: World, drug: str) -> Trial:
    trials = _a(world).indication.trials
    found = next((t for t in trials if t.drug == drug), None)
    if found is None:
        raise Mismatch(f"a {drug} trial", drug, f"trials of {[t.drug for t in trials]}")
    return found


def _finding(world: World, concept: str, category: str | None = None) -> Finding:
    findings = _a(world).findings
    found = next((f for f in findings if f.concept == concept and category in (None, f.category)), None)
    if found is None:
        raise Mismatch(
            f"a {category or ''} finding {concept}".replace("  ", " "),
            concept,
            f"findings: {sorted({f.concept for f in findings})}",
        )
    return found


@then(parsers.parse("the indication is {status}"))
def _status(world: World, status: str) -> None:
    ind = _a(world).indication
    expect("indication", ind.status, status, "; ".join(ind.reasons))


@then(parsers.re(r"(?P<n>\d+) adequate failed trials? (is|are) counted"))
def _count(world: World, n: str) -> None:
    expect("adequate failed trials", _a(world).indication.adequate_failed_trials, int(n))


@then(parsers.parse("the pathway is {pathway}"))
def _pathway(world: World, pathway: str) -> None:
    expect("pathway", _a(world).indication.pathway, pathway)


@then(parsers.re(r"(?P<product>esketamine|ketamine-iv) is (?P<verdict>[a-z-]+)"))
def _verdict(world: World, product: str, verdict: str) -> None:
    p = _a(world).product(product)  # type: ignore[arg-type]
    expect(f"{product} verdict", p.verdict, verdict, "; ".join(p.reasons))


@then(parsers.parse("the {drug} trial has an inadequate dose"))
def _low_dose(world: World, drug: str) -> None:
    expect(f"{drug} trial adequate dose", _trial(world, drug).adequate_dose, False)


@then(parsers.parse("the {drug} trial is not in the current episode"))
def _not_in_episode(world: World, drug: str) -> None:
    expect(f"{drug} trial in the current episode", _trial(world, drug).in_current_episode, False)


@then(parsers.parse("{drug} is shown as augmentation"))
def _augmentation(world: World, drug: str) -> None:
    shown = sorted(a.name for a in _a(world).indication.adjuncts if a.kind == "augmentation")
    expect("augmentation shown", drug in shown, True, f"augmentation: {shown}")


@then(parsers.parse('what to obtain mentions "{a}" and "{b}"'))
def _missing(world: World, a: str, b: str) -> None:
    text = " ".join(_a(world).indication.missing)
    if a not in text or b not in text:
        raise Mismatch("what to obtain", f"a text mentioning {a!r} and {b!r}", repr(text))


@then(parsers.parse("the esketamine start dose is {mg:d} mg"))
def _start(world: World, mg: int) -> None:
    dosing = _a(world).product("esketamine").dosing
    expect(
        "esketamine start dose (mg)",
        dosing.start_dose_mg if isinstance(dosing, EsketamineDosing) else None,
        mg,
    )


@then(parsers.parse("the IV ketamine dose is {mg:d} mg"))
def _iv(world: World, mg: int) -> None:
    dosing = _a(world).product("ketamine-iv").dosing
    expect("IV ketamine dose (mg)", dosing.dose_mg if isinstance(dosing, KetamineIvDosing) else None, mg)


@then(parsers.parse('the IV ketamine notes mention "{text}"'))
def _iv_note(world: World, text: str) -> None:
    dosing = _a(world).product("ketamine-iv").dosing
    notes = dosing.notes if isinstance(dosing, KetamineIvDosing) else []
    expect(f"IV ketamine notes mention {text!r}", any(text in n for n in notes), True, f"notes: {notes}")


@then(parsers.parse("a contraindication finding {concept} cites the Condition"))
def _finding_evidence(world: World, concept: str) -> None:
    f = _finding(world, concept)
    expect(f"{concept} category and severity", (f.category, f.severity), ("contraindication", "absolute"))
    expect(
        f"{concept} evidence cites Conditions only",
        bool(f.evidence) and all(e.startswith("Condition/") for e in f.evidence),
        True,
        f"evidence: {f.evidence}",
    )


@then(parsers.parse("there is no finding {concept}"))
def _no_finding(world: World, concept: str) -> None:
    expect(
        f"findings with concept {concept}", [f.rule for f in _a(world).findings if f.concept == concept], []
    )


@then(parsers.parse('a data gap {concept} says to obtain "{text}"'))
def _gap(world: World, concept: str, text: str) -> None:
    f = _finding(world, concept, "data-gap")
    expect(
        f"{concept} data gap: what to obtain mentions {text!r}",
        bool(f.obtain and text in f.obtain),
        True,
        f"obtain: {f.obtain!r}",
    )


@then(parsers.parse('the finding {concept} says "{text}"'))
def _finding_text(world: World, concept: str, text: str) -> None:
    f = next(f for f in _a(world).findings if f.concept == concept)
    assert text in f.summary + " " + f.detail, (f.summary, f.detail)


@then(parsers.re(r"rule (?P<rule>[a-z0-9.\-]+) (?P<fires>fires|does not fire)"))
def _rule_fires(world: World, rule: str, fires: str) -> None:
    fired = fired_rules(_a(world))
    expect(
        f"rule {rule}",
        "fires" if rule in fired else "does not fire",
        fires,
        f"fired: {', '.join(sorted(fired))}",
    )


@then(parsers.parse("the Child-Pugh class is {cls}"))
def _child_pugh(world: World, cls: str) -> None:
    assert world.evaluation is not None
    hepatic = world.evaluation.facts.hepatic
    expect("Child-Pugh class", hepatic.child_pugh_class, cls, hepatic)


@then("the IV ketamine dosing is null")
def _iv_null(world: World) -> None:
    expect("IV ketamine dosing", _a(world).product("ketamine-iv").dosing, None)
