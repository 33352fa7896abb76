"""Validate the resources the engine reads, with fhir.resources' R4B models.

fhir.resources is the definition of valid FHIR here. Full validation costs about 35x the JSON
parse (shared/notes/DEPENDENCIES.md), so resource types that no fact reads are skipped before
any model is built; an unknown resourceType is an error, not a KeyError.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from pydantic import ValidationError

from cds.errors import InputError
from cds.ingest.load import RawResource
from cds.paths import fhir_dir

# The resource types that become facts. Everything else is skipped unvalidated.
USED_TYPES: frozenset[str] = frozenset(
    {
        "Patient", "Condition", "Observation", "MedicationRequest", "MedicationStatement",
        "MedicationDispense", "MedicationAdministration", "Medication", "AllergyIntolerance", "Procedure",
    }
)


@cache
def known_types() -> frozenset[str]:
    data = orjson.loads((fhir_dir() / "resource-types.json").read_bytes())
    return frozenset(data["types"])


def select_and_validate(resources: list[RawResource], *, strict: bool = False) -> list[RawResource]:
    """The resources of used types, each validated; raises InputError on the first bad one.

    `strict` validates every resource, used or not (slow; for agreement tests)."""
    from fhir.resources.R4B import get_fhir_model_class

    kept: list[RawResource] = []
    known = known_types()
    for res in resources:
        rtype = res.type
        if rtype not in known:
            raise InputError(f"unknown resourceType {rtype!r}", location=res.origin)
        if rtype not in USED_TYPES and not strict:
            continue
        if rtype == "Bundle":
            continue  # already unwrapped by the loader
        model = get_fhir_model_class(rtype)
        try:
            model.model_validate(res.data)
        except ValidationError as exc:
            raise InputError(_describe(exc, res.data), location=f"{res.origin} ({res.ref})") from None
        if rtype in USED_TYPES:
            kept.append(res)
    return kept


def _describe(exc: ValidationError, data: dict[str, Any]) -> str:
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"] if p != "__root__") or "(resource)"
    value = first.get("input")
    shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r:.60})"
    more = f" (+{len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{loc}: {first['msg']}{shown}{more}"
