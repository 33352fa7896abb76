"""One patient, whole: another patient's resource is refused (CLI exit 2 and the pipeline the
service uses), the same Patient twice is one patient, conflicting copies are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds.errors import InputError
from cds.ingest.load import flatten
from cds.ingest.patients import one_patient
from cds.pipeline import evaluate
from cds.synthetic import trd_patient

AS_OF = date(2025, 6, 2)


def _bundle() -> dict[str, Any]:
    return trd_patient("p1").bundle()


def _first(bundle: dict[str, Any], rtype: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype)


@pytest.mark.parametrize(
    "reference",
    [
        {"reference": "Patient/someone-else"},
        {"reference": "https://ehr.example.org/fhir/Patient/someone-else/_history/2"},
        {"reference": "urn:uuid:4f1c9d2e-0000-4000-8000-000000000000"},
    ],
    ids=["relative", "absolute-versioned", "urn-uuid"],
)
def test_another_patients_observation_is_refused_naming_resource_and_field(reference: dict[str, str]) -> None:
    bundle = _bundle()
    obs = _first(bundle, "Observation")
    obs["subject"] = reference
    with pytest.raises(InputError) as err:
        evaluate([bundle], as_of=AS_OF)
    message = str(err.value)
    assert f"Observation/{obs['id']}" in message
    assert "subject references another patient" in message
    assert "Patient/p1" in message


def test_another_patient_by_identifier_in_the_same_system_is_refused() -> None:
    bundle = _bundle()
    _first(bundle, "Patient")["identifier"] = [{"system": "urn:mrn", "value": "111"}]
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": {"identifier": {"system": "urn:mrn", "value": "222"}},
        "code": {"text": "penicillin"},
    }
    bundle["entry"].append({"resource": allergy})
    with pytest.raises(InputError, match=r"AllergyIntolerance/a1\).*patient references another patient"):
        evaluate([bundle], as_of=AS_OF)


def test_references_that_name_this_patient_are_accepted() -> None:
    bundle = _bundle()
    patient = _first(bundle, "Patient")
    patient["identifier"] = [{"system": "urn:mrn", "value": "111"}]
    patient["link"] = [{"other": {"reference": "Patient/old-id"}, "type": "replaces"}]
    refs = iter(
        [
            {"reference": "Patient/old-id"},  # a merged record's old id (Patient.link)
            {"identifier": {"system": "urn:mrn", "value": "111"}},
            {"identifier": {"system": "urn:other", "value": "x"}},  # another system: nothing to compare
            {"reference": "Patient?identifier=urn:mrn|111"},
            {"reference": "Group/cohort"},  # not a patient
        ]
    )
    for entry in bundle["entry"]:
        r = entry["resource"]
        if r["resourceType"] == "Observation":
            r["subject"] = next(refs, r["subject"])
    assert evaluate([bundle], as_of=AS_OF).assessment.indication.status == "eligible"


def test_a_urn_reference_to_another_resource_of_the_bundle_is_not_another_patient() -> None:
    # A Group as the subject, by its urn: fullUrl in the same bundle: accepted; the same urn without
    # that Group in the bundle could name another patient: refused.
    bundle = _bundle()
    group_url = "urn:uuid:0b7c2c4e-0000-4000-8000-00000000c0de"
    obs = _first(bundle, "Observation")
    obs["subject"] = {"reference": group_url}
    with pytest.raises(InputError, match="subject references another patient"):
        one_patient(flatten(bundle, "b"))
    bundle["entry"].append({"fullUrl": group_url, "resource": {"resourceType": "Group", "id": "g"}})
    kept = one_patient(flatten(bundle, "b"))
    assert [r.type for r in kept].count("Patient") == 1 and any(r.data is obs for r in kept)


def test_cli_refuses_another_patient_with_exit_2(tmp_path: Path) -> None:
    bundle = _bundle()
    cond = _first(bundle, "Condition")
    cond["subject"] = {"reference": "Patient/intruder"}
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(bundle))
    proc = subprocess.run(
        [sys.executable, "-m", "cds", "check", str(path), "--as-of", "2025-06-02"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert f"Condition/{cond['id']}" in proc.stderr and "another patient" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_same_patient_twice_is_one_patient() -> None:
    bundle = _bundle()
    bundle["entry"].append({"resource": dict(_first(bundle, "Patient")), "search": {"mode": "include"}})
    resources = one_patient(flatten(bundle))
    assert sum(r.type == "Patient" for r in resources) == 1
    assert evaluate([bundle], as_of=AS_OF).assessment.indication.status == "eligible"


def test_the_newer_copy_of_a_patient_wins() -> None:
    bundle = _bundle()
    old = _first(bundle, "Patient")
    old["meta"] = {"versionId": "1"}
    new = {**old, "meta": {"versionId": "2"}, "deceasedBoolean": True}
    bundle["entry"].append({"resource": new})
    a = evaluate([bundle], as_of=AS_OF).assessment
    assert a.indication.status == "not-eligible"


def test_conflicting_copies_without_versions_are_refused() -> None:
    bundle = _bundle()
    copy = {**_first(bundle, "Patient"), "birthDate": "2009-01-01"}
    bundle["entry"].append({"resource": copy})
    with pytest.raises(InputError, match=r"Patient/p1 appears twice with different birthDate"):
        evaluate([bundle], as_of=AS_OF)


def test_two_different_patients_are_still_refused() -> None:
    bundle = _bundle()
    bundle["entry"].append({"resource": {**_first(bundle, "Patient"), "id": "p2"}})
    with pytest.raises(InputError, match="2 patients in the input"):
        evaluate([bundle], as_of=AS_OF)


def test_service_answers_400_naming_the_resource_of_another_patient() -> None:
    from cds.service.catalog import PATIENT_VIEW_SERVICE
    from tests.service.builders import patient_view_request
    from tests.service.test_real_engine import example, for_patient, real

    pid, prefetch = example("trd-eligible")
    obs = prefetch["observations"]["entry"][0]["resource"]
    obs["subject"] = {"reference": "Patient/someone-else"}
    response = real().call(PATIENT_VIEW_SERVICE, for_patient(patient_view_request(prefetch), pid))
    # The service's prefetch check answers first (naming the prefetch entry); the pipeline check
    # behind it is the same one `cds check` runs (tests above).
    assert response.status_code == 400
    assert "another patient" in response.text
