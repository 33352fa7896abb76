"""A seeded synthetic test population, written as FHIR Bulk Data NDJSON (one file per resource type).

Built on `cds.synthetic.PatientBuilder`, so every record goes through the whole pipeline. Each patient
belongs to one archetype of `MIX`: clear TRD, records near each threshold (trial length and dose,
age, blood pressure), contraindicated, incomplete charts, not eligible, and cases where the two
profiles differ. Counts per archetype are fixed shares of N (largest remainder), order and details
drawn from `random.Random(seed)`: the same seed, N and evaluation date give the same bytes.

The archetype is written on the Patient (`meta.tag`, system `ARCHETYPE_SYSTEM`) and states the
indication expected under the default knowledge, which the tests check patient by patient.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Final

import orjson
import typer
import yaml

from cds import yamlio
from cds.contract.assessment import IndicationStatus, Verdict
from cds.synthetic import JAPANESE_RACE, PatientBuilder

ARCHETYPE_SYSTEM: Final = "urn:ketamine-cds:synthetic-archetype"
DEFAULT_AS_OF: Final = date(2025, 6, 2)
MANIFEST: Final = "manifest.yaml"  # not .json: `cds screen` reads every .json in a folder as a bundle

# (drug, minimum adequate mg/day in rules/antidepressant-doses.yaml, usual adequate doses)
_DRUGS: Final[tuple[tuple[str, float, tuple[float, ...]], ...]] = (
    ("sertraline", 50, (100, 150, 200)),
    ("fluoxetine", 20, (20, 40)),
    ("escitalopram", 10, (10, 20)),
    ("citalopram", 20, (20, 40)),
    ("venlafaxine", 75, (150, 225)),
    ("duloxetine", 60, (60, 120)),
    ("bupropion", 300, (300, 450)),
    ("mirtazapine", 15, (30, 45)),
)


@dataclass(frozen=True)
class Archetype:
    name: str
    percent: int  # share of the population
    indication: IndicationStatus  # expected under the default knowledge
    esketamine_us: Verdict | None  # expected esketamine verdict (us-fda), None: not fixed by design
    description: str
    build: Callable[[random.Random, date, str], PatientBuilder]


# --- building blocks ----------------------------------------------------------------------------


def _birth(rng: random.Random, as_of: date, age: int) -> date:
    """A birth date giving exactly `age` whole years on `as_of`, 1 to 360 days past the birthday."""
    birthday = as_of.replace(year=as_of.year - age) if not (as_of.month == 2 and as_of.day == 29) else as_of
    return birthday - timedelta(days=rng.randint(1, 360))


def _patient(
    rng: random.Random, as_of: date, pid: str, *, age: int | None = None, gender: str | None = None
) -> PatientBuilder:
    age = age if age is not None else rng.randint(19, 63)
    gender = gender or rng.choice(("female", "female", "female", "male", "male"))
    p = PatientBuilder(birth_date=_birth(rng, as_of, age), gender=gender, pid=pid)
    onset = as_of - timedelta(days=rng.randint(240, 420))
    p.condition("F33.1", display="Major depressive disorder, recurrent, moderate", onset=onset)
    return p


def _onset(p: PatientBuilder) -> date:
    return date.fromisoformat(str(p.resources[0]["onsetDateTime"]))


def _two_drugs(rng: random.Random) -> tuple[tuple[str, float, tuple[float, ...]], ...]:
    return tuple(rng.sample(_DRUGS, 2))


def _trials(
    rng: random.Random,
    p: PatientBuilder,
    as_of: date,
    *,
    second_days: int | None = None,
    second_mg: float | None = None,
    second_dose_recorded: bool = True,
    count: int = 2,
) -> None:
    """`count` failed trials in the episode: the first 9-16 weeks, the second `second_days` long
    (default 8-16 weeks) at `second_mg` (default a usual adequate dose), ending before `as_of`."""
    first, second = _two_drugs(rng)
    start = _onset(p) + timedelta(days=rng.randint(7, 21))
    end = start + timedelta(days=rng.randint(63, 112))
    p.medication(first[0], start=start, end=end, mg=rng.choice(first[2]), stop_reason="lack of efficacy")
    if count < 2:
        return
    days = second_days if second_days is not None else rng.randint(56, 112)
    end2 = as_of - timedelta(days=rng.randint(3, 14))
    start2 = end2 - timedelta(days=days)
    mg = second_mg if second_mg is not None else rng.choice(second[2])
    drug = second[0] if second_mg is None else "sertraline" if first[0] != "sertraline" else "venlafaxine"
    if second_mg is not None:
        # `second_mg` is given on sertraline's scale; the same share of this drug's minimum
        # effective dose in rules/antidepressant-doses.yaml (read, so the mix follows the table).
        mg = second_mg / _minimum("sertraline") * _minimum(drug)
    p.medication(
        drug, start=start2, end=end2, mg=mg if second_dose_recorded else None, stop_reason="lack of efficacy"
    )


def _minimum(drug: str) -> float:
    from cds.paths import rules_dir
    from cds.settings import load_dose_table

    value = load_dose_table(rules_dir()).doses[drug].min_mg_per_day
    assert value is not None, f"no minimum dose for {drug} in rules/antidepressant-doses.yaml"
    return value


def _safety(
    rng: random.Random,
    p: PatientBuilder,
    as_of: date,
    *,
    bp: tuple[float, float] | None = None,
    bp_recorded: bool = True,
    weight: bool = True,
    pregnancy_test: bool = True,
    bp_days_ago: int | None = None,
) -> None:
    day = as_of - timedelta(days=rng.randint(1, 20))
    if bp_recorded:
        systolic, diastolic = bp or (rng.randint(108, 134), rng.randint(66, 86))
        p.blood_pressure(as_of - timedelta(days=bp_days_ago) if bp_days_ago else day, systolic, diastolic)
    height = rng.randint(152, 190)
    if weight:  # BMI 19-29: under the respiratory-risk threshold
        p.weight(day, round(rng.uniform(19, 29) * (height / 100) ** 2, 1))
    p.height(day, height)
    p.phq9(day, rng.randint(15, 25))
    if pregnancy_test and p.gender == "female" and _age(p, as_of) <= 55:
        p.pregnancy_test(day, positive=False)


def _age(p: PatientBuilder, as_of: date) -> int:
    born = date.fromisoformat(str(p.birth_date))
    return as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))


def _eligible(rng: random.Random, as_of: date, pid: str, **patient: Any) -> PatientBuilder:
    p = _patient(rng, as_of, pid, **patient)
    _trials(rng, p, as_of)
    _safety(rng, p, as_of)
    return p


# --- archetypes -----------------------------------------------------------------------------------


def _clear_trd(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    return _eligible(rng, as_of, pid)


def _trial_4_to_6_weeks(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    p = _patient(rng, as_of, pid)
    _trials(rng, p, as_of, second_days=rng.randint(29, 41))  # over 4 weeks, under 6
    _safety(rng, p, as_of)
    return p


def _trial_6_weeks(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    p = _patient(rng, as_of, pid)
    _trials(rng, p, as_of, second_days=rng.randint(42, 45))  # at or just over 6 weeks
    _safety(rng, p, as_of)
    return p


def _dose_at_minimum(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    p = _patient(rng, as_of, pid)
    _trials(rng, p, as_of, second_mg=50)  # sertraline 50 mg (or the other drug's minimum)
    _safety(rng, p, as_of)
    return p


def _dose_below_minimum(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    p = _patient(rng, as_of, pid)
    _trials(rng, p, as_of, second_mg=25)  # half the minimum
    _safety(rng, p, as_of)
    return p


def _age_17(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    return _eligible(rng, as_of, pid, age=17)


def _age_18(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    return _eligible(rng, as_of, pid, age=18)


def _age_64_to_66(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    return _eligible(rng, as_of, pid, age=rng.choice((64, 65, 66)))


# Readings at, just under and just over 140/90 (US; EU under 65).
_BP_NEAR: Final = ((140, 90), (141, 84), (139, 91), (138, 89), (140, 88), (136, 90))


def _bp_near_140_90(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    p = _patient(rng, as_of, pid)
    _trials(rng, p, as_of)
    _safety(rng, p, as_of, bp=rng.choice(_BP_NEAR))
    return p


# 65 and over: above 140 (US precaution), at or under 150/90 (no EU precaution), and just over 150.
_BP_OLDER: Final = ((145, 85), (150, 90), (148, 88), (151, 86), (142, 91))


def _older_bp_140_150(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    p = _patient(rng, as_of, pid, age=rng.randint(65, 78))
    _trials(rng, p, as_of)
    _safety(rng, p, as_of, bp=rng.choice(_BP_OLDER))
    return p


def _japanese(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    p = _eligible(rng, as_of, pid)
    p.race_extension = JAPANESE_RACE  # EU: 28 mg start dose
    return p


# Absolute contraindications (code, what it is), chosen at random; pregnancy for women only.
_CONTRAINDICATIONS: Final = ("I71.21", "Q28.2", "I61.0", "allergy", "pregnancy")


def _contraindicated(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    kind = rng.choice(_CONTRAINDICATIONS)
    p = _patient(rng, as_of, pid, age=rng.randint(19, 44), gender="female" if kind == "pregnancy" else None)
    _trials(rng, p, as_of)
    if kind == "pregnancy":
        _safety(rng, p, as_of, pregnancy_test=False)
        p.pregnancy_test(as_of - timedelta(days=rng.randint(1, 20)), positive=True)
    else:
        _safety(rng, p, as_of)
        if kind == "allergy":
            p.allergy("6130", "ketamine")
        elif kind == "I61.0":
            onset = as_of - timedelta(days=rng.randint(400, 3000))
            p.condition(kind, onset=onset, status="resolved", abatement=onset + timedelta(days=60))
        else:
            p.condition(kind, onset=as_of - timedelta(days=rng.randint(200, 3000)))
    return p


# What is missing from the safety chart: no BP, a BP older than the look-back, no weight, no
# pregnancy test (a woman of childbearing age).
_GAPS: Final = ("no-bp", "old-bp", "no-weight", "no-pregnancy-test")


def _incomplete_safety(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    gap = rng.choice(_GAPS)
    p = _patient(rng, as_of, pid, gender="female" if gap == "no-pregnancy-test" else None)
    p.birth_date = _birth(rng, as_of, rng.randint(19, 50)) if gap == "no-pregnancy-test" else p.birth_date
    _trials(rng, p, as_of)
    _safety(
        rng,
        p,
        as_of,
        bp_recorded=gap != "no-bp",
        bp_days_ago=rng.randint(35, 120) if gap == "old-bp" else None,
        weight=gap != "no-weight",
        pregnancy_test=gap != "no-pregnancy-test",
    )
    return p


def _dose_not_recorded(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    p = _patient(rng, as_of, pid)
    _trials(rng, p, as_of, second_dose_recorded=False)
    _safety(rng, p, as_of)
    return p


def _one_trial(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    p = _patient(rng, as_of, pid)
    _trials(rng, p, as_of, count=1)
    _safety(rng, p, as_of)
    return p


def _bipolar(rng: random.Random, as_of: date, pid: str) -> PatientBuilder:
    p = _eligible(rng, as_of, pid)
    p.condition("F31.32", onset=as_of - timedelta(days=rng.randint(1000, 4000)))
    return p


MIX: Final[tuple[Archetype, ...]] = (
    Archetype(
        "clear-trd",
        24,
        "eligible",
        "appropriate",
        "two failed adequate trials (8-16 weeks, usual doses), recent normal vitals",
        _clear_trd,
    ),
    Archetype(
        "trial-4-to-6-weeks",
        10,
        "not-eligible",
        "not-indicated",
        "second failed trial lasted 29-41 days: over 4 weeks, under 6",
        _trial_4_to_6_weeks,
    ),
    Archetype(
        "trial-6-weeks",
        4,
        "eligible",
        "appropriate",
        "second failed trial lasted 42-45 days: at or just over 6 weeks",
        _trial_6_weeks,
    ),
    Archetype(
        "dose-at-minimum",
        3,
        "eligible",
        "appropriate",
        "second trial at exactly the minimum adequate dose",
        _dose_at_minimum,
    ),
    Archetype(
        "dose-below-minimum",
        3,
        "not-eligible",
        "not-indicated",
        "second trial at half the minimum adequate dose",
        _dose_below_minimum,
    ),
    Archetype("age-17", 3, "not-eligible", None, "otherwise clear TRD, aged 17", _age_17),
    Archetype("age-18", 3, "eligible", "appropriate", "clear TRD, aged 18", _age_18),
    Archetype("age-64-to-66", 6, "eligible", None, "clear TRD, aged 64, 65 or 66", _age_64_to_66),
    Archetype(
        "bp-near-140-90",
        8,
        "eligible",
        None,
        "clear TRD, blood pressure at, just under or just over 140/90",
        _bp_near_140_90,
    ),
    Archetype(
        "older-bp-140-to-150",
        3,
        "eligible",
        None,
        "aged 65-78, blood pressure 142-151 systolic: the US and EU thresholds differ",
        _older_bp_140_150,
    ),
    Archetype(
        "japanese-ancestry",
        2,
        "eligible",
        "appropriate",
        "clear TRD, Japanese ancestry (EU start dose 28 mg)",
        _japanese,
    ),
    Archetype(
        "contraindicated",
        12,
        "eligible",
        "contraindicated",
        "clear TRD with an aneurysm, AVM, past intracerebral haemorrhage, ketamine allergy or pregnancy",
        _contraindicated,
    ),
    Archetype(
        "incomplete-safety-data",
        10,
        "eligible",
        None,
        "clear TRD missing a blood pressure, a recent one, a weight or a pregnancy test",
        _incomplete_safety,
    ),
    Archetype(
        "dose-not-recorded",
        4,
        "insufficient-data",
        "insufficient-data",
        "second failed trial without a recorded dose",
        _dose_not_recorded,
    ),
    Archetype("one-trial", 3, "not-eligible", "not-indicated", "only one failed trial", _one_trial),
    Archetype("bipolar", 2, "not-eligible", "not-indicated", "TRD history and bipolar disorder", _bipolar),
)
BY_NAME: Final = {a.name: a for a in MIX}


def counts(n: int) -> dict[str, int]:
    """Patients per archetype for a population of `n` (largest remainder, ties in MIX order)."""
    total = sum(a.percent for a in MIX)
    exact = [(a.name, n * a.percent / total) for a in MIX]
    out = {name: int(x) for name, x in exact}
    short = n - sum(out.values())
    for name, _ in sorted(exact, key=lambda e: -(e[1] - int(e[1])))[:short]:
        out[name] += 1
    return out


def generate(
    n: int, seed: int, as_of: date = DEFAULT_AS_OF
) -> Iterator[tuple[Archetype, list[dict[str, Any]]]]:
    """(archetype, resources) for each of `n` patients, ids p00001... in a seeded random order."""
    rng = random.Random(seed)
    order = [name for name, k in counts(n).items() for _ in range(k)]
    rng.shuffle(order)
    width = max(5, len(str(n)))
    for i, name in enumerate(order, 1):
        archetype = BY_NAME[name]
        builder = archetype.build(rng, as_of, f"p{i:0{width}d}")
        resources = [e["resource"] for e in builder.bundle()["entry"]]
        resources[0]["meta"] = {"tag": [{"system": ARCHETYPE_SYSTEM, "code": name}]}
        yield archetype, resources


def archetype_of(patient: dict[str, Any]) -> str | None:
    tags = patient.get("meta", {}).get("tag", [])
    return next((t.get("code") for t in tags if t.get("system") == ARCHETYPE_SYSTEM), None)


def write_ndjson(folder: Path, n: int, seed: int, as_of: date = DEFAULT_AS_OF) -> dict[str, int]:
    """Write the population as Bulk Data NDJSON (`<ResourceType>.ndjson`) and `manifest.yaml`
    (seed, size, evaluation date, archetype counts). Returns the archetype counts."""
    folder.mkdir(parents=True, exist_ok=True)
    # An earlier population's manifest goes first: a run that stops part-way must not leave its
    # files described by the old seed and counts.
    (folder / MANIFEST).unlink(missing_ok=True)
    # Written as generated, not gathered first: orjson 3.13's bytes each keep a 4 KB buffer, so
    # holding a population's lines took about 4 KB a resource (12 GB for 100k 30-resource patients).
    with contextlib.ExitStack() as files:
        out: dict[str, BinaryIO] = {}
        for _, resources in generate(n, seed, as_of):
            for r in resources:
                kind = r["resourceType"]
                if kind not in out:
                    out[kind] = files.enter_context((folder / f"{kind}.ndjson").open("wb"))
                out[kind].write(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n")
    mix = counts(n)
    manifest = {"seed": seed, "patients": n, "as_of": as_of.isoformat(), "archetypes": mix}
    (folder / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return mix


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    data = yamlio.load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None


def population_command(
    folder: Annotated[Path, typer.Argument(help="Folder to write the NDJSON files and manifest.yaml into")],
    patients: Annotated[int, typer.Option("--patients", "-n", min=1, help="How many patients")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same bytes")] = 1,
    as_of: Annotated[
        str, typer.Option("--as-of", help="Evaluation date the records are built around (YYYY-MM-DD)")
    ] = DEFAULT_AS_OF.isoformat(),
) -> None:
    """Write a seeded synthetic test population (FHIR Bulk Data NDJSON) with a stated mix."""
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        typer.echo(f"error: --as-of: not a date (YYYY-MM-DD): {as_of!r}", err=True)
        raise typer.Exit(2) from None
    try:
        mix = write_ndjson(folder, patients, seed, day)
    except OSError as exc:
        typer.echo(f"error: {folder}: cannot write ({exc.strerror})", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{patients} patients (seed {seed}, evaluation date {day}) written to {folder}", err=True)
    for name, k in mix.items():
        typer.echo(f"  {name:<24} {k:>6}", err=True)


if __name__ == "__main__":
    typer.run(population_command)
