"""The synthetic test population: deterministic bytes, the stated mix, and each archetype assessed
as designed under the default knowledge (eligible share, thresholds, contraindications, gaps)."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date
from pathlib import Path

import orjson
import pytest

from cds.knowledge import default_knowledge
from cds.pipeline import assess
from cds.population import (
    BY_NAME,
    DEFAULT_AS_OF,
    MIX,
    archetype_of,
    counts,
    generate,
    read_manifest,
    write_ndjson,
)

N = 200


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "a", 60, seed=3)
    write_ndjson(tmp_path / "b", 60, seed=3)
    write_ndjson(tmp_path / "c", 60, seed=4)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["Observation.ndjson"] != _digest(tmp_path / "c")["Observation.ndjson"]


def test_ndjson_is_one_resource_per_line_and_manifest_states_the_mix(tmp_path: Path) -> None:
    mix = write_ndjson(tmp_path, N, seed=1)
    patients = [orjson.loads(line) for line in (tmp_path / "Patient.ndjson").read_bytes().splitlines()]
    assert len(patients) == N and len({p["id"] for p in patients}) == N
    assert Counter(archetype_of(p) for p in patients) == Counter(mix)
    manifest = read_manifest(tmp_path)
    assert manifest == {"seed": 1, "patients": N, "as_of": DEFAULT_AS_OF.isoformat(), "archetypes": mix}
    for f in tmp_path.glob("*.ndjson"):
        for line in f.read_bytes().splitlines():
            assert orjson.loads(line)["resourceType"] == f.stem


@pytest.mark.parametrize("n", [1, 7, 99, 1000, 1234])
def test_counts_are_the_stated_shares(n: int) -> None:
    got = counts(n)
    assert sum(got.values()) == n
    for a in MIX:
        assert abs(got[a.name] - n * a.percent / 100) < 1  # largest remainder: within one patient


@pytest.fixture(scope="module")
def assessed() -> list[tuple[str, str, str, list[str]]]:
    knowledge = default_knowledge()
    out = []
    for archetype, resources in generate(N, seed=11):
        a = assess(resources, knowledge, as_of=DEFAULT_AS_OF, profile="us-fda")
        out.append(
            (
                archetype.name,
                a.indication.status,
                a.product("esketamine").verdict,
                sorted({f.concept for f in a.findings if f.category in ("contraindication", "data-gap")}),
            )
        )
    return out


def test_every_patient_gets_the_indication_its_archetype_states(
    assessed: list[tuple[str, str, str, list[str]]],
) -> None:
    wrong = [(name, status) for name, status, _, _ in assessed if status != BY_NAME[name].indication]
    assert wrong == []


def test_eligible_share_is_the_stated_share(assessed: list[tuple[str, str, str, list[str]]]) -> None:
    stated = sum(k for name, k in counts(N).items() if BY_NAME[name].indication == "eligible")
    assert sum(1 for _, status, _, _ in assessed if status == "eligible") == stated
    assert 0.5 < stated / N < 0.85  # a population with many eligible patients to show changes on


def test_esketamine_verdicts_follow_the_archetype(assessed: list[tuple[str, str, str, list[str]]]) -> None:
    wrong = [
        (name, verdict)
        for name, _, verdict, _ in assessed
        if BY_NAME[name].esketamine_us is not None and verdict != BY_NAME[name].esketamine_us
    ]
    assert wrong == []


def test_contraindicated_and_incomplete_patients_carry_the_finding(
    assessed: list[tuple[str, str, str, list[str]]],
) -> None:
    gaps = {"blood-pressure", "weight", "pregnancy-status"}
    contraindications = {
        "aneurysmal-vascular-disease",
        "arteriovenous-malformation",
        "intracerebral-hemorrhage",
        "hypersensitivity",
        "pregnancy",
    }
    for name, _, _, concepts in assessed:
        if name == "contraindicated":
            assert contraindications & set(concepts), concepts
        elif name == "incomplete-safety-data":
            assert gaps & set(concepts), concepts  # never a silent clearance
        elif name == "clear-trd":
            assert not (gaps | contraindications) & set(concepts), concepts


def test_borderline_patients_sit_on_both_sides_of_each_threshold() -> None:
    # (trial lengths either side of 6 weeks are checked through the indication of their archetypes)
    ages: Counter[int] = Counter()
    bp: set[tuple[float, float]] = set()
    for archetype, resources in generate(400, seed=5):
        patient = resources[0]
        born = date.fromisoformat(patient["birthDate"])
        age = (
            DEFAULT_AS_OF.year
            - born.year
            - ((DEFAULT_AS_OF.month, DEFAULT_AS_OF.day) < (born.month, born.day))
        )
        if archetype.name.startswith("age-"):
            ages[age] += 1
        if archetype.name == "bp-near-140-90":
            obs = next(r for r in resources if r.get("component"))
            bp.add(tuple(c["valueQuantity"]["value"] for c in obs["component"]))  # type: ignore[arg-type]
    assert set(ages) == {17, 18, 64, 65, 66}
    assert (
        any(s > 140 for s, _ in bp)
        and any(d > 90 for _, d in bp)
        and any(s <= 140 and d <= 90 for s, d in bp)
    )


def test_a_generation_that_stops_part_way_leaves_no_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files are written as they are generated: a stopped run must not leave them under the
    previous population's manifest (its seed and counts would describe other files)."""
    import cds.population as population

    write_ndjson(tmp_path, 20, seed=1)
    assert read_manifest(tmp_path) is not None
    real = population.generate

    def stops(*args: object, **kwargs: object) -> object:
        for k, item in enumerate(real(*args, **kwargs)):  # type: ignore[arg-type]
            if k == 5:
                raise RuntimeError("disk full")
            yield item

    monkeypatch.setattr(population, "generate", stops)
    with pytest.raises(RuntimeError):
        write_ndjson(tmp_path, 20, seed=2)
    assert read_manifest(tmp_path) is None
