"""FHIR input: formats accepted, and unusable input rejected with one specific line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from cds.errors import InputError
from cds.ingest.load import load_resources
from cds.pipeline import assess
from cds.synthetic import PatientBuilder, trd_patient

AS_OF = date(2025, 6, 2)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cds", *args], capture_output=True, text=True, timeout=120)


def test_bundle_folder_and_ndjson_give_the_same_assessment(tmp_path: Path, write_bundle) -> None:
    bundle = trd_patient("same").bundle()
    one = assess(load_resources(write_bundle(bundle)), as_of=AS_OF)
    folder = tmp_path / "folder"
    folder.mkdir()
    for i, entry in enumerate(bundle["entry"]):
        (folder / f"r{i}.json").write_text(json.dumps(entry["resource"]))
    nd = tmp_path / "export.ndjson"
    nd.write_text("\n".join(json.dumps(e["resource"]) for e in bundle["entry"]))
    assert assess(load_resources(folder), as_of=AS_OF) == one
    assert assess(load_resources(nd), as_of=AS_OF) == one
    assert one.indication.status == "eligible"


def test_transaction_bundle_with_urn_uuid_and_no_ids(write_bundle) -> None:
    bundle = trd_patient("tx").bundle()
    bundle["type"] = "transaction"
    for entry in bundle["entry"]:
        r = entry["resource"]
        entry["request"] = {"method": "POST", "url": r["resourceType"]}
        if r["resourceType"] != "Patient":
            del r["id"]
    a = assess(load_resources(write_bundle(bundle)), as_of=AS_OF)
    assert a.indication.status == "eligible"
    assert all(ref.startswith("MedicationStatement/") for t in a.indication.trials for ref in t.evidence)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: "{not json", "not valid JSON"),
        (lambda b: _drop_birthdate(b), "birthDate is missing"),
        (lambda b: _negative_dose(b), "dose must be positive"),
        (lambda b: _unknown_type(b), "unknown resourceType 'Banana'"),
        (lambda b: _bad_field(b), "birthDate"),
    ],
    ids=["not-json", "no-birthdate", "negative-dose", "unknown-type", "invalid-field"],
)
def test_unusable_input_is_one_line_and_exit_2(tmp_path: Path, mutate, expected: str) -> None:
    bundle = trd_patient("bad").bundle()
    content = mutate(bundle)
    path = tmp_path / "bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    proc = run_cli("check", str(path), "--as-of", "2025-06-02")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr


def _drop_birthdate(b: dict) -> dict:
    del b["entry"][0]["resource"]["birthDate"]
    return b


def _negative_dose(b: dict) -> dict:
    med = next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "MedicationStatement")
    med["dosage"][0]["doseAndRate"][0]["doseQuantity"]["value"] = -150
    return b


def _unknown_type(b: dict) -> dict:
    b["entry"].append({"resource": {"resourceType": "Banana", "id": "x"}})
    return b


def _bad_field(b: dict) -> dict:
    b["entry"][0]["resource"]["birthDate"] = "14 March 1980"
    return b


def test_error_names_the_entry_and_field(write_bundle) -> None:
    bundle = trd_patient("loc").bundle()
    obs = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    obs["status"] = ["final"]
    with pytest.raises(InputError) as err:
        assess(load_resources(write_bundle(bundle)), as_of=AS_OF)
    assert "entry[" in str(err.value) and "Observation/" in str(err.value) and "status" in str(err.value)


def test_unused_resource_types_are_not_validated(write_bundle) -> None:
    bundle = trd_patient("skip").bundle()
    # A Claim with a field R4B would reject: skipped before any model is built.
    bundle["entry"].append({"resource": {"resourceType": "Claim", "id": "c1", "notAField": True}})
    assert assess(load_resources(write_bundle(bundle)), as_of=AS_OF).indication.status == "eligible"


def test_two_patients_are_refused_for_a_single_check(write_bundle) -> None:
    bundle = trd_patient("a").bundle()
    bundle["entry"] += PatientBuilder("1970-01-01", pid="b").bundle()["entry"]
    with pytest.raises(InputError, match="2 patients"):
        assess(load_resources(write_bundle(bundle)), as_of=AS_OF)


def test_strict_mode_agrees_with_the_fast_path_on_the_cli(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "fhir" / "examples" / "aneurysm.json"
    fast = run_cli("check", str(example), "--as-of", "2025-06-02", "--format", "json")
    strict = run_cli("check", str(example), "--as-of", "2025-06-02", "--format", "json", "--strict")
    assert fast.returncode == strict.returncode == 0
    assert json.loads(fast.stdout) == json.loads(strict.stdout)
