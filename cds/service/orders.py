"""Draft orders of order-select / order-sign: which product is ordered, at what dose."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from cds.contract.assessment import ProductName
from cds.knowledge import default_knowledge

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
INTRAVENOUS_ROUTE_SNOMED = "47625008"
_RECORD_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationDispense", "MedicationAdministration")


@dataclass(frozen=True)
class DraftOrder:
    resource: dict[str, Any]  # normalised copy of the draft MedicationRequest
    product: ProductName | None
    dose_mg: float | None
    dose_problem: str | None  # why the dose could not be read, when a dose was given

    @property
    def reference(self) -> str:
        return f"MedicationRequest/{self.resource.get('id', '')}"


def normalise(resource: dict[str, Any]) -> dict[str, Any]:
    """A copy with the Sandbox's shape slips repaired (R4 `category` is a list, sent as one object)."""
    out = copy.deepcopy(resource)
    if isinstance(out.get("category"), dict):
        out["category"] = [out["category"]]
    return out


def draft_orders(drafts: list[dict[str, Any]], selections: list[str] | None) -> list[DraftOrder]:
    """The draft MedicationRequests to check: at order-select only the newly selected ones."""
    bundle = [normalise(r) for r in drafts]
    chosen = []
    for resource in bundle:
        if resource.get("resourceType") != "MedicationRequest":
            continue
        if selections is not None and f"MedicationRequest/{resource.get('id')}" not in selections:
            continue
        chosen.append(resource)
    return [_read(r, bundle) for r in chosen]


def _read(resource: dict[str, Any], bundle: list[dict[str, Any]]) -> DraftOrder:
    product = recognise_product(resource, bundle)
    dose, problem = _dose_mg(resource)
    return DraftOrder(resource=resource, product=product, dose_mg=dose, dose_problem=problem)


def recognise_product(
    resource: dict[str, Any], bundle: list[dict[str, Any]] | None = None
) -> ProductName | None:
    """esketamine (any route: it exists only as a nasal spray) or ketamine given intravenously (or
    with no route given)."""
    concept = _medication_concept(resource, bundle or [])
    if concept is None:
        return None
    # The same value sets (codes, ingredient names, brand names) as the facts use.
    hits = default_knowledge().valuesets.match_concept_in(("esketamine", "ketamine"), concept)
    if "esketamine" in hits:
        return "esketamine"
    if "ketamine" in hits:
        # No route given: checked as IV ketamine (the stricter reading; its contraindications apply
        # to any route). An explicit other route (IM, oral) is outside the products assessed here.
        return "ketamine-iv" if _is_intravenous(resource) or not _has_route(resource) else None
    return None


def _has_route(resource: dict[str, Any]) -> bool:
    route = _first_dosage(resource).get("route")
    return isinstance(route, dict) and bool(route.get("coding") or route.get("text"))


def _medication_concept(resource: dict[str, Any], bundle: list[dict[str, Any]]) -> dict[str, Any] | None:
    concept = resource.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return concept
    ref = (resource.get("medicationReference") or {}).get("reference")
    if not isinstance(ref, str):
        return None
    candidates: list[dict[str, Any]] = []
    if ref.startswith("#"):
        candidates = [c for c in resource.get("contained") or [] if c.get("id") == ref[1:]]
    elif ref.startswith("Medication/"):
        candidates = [r for r in bundle if r.get("resourceType") == "Medication" and r.get("id") == ref[11:]]
    for medication in candidates:
        if isinstance(medication.get("code"), dict):
            return dict(medication["code"])
    return None


def _first_dosage(resource: dict[str, Any]) -> dict[str, Any]:
    dosages = resource.get("dosageInstruction") or resource.get("dosage") or []
    if isinstance(dosages, dict):
        return dosages
    return dosages[0] if dosages and isinstance(dosages[0], dict) else {}


def _is_intravenous(resource: dict[str, Any]) -> bool:
    route = _first_dosage(resource).get("route") or {}
    for coding in route.get("coding") or []:
        if coding.get("system") == SNOMED and str(coding.get("code")) == INTRAVENOUS_ROUTE_SNOMED:
            return True
    words = " ".join(
        [str(route.get("text") or "")] + [str(c.get("display") or "") for c in route.get("coding") or []]
    )
    words = words.lower()
    return "intravenous" in words or words.strip() in {"iv", "i.v."}


def _dose_mg(resource: dict[str, Any]) -> tuple[float | None, str | None]:
    rates = _first_dosage(resource).get("doseAndRate") or []
    quantity = rates[0].get("doseQuantity") if rates and isinstance(rates[0], dict) else None
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        return None, None
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip().lower()
    try:
        value = float(quantity["value"])
    except (TypeError, ValueError):
        return None, "the dose value is not a number"
    if unit == "mg":
        return value, None
    if unit == "g":
        return value * 1000, None
    return None, f"the dose unit is '{unit or 'missing'}', not mg"


def with_dose(resource: dict[str, Any], dose_mg: float) -> dict[str, Any]:
    """The whole draft MedicationRequest (same id) with its first doseQuantity corrected (an `update`)."""
    out = copy.deepcopy(resource)
    dosages = out.setdefault("dosageInstruction", [{}])
    if not dosages:
        dosages.append({})
    rates = dosages[0].setdefault("doseAndRate", [{}])
    if not rates:
        rates.append({})
    rates[0]["doseQuantity"] = {"value": _number(dose_mg), "unit": "mg", "system": UCUM, "code": "mg"}
    return out


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 1)


def has_prior_use(resources: list[dict[str, Any]], product: ProductName) -> bool:
    """Whether the record shows the product already given or prescribed (not a draft): past day 1."""
    for resource in resources:
        if resource.get("resourceType") not in _RECORD_TYPES:
            continue
        if resource.get("status") in {"draft", "entered-in-error", "cancelled", "not-taken", "not-done"}:
            continue
        if recognise_product(resource, resources) == product:
            return True
    return False
