"""Lean validation: each used resource checked against a *projection* of its fhir.resources R4B
model onto the fields the fact builders read (`READS`).

fhir.resources stays the definition of valid FHIR: every projected field keeps the R4B model's
own annotation (the same fhir_core primitive types, the same list-ness and required-ness, the
same aliases), so a value the rules read is accepted or rejected exactly as full validation
would. What is skipped is everything no fact reads (narrative, Claims' line items, identifiers,
...); `--strict` validates those too with the full models. A field the fact builders read that
R4B does not define for the type (e.g. `statusReason` on a MedicationDispense) is refused, as
R4B refuses unknown fields; choice groups (`onset[x]`) that hold a read variant are checked for
"at most one" (and "exactly one" where R4B requires it) against *all* their variants.

When a fact builder starts reading a new field, add it to `READS`: `tests/ingest/` checks that
every field a fact reads in the samples is projected (see `test_reads_cover_fact_builders`).
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator
from pydantic_core import PydanticCustomError

# A projection spec: field name -> None (a primitive, or a complex value taken as a whole is not
# allowed: list its sub-fields) or the spec of the complex type's sub-fields.
Spec = dict[str, "Spec | None"]

CODING: Spec = {"system": None, "code": None, "display": None}
CONCEPT: Spec = {"coding": CODING, "text": None}
QUANTITY: Spec = {"value": None, "comparator": None, "unit": None, "system": None, "code": None}
PERIOD: Spec = {"start": None, "end": None}
REFERENCE: Spec = {"reference": None, "display": None}
DOSAGE: Spec = {
    "sequence": None,
    "text": None,
    "patientInstruction": None,
    "asNeededBoolean": None,
    "asNeededCodeableConcept": CONCEPT,
    "timing": {
        "repeat": {
            "boundsPeriod": PERIOD,
            "boundsDuration": QUANTITY,
            "frequency": None,
            "frequencyMax": None,
            "period": None,
            "periodMax": None,
            "periodUnit": None,
            "when": None,
            "timeOfDay": None,
        },
        "code": CONCEPT,
    },
    "doseAndRate": {"doseQuantity": QUANTITY, "doseRange": {"low": QUANTITY, "high": QUANTITY}},
}
IDENTIFIER: Spec = {"system": None, "value": None}
_MEDICATION_COMMON: Spec = {
    # cds/facts/medications.py reads these keys on every medication resource type; those R4B does not
    # define for a type become "not a field of" errors there.
    "id": None,
    "status": None,
    "intent": None,
    "medicationCodeableConcept": CONCEPT,
    "medicationReference": {**REFERENCE, "identifier": IDENTIFIER},
    "dosageInstruction": DOSAGE,
    "dosage": DOSAGE,
    "statusReason": CONCEPT,
}
_EXTENSION_LEAF: Spec = {"url": None, "valueString": None, "valueCoding": CODING}

READS: dict[str, Spec] = {
    "Patient": {
        "id": None,
        "birthDate": None,
        "gender": None,
        "deceasedBoolean": None,
        "deceasedDateTime": None,
        "extension": {**_EXTENSION_LEAF, "extension": _EXTENSION_LEAF},
    },
    "Condition": {
        "id": None,
        "clinicalStatus": CONCEPT,
        "verificationStatus": CONCEPT,
        "code": CONCEPT,
        "onsetDateTime": None,
        "onsetPeriod": PERIOD,
        "recordedDate": None,
        "abatementDateTime": None,
        "abatementPeriod": PERIOD,
    },
    "Observation": {
        "id": None,
        "status": None,
        "code": CONCEPT,
        "effectiveDateTime": None,
        "effectiveInstant": None,
        "effectivePeriod": PERIOD,
        "issued": None,
        "valueQuantity": QUANTITY,
        "valueCodeableConcept": CONCEPT,
        "valueString": None,
        "valueInteger": None,
        "valueBoolean": None,
        "component": {"code": CONCEPT, "valueQuantity": QUANTITY},
    },
    "MedicationStatement": {**_MEDICATION_COMMON, "effectivePeriod": PERIOD, "effectiveDateTime": None},
    "MedicationAdministration": {
        **_MEDICATION_COMMON,
        "effectivePeriod": PERIOD,
        "effectiveDateTime": None,
        "dosage": {"dose": QUANTITY},
    },
    "MedicationRequest": {
        **_MEDICATION_COMMON,
        "authoredOn": None,
        "dispenseRequest": {
            "validityPeriod": PERIOD,
            "expectedSupplyDuration": QUANTITY,
            "numberOfRepeatsAllowed": None,
        },
    },
    "MedicationDispense": {
        **_MEDICATION_COMMON,
        "whenHandedOver": None,
        "whenPrepared": None,
        "daysSupply": QUANTITY,
        "quantity": {"value": None},
    },
    "Medication": {
        "id": None,
        "code": CONCEPT,
        "identifier": IDENTIFIER,
        "ingredient": {
            "itemCodeableConcept": CONCEPT,
            "itemReference": REFERENCE,
            "strength": {"numerator": QUANTITY, "denominator": QUANTITY},
        },
    },
    "AllergyIntolerance": {
        "id": None,
        "verificationStatus": CONCEPT,
        "code": CONCEPT,
        "reaction": {"substance": CONCEPT},  # the substance may be named only here
    },
    "Procedure": {
        "id": None,
        "status": None,
        "code": CONCEPT,
        "performedDateTime": None,
        "performedPeriod": PERIOD,
    },
}

# Resources inside `contained` that the fact builders read (a MedicationStatement's #med reference).
CONTAINED_READ: frozenset[str] = frozenset({"Medication"})


def _not_a_field(owner: str, key: str) -> Callable[[object], object]:
    def refuse(value: object) -> object:
        if value is None:
            return value
        raise PydanticCustomError(
            "extra_forbidden", "Extra inputs are not permitted (not a field of {owner})", {"owner": owner}
        )

    return refuse


def _model_class(abc_type: object) -> type[BaseModel] | None:
    """The R4B model behind a fhir.resources annotation such as `abc.CodeableConceptType`."""
    path = getattr(abc_type, "_model_klass", None)
    if not isinstance(path, str):
        return None
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _replace(annotation: Any, sub: Spec | None, owner: str) -> Any:
    """`annotation` with every R4B complex type replaced by its projection on `sub`."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return annotation  # a fhir_core primitive: kept exactly
    if origin in (Union, getattr(__import__("types"), "UnionType", Union)):
        args = tuple(_replace(a, sub, owner) for a in typing.get_args(annotation))
        return Union[args]  # noqa: UP007 - a runtime-built Union
    if origin in (list, typing.List):  # noqa: UP006 - fhir.resources annotates with typing.List
        (item,) = typing.get_args(annotation)
        return list[_replace(item, sub, owner)]  # type: ignore[misc]
    if annotation is type(None):
        return annotation
    model = _model_class(annotation)
    if model is not None:
        if sub is None:
            raise TypeError(f"{owner}: a complex field needs the list of its sub-fields in READS")
        return project(model, _freeze(sub))
    return annotation


