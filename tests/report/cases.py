"""Report inputs built directly as `Assessment` and `Timeline` objects.

Until the pipeline can produce them from FHIR, these stand in for its output. Each case is
what a clinician would meet: a TRD-eligible patient, a contraindicated one, one with data
gaps, a long synthetic history (layout under load) and a hostile one (escaping).
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from cds.contract.assessment import (
    AdjunctTreatment,
    Assessment,
    Citation,
    EsketamineDosing,
    Finding,
    Indication,
    KetamineIvDosing,
    PatientSummary,
    Product,
    RulesetInfo,
    ScheduleStep,
    Trial,
)
from cds.contract.timeline import BloodPressurePoint, EpisodeSpan, ScorePoint, Timeline, Window

AS_OF = date(2025, 6, 2)  # a Monday
LABEL = Citation(label="SPRAVATO prescribing information", url="https://www.example.org/spravato-pi")

ESKETAMINE_DOSING = EsketamineDosing(
    start_dose_mg=56,
    schedule=[
        ScheduleStep(phase="induction", weeks="1-4", frequency="twice weekly", dose_mg=[56, 84]),
        ScheduleStep(phase="maintenance", weeks="5-8", frequency="weekly", dose_mg=[56, 84]),
        ScheduleStep(phase="maintenance", weeks="9+", frequency="every 2 weeks or weekly", dose_mg=[56, 84]),
    ],
)
KETAMINE_DOSING = KetamineIvDosing(
    dose_mg_per_kg=0.5,
    weight_kg=68,
    weight_basis="actual",
    dose_mg=34.0,
    infusion_minutes=40,
    schedule=[ScheduleStep(phase="induction", weeks="1-3", frequency="2-3 times weekly", count=6)],
)


def trial(
    drug: str,
    dose: float | None,
    start: date | None,
    end: date | None,
    outcome: str = "failed",
    *,
    adequate_dose: bool | None = True,
    adequate_duration: bool | None = True,
    current: bool | None = True,
    minimum: float | None = None,
    note: str | None = None,
) -> Trial:
    weeks = round((end - start).days / 7, 1) if start and end and current else None
    return Trial.model_validate(
        {
            "drug": drug,
            "daily_dose_mg": dose,
            "weeks": weeks,
            "in_current_episode": current,
            "adequate_dose": adequate_dose,
            "adequate_duration": adequate_duration,
            "outcome": outcome,
            "evidence": [f"MedicationRequest/{drug}-{start}"],
            "start": start,
            "end": end,
            "minimum_daily_dose_mg": minimum,
            "counts_as_failed": outcome == "failed" and bool(adequate_dose) and bool(adequate_duration),
            "note": note,
        }
    )


def finding(concept: str, category: str, severity: str, summary: str, **extra: object) -> Finding:
    return Finding.model_validate(
        {
            "rule": f"{category}.{concept}",
            "rule_version": "1.0.0",
            "category": category,
            "severity": severity,
            "concept": concept,
            "applies_to": extra.pop("applies_to", ["esketamine", "ketamine-iv"]),
            "summary": summary,
            "detail": extra.pop("detail", summary + "."),
            "evidence": extra.pop("evidence", []),
            "citation": extra.pop("citation", LABEL),
            **extra,
        }
    )


def assessment(
    products: list[Product],
    findings: list[Finding],
    trials: list[Trial],
    *,
    status: str = "eligible",
    failed: int = 2,
    reasons: list[str] | None = None,
    missing: list[str] | None = None,
    patient_id: str = "Patient/trd-1",
) -> Assessment:
    return Assessment(
        patient=PatientSummary(id=patient_id, age=45, sex="female"),
        as_of=AS_OF,
        profile="us-fda",
        ruleset=RulesetInfo(version="2025.06.0"),
        indication=Indication.model_validate(
            {
                "status": status,
                "pathway": "trd" if status == "eligible" else None,
                "adequate_failed_trials": failed,
                "trials": [t for t in trials if t.in_current_episode],
                "reasons": reasons or ["Two adequate antidepressant trials failed in the current episode."],
                "episode_start": date(2024, 6, 1),
                "missing": missing or [],
            }
        ),
        products=products,
        findings=findings,
    )


def _bp(days_ago: int, sys: float, dia: float) -> BloodPressurePoint:
    d = AS_OF - timedelta(days=days_ago)
    return BloodPressurePoint(date=d, systolic=sys, diastolic=dia, ref=f"Observation/bp-{d}")


def _phq(days_ago: int, value: float) -> ScorePoint:
    d = AS_OF - timedelta(days=days_ago)
    return ScorePoint(date=d, value=value, ref=f"Observation/phq9-{d}")


def _windows() -> list[Window]:
    return [
        Window(name="blood-pressure look-back (30 days)", start=AS_OF - timedelta(days=30), end=AS_OF),
        Window(name="treatment-history look-back (2 years)", start=AS_OF - timedelta(days=730), end=AS_OF),
    ]


def _episodes() -> list[EpisodeSpan]:
    return [
        EpisodeSpan(
            start=date(2019, 3, 1), end=date(2020, 2, 1), current=False, evidence=["Condition/mdd-2019"]
        ),
        EpisodeSpan(start=date(2024, 6, 1), end=None, current=True, evidence=["Condition/mdd-2024"]),
    ]


# The TRD case: two adequate failed trials and one too short and too low to count.
TRD_TRIALS = [
    trial("escitalopram", 20, date(2019, 4, 1), date(2019, 12, 1), "remission", current=False, minimum=10),
    trial("sertraline", 150, date(2024, 6, 15), date(2024, 9, 20), minimum=50),
    trial("venlafaxine", 225, date(2024, 9, 25), date(2025, 1, 10), minimum=75),
    trial(
        "mirtazapine", 15, date(2025, 1, 15), date(2025, 2, 20), adequate_dose=False, adequate_duration=False,
        minimum=30, note="Stopped after 5 weeks at 15 mg: below the minimum adequate dose.",
    ),
]  # fmt: skip


def trd_eligible() -> tuple[Assessment, Timeline]:
    products = [
        Product(product="esketamine", verdict="appropriate", dosing=ESKETAMINE_DOSING),
        Product(product="ketamine-iv", verdict="appropriate", dosing=KETAMINE_DOSING),
    ]
    findings = [
        finding(
            "post-dose-monitoring", "monitoring", "info",
            "Monitor for at least 2 hours after each esketamine session", applies_to=["esketamine"],
        ),
        finding(
            "cns-depressant", "interaction", "relative", "Lorazepam may increase sedation",
            evidence=["MedicationRequest/lorazepam-1"],
        ),
    ]  # fmt: skip
    a = assessment(products, findings, TRD_TRIALS)
    tl = Timeline(
        as_of=AS_OF,
        episodes=_episodes(),
        trials=TRD_TRIALS,
        adjuncts=[
            AdjunctTreatment(
                kind="augmentation",
                name="aripiprazole 5 mg",
                start=date(2025, 2, 25),
                end=None,
                evidence=["MedicationRequest/aripiprazole-1"],
            )
        ],
        blood_pressure=[_bp(300, 128, 82), _bp(200, 134, 86), _bp(90, 131, 84), _bp(12, 126, 80)],
        phq9=[_phq(360, 21), _phq(250, 19), _phq(130, 18), _phq(20, 17)],
        weight_kg=[ScorePoint(date=AS_OF - timedelta(days=12), value=68, ref="Observation/weight-1")],
        windows=_windows(),
    )
    return a, tl


def contraindicated() -> tuple[Assessment, Timeline]:
    products = [
        # Dosing can be computed, but a contraindicated product must get no calendar.
        Product(product="esketamine", verdict="contraindicated", dosing=ESKETAMINE_DOSING),
        Product(product="ketamine-iv", verdict="contraindicated", dosing=KETAMINE_DOSING),
    ]
    findings = [
        finding(
            "aneurysmal-vascular-disease", "contraindication", "absolute",
            "Aneurysmal vascular disease: esketamine and ketamine are contraindicated",
            detail="Abdominal aortic aneurysm recorded (active). Blood pressure rises after dosing.",
            evidence=["Condition/aaa-1"],
        ),
    ]  # fmt: skip
    a = assessment(products, findings, TRD_TRIALS, patient_id="Patient/aaa-2")
    _, tl = trd_eligible()
    ect = AdjunctTreatment(
        kind="ect",
        name="ECT, 8 sessions",
        start=date(2019, 10, 1),
        end=date(2019, 11, 5),
        evidence=["Procedure/ect-1"],
    )
    return a, tl.model_copy(update={"adjuncts": [*tl.adjuncts, ect]})


BP_GAP = "Measure blood pressure (seated, after 5 minutes' rest) and record it before the first session."
WEIGHT_GAP = "Weigh the patient: the IV ketamine dose is 0.5 mg/kg of a weight no older than 30 days."


def data_gaps() -> tuple[Assessment, Timeline]:
    products = [
        Product(product="esketamine", verdict="insufficient-data", dosing=ESKETAMINE_DOSING),
        Product(product="ketamine-iv", verdict="insufficient-data", dosing=None),
    ]
    findings = [
        finding(
            "blood-pressure", "data-gap", "info", "No blood pressure recorded in the last 30 days",
            obtain=BP_GAP, blocks=True,
        ),
        finding(
            "weight", "data-gap", "info", "No body weight recorded in the last 30 days",
            obtain=WEIGHT_GAP, blocks=True, applies_to=["ketamine-iv"],
        ),
    ]  # fmt: skip
    a = assessment(products, findings, TRD_TRIALS, patient_id="Patient/gap-3")
    _, tl = trd_eligible()
    # Readings exist, but none in the 30-day look-back window.
    return a, tl.model_copy(update={"blood_pressure": [_bp(200, 134, 86), _bp(90, 131, 84)], "weight_kg": []})


DRUGS = (
    "sertraline", "fluoxetine", "paroxetine", "citalopram", "escitalopram", "venlafaxine", "duloxetine",
    "desvenlafaxine", "mirtazapine", "bupropion", "vortioxetine", "nortriptyline", "amitriptyline",
    "clomipramine", "phenelzine", "tranylcypromine", "trazodone", "agomelatine",
)  # fmt: skip
OUTCOME_CYCLE = ("failed", "failed", "intolerance", "remission", "unknown", "failed", "ongoing")


def synthetic_history(n: int = 40, years: int = 10, seed: int = 7) -> tuple[Assessment, Timeline]:
    """n trials scattered over the years, many overlapping (cross-tapers, combinations)."""
    rng = random.Random(seed)
    first = AS_OF - timedelta(days=365 * years)
    trials: list[Trial] = []
    for i in range(n):
        start = first + timedelta(days=rng.randrange(0, 365 * years - 30))
        end = min(start + timedelta(days=rng.randrange(5, 300)), AS_OF)
        outcome = OUTCOME_CYCLE[i % len(OUTCOME_CYCLE)]
        dose = rng.choice((10, 20, 50, 75, 150, 225, 300))
        trials.append(
            trial(
                DRUGS[i % len(DRUGS)], dose, start, None if outcome == "ongoing" else end, outcome,
                adequate_dose=rng.choice((True, True, False, None)),
                adequate_duration=(end - start).days >= 42, current=start >= date(2024, 6, 1),
            )
        )  # fmt: skip
    a, tl = trd_eligible()
    return a, tl.model_copy(
        update={
            "trials": trials,
            "episodes": [
                EpisodeSpan(start=first, end=date(2018, 1, 1), current=False, evidence=["Condition/mdd-a"]),
                EpisodeSpan(
                    start=date(2019, 1, 1), end=date(2023, 1, 1), current=False, evidence=["Condition/mdd-b"]
                ),
                EpisodeSpan(start=date(2024, 6, 1), end=None, current=True, evidence=["Condition/mdd-c"]),
            ],
            "phq9": [_phq(d, rng.randrange(5, 27)) for d in range(0, 365 * years, 60)],
            "blood_pressure": [
                _bp(d, rng.randrange(110, 165), rng.randrange(65, 100)) for d in range(3, 3650, 45)
            ],
        }
    )


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def hostile() -> tuple[Assessment, Timeline]:
    """Every free-text field carries markup that must come out as text."""
    bad_trial = trial(f"sertraline{XSS}", 150, date(2024, 7, 1), date(2024, 10, 1), note=XSS)
    products = [
        Product(
            product="esketamine", verdict="appropriate", reasons=[XSS],
            dosing=EsketamineDosing(
                start_dose_mg=56, regimen=XSS, notes=[XSS],
                schedule=[ScheduleStep(phase=XSS, weeks="1-4", frequency="twice weekly", dose_mg=[56])],
            ),
        ),
        Product(product="ketamine-iv", verdict="insufficient-data", dosing=None, reasons=[XSS]),
    ]  # fmt: skip
    findings = [
        finding(
            "hypertension", "precaution", "relative", XSS, detail=XSS, evidence=[f"Condition/{XSS}"],
            citation=Citation(label=XSS, url="javascript:alert(1)"),
        ),
        finding("weight", "data-gap", "info", XSS, obtain=XSS, applies_to=["ketamine-iv"]),
    ]  # fmt: skip
    a = assessment(products, findings, [bad_trial], reasons=[XSS], missing=[XSS], patient_id=f"Patient/{XSS}")
    _, tl = trd_eligible()
    return a, tl.model_copy(
        update={
            "trials": [bad_trial],
            "adjuncts": [AdjunctTreatment(kind="ect", name=XSS, start=date(2024, 8, 1), evidence=[XSS])],
            "windows": [Window(name=XSS, start=AS_OF - timedelta(days=30), end=AS_OF)],
            "blood_pressure": [BloodPressurePoint(date=AS_OF, systolic=120, diastolic=80, ref=XSS)],
        }
    )


CASES = {"trd": trd_eligible, "contraindicated": contraindicated, "gaps": data_gaps}
