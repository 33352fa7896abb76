"""Validate the resources the engine reads.

fhir.resources (R4B) is the definition of valid FHIR here. Full validation costs about 35x the
JSON parse (shared/notes/DEPENDENCIES.md), so by default (the fast path) resource types no fact
reads are skipped and the others are checked against projections of their R4B models onto the
fields the facts read (`cds.ingest.lean`): a bad value in a field the rules read is refused with
the same rule as full validation, at a tenth of the cost. `strict=True` validates every resource,
used or not, with the full R4B models. An unknown resourceType is an error in both modes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from cds.errors import InputError
from cds.ingest.lean import CONTAINED_READ, READS, lean_model
from cds.ingest.load import RawResource
from cds.paths import fhir_dir

# The resource types that become facts. Everything else is skipped unvalidated (fast path).
USED_TYPES: frozenset[str] = frozenset(READS)


@cache
def known_types() -> frozenset[str]:
    data = orjson.loads((fhir_dir() / "resource-types.json").read_bytes())
    return frozenset(data["types"])


def select_and_validate(
    resources: list[RawResource],
    *,
    strict: bool = False,
    relevant: Callable[[RawResource], bool] | None = None,
) -> list[RawResource]:
    """The resources of used types, each validated; raises InputError on the first bad one.

    Fast path: lean projections of the R4B models (fields the facts read); a resource `relevant`
    rejects (e.g. an Observation whose code no value set knows) is skipped unvalidated, like an
    unused type. `strict`: every resource, used or not, with the full R4B model (slow; `cds check
    --strict` and agreement tests)."""
    kept: list[RawResource] = []
    known = known_types()
    for res in resources:
        rtype = res.type
        if rtype not in known:
            raise InputError(f"unknown resourceType {rtype!r}", location=res.origin)
        wanted = rtype in USED_TYPES and (relevant is None or relevant(res))
        if strict:
            if rtype != "Bundle":  # already unwrapped by the loader
                _validate(_full_model(rtype), res.data, res)
        elif wanted:
            model = lean_model(rtype)
            assert model is not None  # USED_TYPES is READS' keys
            _validate(model, res.data, res)
            _validate_contained(res)
        if wanted:
            kept.append(res)
    return kept


def _full_model(rtype: str) -> type[BaseModel]:
    from fhir.resources.R4B import get_fhir_model_class

    model: type[BaseModel] = get_fhir_model_class(rtype)
    return model


def _validate(model: type[BaseModel], data: dict[str, Any], res: RawResource, prefix: str = "") -> None:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise InputError(prefix + _describe(exc), location=f"{res.origin} ({res.ref})") from None


def _validate_contained(res: RawResource) -> None:
    """Contained resources the facts read (a `#med` Medication) get the same lean check."""
    contained = res.data.get("contained")
    if contained is None:
        return
    if not isinstance(contained, list):
        raise InputError("contained: Input should be a valid list", location=f"{res.origin} ({res.ref})")
    for i, inner in enumerate(contained):
        rtype = inner.get("resourceType") if isinstance(inner, dict) else None
        if rtype in CONTAINED_READ:
            model = lean_model(str(rtype))
            assert model is not None
            _validate(model, inner, res, prefix=f"contained.{i}.")


def _describe(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"] if p != "__root__") or "(resource)"
    value = first.get("input")
    shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r:.60})"
    more = f" (+{len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{loc}: {first['msg']}{shown}{more}"
