"""Value-set expansions: current, reproducible, sourced, and used for matching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds.terminology import load_valuesets
from cds.terminology.expansions import SYSTEMS, BuildError, build_all, find_sources_dir, load_recipe
from cds.terminology.valuesets import EXT_BASE

ROOT = Path(__file__).resolve().parents[2]
VALUESETS = ROOT / "fhir" / "valuesets"
RECIPE = ROOT / "fhir" / "expansion-sources.yaml"
SOURCES = find_sources_dir(ROOT)
needs_sources = pytest.mark.skipif(
    SOURCES is None, reason="../shared/terminology (public expansions) is not beside the repo"
)
SNOMED, ICD = SYSTEMS["snomed"], SYSTEMS["icd-10-cm"]


@needs_sources
def test_committed_expansions_are_current_and_rebuild_is_reproducible() -> None:
    assert SOURCES is not None
    first = build_all(VALUESETS, RECIPE, SOURCES)
    second = build_all(VALUESETS, RECIPE, SOURCES)
    assert first == second, "two builds from the same inputs differ"
    stale = [p.name for p, text in first.items() if p.read_text() != text]
    assert not stale, f"run `cds terminology build`: expansions not current in {stale}"


def test_every_expansion_entry_states_its_source_and_the_expansion_its_date() -> None:
    for path in sorted(VALUESETS.glob("*.json")):
        exp = json.loads(path.read_text())["expansion"]
        assert exp["timestamp"][:4].isdigit(), path.name
        assert exp["total"] == len(exp["contains"]), path.name
        for entry in exp["contains"]:
            sources = [e for e in entry["extension"] if e["url"] == EXT_BASE + "source"]
            assert sources and sources[0]["valueString"], f"{path.name}: {entry['code']} has no source"


def test_public_sources_are_named_with_version_and_date() -> None:
    exp = json.loads((VALUESETS / "intracerebral-hemorrhage.json").read_text())["expansion"]
    used = [p["valueUri"] for p in exp["parameter"] if p["name"] == "used-valueset"]
    assert "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.117.1.7.1.212|20210220" in used
    assert exp["timestamp"].startswith("2026-11-27") or exp["timestamp"] >= "2025-01-10"


@pytest.mark.parametrize(
    ("vs_id", "code", "what"),
    [
        ("aneurysmal-vascular-disease", "14336007", "ruptured abdominal aortic aneurysm"),
        ("aneurysmal-vascular-disease", "276282001", "SAH from anterior communicating artery aneurysm"),
        ("arteriovenous-malformation", "234142008", "cerebral AVM"),
        ("arteriovenous-malformation", "261482004", "spinal AVM"),
        ("intracerebral-hemorrhage", "195165005", "basal ganglia haemorrhage"),
        ("intracerebral-hemorrhage", "230711001", "thalamic haemorrhage"),
        ("major-depressive-disorder", "2618002", "chronic recurrent MDD"),
        ("bipolar-disorder", "67002003", "bipolar II listed under MDD by VSAC"),
        ("psychosis", "191531007", "acute exacerbation of chronic schizophrenia"),
        ("hypertension", "70272006", "malignant hypertension"),
        ("recent-cardiovascular-event", "401303003", "acute STEMI"),
    ],
)
def test_snomed_descendants_match_through_the_expansion(vs_id: str, code: str, what: str) -> None:
    m = load_valuesets().match_coding(vs_id, SNOMED, code)
    assert m is not None, f"{what} ({code}) not matched by {vs_id}"
    assert m.by == "expansion"


@pytest.mark.parametrize(
    ("vs_id", "code"),
    [
        ("major-depressive-disorder", "33135002"),  # recurrent MDD in partial remission
        ("major-depressive-disorder", "67002003"),  # bipolar II
        ("hypertension", "34742003"),  # portal hypertension
        ("hypertension", "4210003"),  # ocular hypertension
        ("recent-cardiovascular-event", "32574007"),  # past MI found on ECG, no symptoms
        ("intracerebral-hemorrhage", "276282001"),  # SAH from aneurysm: aneurysm set, not ICH
    ],
)
def test_recipe_exclusions_hold(vs_id: str, code: str) -> None:
    assert load_valuesets().match_coding(vs_id, SNOMED, code) is None


def test_icd_prefix_matching_still_covers_unlisted_codes() -> None:
    vs = load_valuesets()
    assert vs.match_coding("intracerebral-hemorrhage", ICD, "S06.359S") is not None  # new is-a S06.35
    assert vs.match_coding("aneurysmal-vascular-disease", ICD, "I69.098") is not None  # is-a I69.0


def test_an_unlisted_snomed_code_is_unplaced_without_a_server() -> None:
    vs = load_valuesets()
    assert not vs.placed(SNOMED, "999000001")
    assert vs.placed(SNOMED, "14336007")
    assert vs.placed(ICD, "I71.43")


def test_matching_is_one_lookup_per_coding() -> None:
    # The reverse index answers a coding in one dict lookup for every value set at once.
    vs = load_valuesets()
    concept = {"coding": [{"system": SNOMED, "code": "195165005"}]}
    hits = vs.match_concept_in(vs.ids(), concept)
    assert set(hits) == {"intracerebral-hemorrhage"}


def test_recipe_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "recipe.yaml"
    bad.write_text(
        "compose_date: '2026-01-01'\nvaluesets:\n  psychosis:\n    - file: x.json\n      why: short\n"
    )
    with pytest.raises(BuildError, match=str(bad)):
        load_recipe(bad)


@needs_sources
def test_a_recipe_naming_a_missing_value_set_is_refused(tmp_path: Path) -> None:
    assert SOURCES is not None
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "compose_date: '2026-01-01'\nvaluesets:\n  no-such-set:\n"
        "    - file: schizophrenia.json\n      why: a reason long enough\n"
    )
    with pytest.raises(BuildError, match="no-such-set"):
        build_all(VALUESETS, recipe, SOURCES)
