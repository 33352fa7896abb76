"""Build ready-to-send CDS Hooks requests from the example patients (fhir/examples/*.json).

    python tools/make_hook_examples.py           # (re)write fhir/examples/hooks/*.json
    python tools/make_hook_examples.py --check   # exit 1 if the files are missing or out of date

Each request carries the full prefetch, one key per prefetch template of the service catalog
(cds.service.catalog.PREFETCH), filled the way a FHIR server would answer that search over the
example Bundle. The output is deterministic (fixed hookInstances, no clock), so the files can be
committed and checked in CI.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from cds.service.catalog import (
    ORDER_SELECT_SERVICE,
    ORDER_SIGN_SERVICE,
    PATIENT_VIEW_SERVICE,
    prefetch_from_record,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "fhir" / "examples"
OUT = EXAMPLES / "hooks"
USER = "Practitioner/example"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ESKETAMINE = ("2201625", "esketamine 28 MG Nasal Spray [Spravato]")
AS_OF = "2025-06-02"  # the day the example records were written for (use CDS_AS_OF=2025-06-02)
# Stable hookInstances: uuid5 of the file name, so regenerating changes nothing.
_NAMESPACE = uuid.UUID("6f1c3e0a-8a4e-4f43-9a0e-2f4a7b7c9d11")


def load(name: str) -> list[dict[str, Any]]:
    bundle = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return [entry["resource"] for entry in bundle.get("entry", [])]


# --- prefetch: the catalog's templates answered over one patient's resources ---------------------


def prefetch(resources: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    patient = next(r for r in resources if r["resourceType"] == "Patient")

    def full_url(r: dict[str, Any]) -> str:
        return f"urn:uuid:{uuid.uuid5(_NAMESPACE, r['resourceType'] + '/' + r['id'])}"

    return patient["id"], prefetch_from_record(resources, patient["id"], full_url)


# --- requests -----------------------------------------------------------------------------------


def esketamine_draft(patient_id: str, dose_mg: int) -> dict[str, Any]:
    code, display = ESKETAMINE
    return {
        "resourceType": "MedicationRequest",
        "id": f"draft-esketamine-{dose_mg}mg",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": AS_OF,
        "dosageInstruction": [
            {
                "text": f"{dose_mg} mg intranasally, first treatment session",
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": dose_mg,
                            "unit": "mg",
                            "system": "http://unitsofmeasure.org",
                            "code": "mg",
                        }
                    }
                ],
            }
        ],
    }


def request(name: str, hook: str, patient: str, draft: dict[str, Any] | None = None) -> dict[str, Any]:
    patient_id, data = prefetch(load(patient))
    context: dict[str, Any] = {"userId": USER, "patientId": patient_id}
    if draft is not None:
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": draft}],
        }
        if hook == "order-select":
            context["selections"] = [f"MedicationRequest/{draft['id']}"]
    return {
        "hookInstance": str(uuid.uuid5(_NAMESPACE, name)),
        "hook": hook,
        "context": context,
        "prefetch": data,
    }


def build() -> dict[str, dict[str, Any]]:
    """File name → request. The service each one is for is in SERVICE_OF."""
    return {
        "patient-view-trd.json": request("patient-view-trd", "patient-view", "trd-eligible"),
        "order-sign-trd-esketamine-84mg.json": request(
            "order-sign-trd-esketamine-84mg",
            "order-sign",
            "trd-eligible",
            esketamine_draft("trd-eligible", 84),
        ),
        "order-select-aneurysm-esketamine.json": request(
            "order-select-aneurysm-esketamine", "order-select", "aneurysm", esketamine_draft("aneurysm", 56)
        ),
    }


SERVICE_OF = {
    "patient-view-trd.json": PATIENT_VIEW_SERVICE,
    "order-sign-trd-esketamine-84mg.json": ORDER_SIGN_SERVICE,
    "order-select-aneurysm-esketamine.json": ORDER_SELECT_SERVICE,
}


def render(body: dict[str, Any]) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the files are up to date")
    args = parser.parse_args(argv)
    stale = []
    for name, body in build().items():
        path = OUT / name
        text = render(body)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python tools/make_hook_examples.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
