"""The example patients in fhir/examples/ through the real command line, as a clinician runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs/assessment.schema.json").read_text())


def check(name: str, *extra: str) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cds",
            "check",
            str(ROOT / "fhir/examples" / name),
            "--as-of",
            "2025-06-02",
            "--format",
            "json",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    jsonschema.validate(data, SCHEMA)
    return data


def product(a: dict, name: str) -> dict:
    return next(p for p in a["products"] if p["product"] == name)


def test_trd_patient_is_eligible_with_two_failed_trials() -> None:
    a = check("trd-eligible.json")
    assert a["indication"]["status"] == "eligible" and a["indication"]["adequate_failed_trials"] == 2
    assert [t["drug"] for t in a["indication"]["trials"] if t["counts_as_failed"]] == [
        "sertraline",
        "venlafaxine",
    ]
    assert product(a, "esketamine")["verdict"] == "appropriate"


def test_aneurysm_contraindicates_esketamine_with_the_condition_and_the_label() -> None:
    a = check("aneurysm.json")
    assert product(a, "esketamine")["verdict"] == "contraindicated"
    f = next(f for f in a["findings"] if f["concept"] == "aneurysmal-vascular-disease")
    assert f["evidence"] and all(e.startswith("Condition/") for e in f["evidence"])
    assert "SPRAVATO" in f["citation"]["label"] and f["citation"]["url"].startswith("http")


def test_older_adult_starts_at_28_mg_under_the_eu_profile_and_56_under_us() -> None:
    assert (
        product(check("older-adult.json", "--profile", "eu-smpc"), "esketamine")["dosing"]["start_dose_mg"]
        == 28
    )
    assert product(check("older-adult.json"), "esketamine")["dosing"]["start_dose_mg"] == 56


def test_130_kg_patient_gets_65_mg_iv_with_the_ideal_weight_note() -> None:
    dosing = product(check("obese-130kg.json"), "ketamine-iv")["dosing"]
    assert dosing["dose_mg"] == 65 and dosing["weight_basis"] == "actual"
    assert any("ideal-body-weight" in n for n in dosing["notes"])
    assert dosing["alternatives"][0]["weight_basis"] == "ideal"


def test_no_recent_bp_is_insufficient_data_and_says_to_measure_bp() -> None:
    a = check("no-recent-bp.json")
    assert product(a, "esketamine")["verdict"] == "insufficient-data"
    gap = next(f for f in a["findings"] if f["concept"] == "blood-pressure")
    assert gap["category"] == "data-gap" and "Measure blood pressure" in gap["obtain"]
    assert product(a, "ketamine-iv")["dosing"] is None  # weight is stale too: no dose on it


def test_every_finding_but_a_data_gap_names_its_fhir_evidence() -> None:
    """Contract: findings[].evidence is empty only for a data gap."""
    from datetime import date

    from cds.ingest.load import load_resources
    from cds.pipeline import assess

    for example in sorted((ROOT / "fhir/examples").glob("*.json")):
        for profile in ("us-fda", "eu-smpc"):
            a = assess(load_resources(example), as_of=date(2025, 6, 2), profile=profile)  # type: ignore[arg-type]
            for f in a.findings:
                if f.category == "data-gap":
                    assert f.evidence == [], f
                else:
                    assert f.evidence and all("/" in ref for ref in f.evidence), f
