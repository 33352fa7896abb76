"""Draft orders of order-select / order-sign: which product is ordered, at what dose.

A draft that cannot be an order for this patient (another subject, a zero, negative or non-numeric
dose, a dosage that is not a list) is refused with BadRequest naming the field: checking it would
give advice about an order that does not exist.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cds import yamlio
from cds.contract.assessment import ProductName
from cds.knowledge import default_knowledge
from cds.service.models import BadRequest

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
INTRAVENOUS_ROUTE_SNOMED = "47625008"
_RECORD_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationDispense", "MedicationAdministration")


class Pack(BaseModel):
    """A pack whose dispensing unit holds several devices (a dose kit): a count is a count of kits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str
    code: str
    mg_per_unit: float = Field(gt=0)


class ProductStrength(BaseModel):
    """How a count of dispensing units of one product converts to mg (rules/product-strengths.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mg_per_unit: float = Field(gt=0)
    units: tuple[str, ...] = Field(min_length=1)
    packs: tuple[Pack, ...] = ()
    citation: str

    def mg(self, unit: str, count: float, concept: dict[str, Any] | None) -> float | None:
        """The dose in mg, or None when the count cannot be read as devices or known kits."""
        units = {u.lower() for u in self.units}
        codings = [c for c in (concept or {}).get("coding") or [] if isinstance(c, dict)]
        for pack in self.packs:
            if any(c.get("system") == pack.system and c.get("code") == pack.code for c in codings):
                return count * pack.mg_per_unit if unit in units | _KIT_UNITS else None
        words = " ".join(
            [str((concept or {}).get("text") or "")] + [str(c.get("display") or "") for c in codings]
        )
        if unit not in units or "kit" in words.lower():
            return None  # a kit of unknown size, or not a unit count: not a count of devices
        return count * self.mg_per_unit


_KIT_UNITS = {"{kit}", "{kits}", "kit", "kits"}


Strengths = dict[ProductName, ProductStrength]


def load_strengths(path: Path) -> Strengths:
    """The product strengths file; a broken file is a start-up error naming the file."""
    try:
        data = yamlio.load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected a mapping of product to {mg_per_unit, units, citation}")
        return {name: ProductStrength.model_validate(entry) for name, entry in data.items()}
    except (OSError, yaml.YAMLError, ValueError, ValidationError) as exc:
        raise ValueError(f"{path}: cannot read product strengths: {str(exc).splitlines()[0]}") from None


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


def draft_orders(
    drafts: list[dict[str, Any]],
    selections: list[str] | None,
    *,
    patient_id: str,
    strengths: Strengths,
) -> list[DraftOrder]:
    """The draft MedicationRequests to check: at order-select only the newly selected ones.
    Raises BadRequest for a draft that is not a usable order for `patient_id`."""
    bundle = [normalise(r) for r in drafts]
    chosen = []
    for index, resource in enumerate(bundle):
        if resource.get("resourceType") != "MedicationRequest":
            continue
        where = f"context.draftOrders.entry[{index}].resource"
        _check_subject(resource, patient_id, where)
        _check_dosage_shape(resource, where)
        if selections is not None and f"MedicationRequest/{resource.get('id')}" not in selections:
            continue
        chosen.append((resource, where))
    return [_read(r, bundle, strengths, where) for r, where in chosen]


def _check_subject(resource: dict[str, Any], patient_id: str, where: str) -> None:
    subject = resource.get("subject")
    if subject is None:
        return  # the context's patient is implied
    ref = subject.get("reference") if isinstance(subject, dict) else None
    if not isinstance(ref, str):
        raise BadRequest([f"{where}.subject must be a Reference to Patient/{patient_id}"])
    if ref.startswith(("urn:", "#")):
        return  # a reference inside the client's bundle: nothing to compare with
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or parts[-2] != "Patient" or parts[-1] != patient_id:
        raise BadRequest([f"{where}.subject is not the context patient (context.patientId)"])


def _check_dosage_shape(resource: dict[str, Any], where: str) -> None:
    dosages = resource.get("dosageInstruction")
    if dosages is None:
        return
    if not isinstance(dosages, list) or not all(isinstance(d, dict) for d in dosages):
        raise BadRequest([f"{where}.dosageInstruction must be a list of Dosage objects"])
    for i, dosage in enumerate(dosages):
        rates = dosage.get("doseAndRate")
        if rates is None:
            continue
        if not isinstance(rates, list) or not all(isinstance(r, dict) for r in rates):
            raise BadRequest([f"{where}.dosageInstruction[{i}].doseAndRate must be a list of objects"])
        for j, rate in enumerate(rates):
            _check_dose(
                rate.get("doseQuantity"), f"{where}.dosageInstruction[{i}].doseAndRate[{j}].doseQuantity"
            )


def _check_dose(quantity: object, at: str) -> None:
    """A dose, when given, is a Quantity whose value is a number above zero."""
    if quantity is None:
        return
    if not isinstance(quantity, dict):
        raise BadRequest([f"{at} must be a Quantity object"])
    value = quantity.get("value")
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest([f"{at}.value must be a number"])
    if value <= 0:
        raise BadRequest([f"{at}.value must be greater than zero"])


def _read(
    resource: dict[str, Any], bundle: list[dict[str, Any]], strengths: Strengths, where: str
) -> DraftOrder:
    product = recognise_product(resource, bundle)
    strength = strengths.get(product) if product else None
    dose, problem = _dose_mg(resource, strength, _medication_concept(resource, bundle))
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
    if not isinstance(dosages, list):
        return {}
    return dosages[0] if dosages and isinstance(dosages[0], dict) else {}


def _is_intravenous(resource: dict[str, Any]) -> bool:
    route = _first_dosage(resource).get("route") or {}
    if not isinstance(route, dict):
        return False
    for coding in route.get("coding") or []:
        if not isinstance(coding, dict):
            continue
        if coding.get("system") == SNOMED and str(coding.get("code")) == INTRAVENOUS_ROUTE_SNOMED:
            return True
    words = " ".join(
        [str(route.get("text") or "")]
        + [str(c.get("display") or "") for c in route.get("coding") or [] if isinstance(c, dict)]
    )
    words = words.lower()
    return "intravenous" in words or words.strip() in {"iv", "i.v."}


def _dose_mg(
    resource: dict[str, Any], strength: ProductStrength | None, concept: dict[str, Any] | None
) -> tuple[float | None, str | None]:
    """The first dose in mg (shape and sign already checked), or why it cannot be read as mg."""
    rates = _first_dosage(resource).get("doseAndRate") or []
    quantity = rates[0].get("doseQuantity") if rates else None
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        return None, None
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip().lower()
    value = float(quantity["value"])
    if unit == "mg":
        return value, None
    if unit == "g":
        return value * 1000, None
    converted = strength.mg(unit, value, concept) if strength is not None else None
    if converted is not None:
        return converted, None
    return None, f"the dose unit is '{unit or 'missing'}', which cannot be converted to mg"


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
