"""A FHIR search over one patient's whole record, for the parameters the prefetch templates use
(`patient`, `code`, `category` as token searches, `_include=<Type>:medication`). It answers a
template the way a FHIR server would, so that a record can be turned into the prefetch a CDS client
would send (`tools/make_hook_examples.py`, and the test that the service sees what `cds check` sees)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from cds.errors import InputError

SUPPORTED = frozenset({"patient", "code", "category", "_include"})


def _reference(resource: dict[str, Any], element: str) -> str | None:
    value = resource.get(element)
    return value.get("reference") if isinstance(value, dict) else None


def _references_patient(resource: dict[str, Any], patient_id: str) -> bool:
    ref = _reference(resource, "subject") or _reference(resource, "patient")
    return ref in (f"Patient/{patient_id}", patient_id)


def _token_matches(resource: dict[str, Any], element: str, values: str) -> bool:
    """Token search over a CodeableConcept (or a list): `code` or `system|code`, OR-ed."""
    concepts = resource.get(element)
    concepts = concepts if isinstance(concepts, list) else [concepts] if concepts else []
    codings = [
        (c.get("system"), c.get("code"))
        for concept in concepts
        if isinstance(concept, dict)
        for c in concept.get("coding", [])
        if isinstance(c, dict)
    ]
    for wanted in values.split(","):
        system, _, code = wanted.rpartition("|")
        if any(code == c and (not system or system == s) for s, c in codings):
            return True
    return False


def search(query: str, resources: list[dict[str, Any]], patient_id: str) -> list[dict[str, Any]]:
    """The resources a FHIR server returns for `query` (`Type?param=...`, patient already filled in
    or left as a template token), matches first, then `_include`d resources."""
    resource_type, _, params = query.partition("?")
    pairs = parse_qsl(params)
    for name, _ in pairs:
        if name not in SUPPORTED:
            raise InputError(f"search parameter {name!r} is not supported here", location=query)
    includes = [value for name, value in pairs if name == "_include"]
    matches = []
    for resource in resources:
        if resource.get("resourceType") != resource_type or not _references_patient(resource, patient_id):
            continue
        if all(_token_matches(resource, n, v) for n, v in pairs if n in ("code", "category")):
            matches.append(resource)
    by_ref = {f"{r.get('resourceType')}/{r.get('id')}": r for r in resources}
    included: dict[str, dict[str, Any]] = {}
    for inc in includes:
        source, _, element = inc.partition(":")
        element = {"medication": "medicationReference"}.get(element, element)
        for m in matches:
            if m.get("resourceType") == source:
                ref = _reference(m, element)
                if ref in by_ref and ref not in included:
                    included[ref] = by_ref[ref]
    return matches + list(included.values())