def _freeze(spec: Spec) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, _freeze(v) if isinstance(v, dict) else None) for k, v in spec.items()))


def _thaw(frozen: tuple[tuple[str, Any], ...]) -> Spec:
    return {k: (_thaw(v) if v is not None else None) for k, v in frozen}


@cache
def project(model: type[BaseModel], frozen_spec: tuple[tuple[str, Any], ...]) -> type[BaseModel]:
    """A pydantic model with only the fields of `model` named in the spec, typed as in `model`."""
    spec = _thaw(frozen_spec)
    by_alias = {(info.alias or name): (name, info) for name, info in model.model_fields.items()}
    fields: dict[str, Any] = {}
    required_primitives: list[str] = []
    groups: dict[str, tuple[list[str], bool]] = {}
    for alias, (_name, info) in by_alias.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        group = extra.get("one_of_many")
        if isinstance(group, str):
            variants, _ = groups.get(group, ([], False))
            groups[group] = ([*variants, alias], bool(extra.get("one_of_many_required")))
    owner = model.__name__
    for key, sub in spec.items():
        found = by_alias.get(key)
        if found is None:
            fields[f"x_{key}"] = (
                Annotated[Any, BeforeValidator(_not_a_field(owner, key))],
                Field(None, alias=key),
            )
            continue
        name, info = found
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        annotation = _replace(info.annotation, sub, f"{owner}.{key}")
        if extra.get("element_required"):
            required_primitives.append(key)
        # Required-ness as in R4B: complex elements are pydantic-required there; required primitives
        # are checked below (their value may sit in the `_key` extension instead).
        default: Any = ... if info.is_required() else None
        fields[f"f_{name}"] = (annotation, Field(default, alias=key))
    read_groups = {g: v for g, v in groups.items() if any(k in spec for k in v[0])}
    validators: dict[str, Any] = {}
    if required_primitives or read_groups:
        validators["check_elements"] = model_validator(mode="before")(
            _element_checker(tuple(required_primitives), read_groups)
        )
    return create_model(
        f"Lean{owner}",
        __config__=ConfigDict(extra="ignore", populate_by_name=False),
        __validators__=validators,
        **fields,
    )


def _element_checker(
    required: tuple[str, ...], groups: dict[str, tuple[list[str], bool]]
) -> Callable[[type[BaseModel], Any], Any]:
    def check(cls: type[BaseModel], data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for group, (variants, must) in groups.items():
            present = [v for v in variants if data.get(v) is not None]
            if len(present) > 1:
                raise PydanticCustomError(
                    "value_error",
                    "{group}[x]: only one of {present} may be given",
                    {"group": group, "present": ", ".join(present)},
                )
            if must and not present:
                raise PydanticCustomError(
                    "value_error",
                    "{group}[x] is required (one of {variants})",
                    {"group": group, "variants": ", ".join(variants)},
                )
        for key in required:
            if data.get(key) is None:
                if data.get(f"_{key}") is None:
                    raise PydanticCustomError(
                        "missing", "Value for the field '{key}' is required.", {"key": key}
                    )
                # The value is carried only by its extension (`_key`): valid FHIR, nothing to read.
                data = {**data, key: None}
        return data

    return check


@cache
def lean_model(resource_type: str) -> type[BaseModel] | None:
    """The projection of `resource_type`'s R4B model, or None for a type no fact reads."""
    spec = READS.get(resource_type)
    if spec is None:
        return None
    from fhir.resources.R4B import get_fhir_model_class

    return project(get_fhir_model_class(resource_type), _freeze(spec))
