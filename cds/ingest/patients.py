"""One patient, whole: copies of the same Patient (a searchset's `_include` returns it on every page)
are one patient, and a resource whose subject/patient reference names another patient is refused.

Run on every resource before validation and selection (`cds.pipeline.evaluate`), so `cds check`,
`cds screen` and the service refuse the same input with the same message."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import orjson

from cds.errors import InputError
from cds.ingest.load import RawResource

# Elements that point at the patient a resource is about (FHIR R4: Observation/Condition/
# MedicationRequest/MedicationStatement/MedicationDispense/Procedure/Encounter.subject,
# AllergyIntolerance/Immunization/Coverage-less .patient).
PATIENT_FIELDS = ("subject", "patient")
_PATIENT_READ = ("birthDate", "gender", "deceasedBoolean", "deceasedDateTime", "extension")


def one_patient(resources: list[RawResource]) -> list[RawResource]:
    """`resources` with copies of the one Patient merged; raises InputError naming the resource and
    field of any reference to a different patient. With zero or several distinct Patients the list
    comes back unchanged (the fact builder says what is wrong)."""
    patients = [r for r in resources if r.data.get("resourceType") == "Patient"]
    ids = {p.ref for p in patients}
    if len(ids) != 1:
        return resources
    keep = _newest(patients)
    me = _Identity(keep, resources)
    out = resources if len(patients) == 1 else [r for r in resources if r.type != "Patient" or r is keep]
    seen: dict[str, bool] = {}  # most references are one of a few strings: judge each once
    for res in out:
        if res is keep:
            continue
        data = res.data
        for name in PATIENT_FIELDS:
            ref = data.get(name)
            if not isinstance(ref, dict):
                continue
            literal = ref.get("reference")
            if isinstance(literal, str) and len(ref) == 1:
                other = seen.get(literal)
                if other is None:
                    other = seen[literal] = me.other(ref)
            else:
                other = me.other(ref)
            if other:
                shown = ref.get("reference") or _identifier_text(ref.get("identifier"))
                raise InputError(
                    f"{name} references another patient ({shown!s:.80}), not {keep.ref}: "
                    "the input must hold one patient's record",
                    location=f"{res.origin} ({res.ref})",
                )
    return out


def _newest(copies: list[RawResource]) -> RawResource:
    """One of several copies of a Patient: the highest meta.versionId / lastUpdated; identical or
    equivalent copies are one. Copies that differ in what the facts read, with nothing saying which
    is newer, are refused: either could be wrong."""
    if len(copies) == 1:
        return copies[0]

    def version(r: RawResource) -> tuple[int, str]:
        raw = r.data.get("meta")
        meta: dict[str, Any] = raw if isinstance(raw, dict) else {}
        vid = str(meta.get("versionId") or "")
        return (int(vid) if vid.isdigit() else -1, str(meta.get("lastUpdated") or ""))

    ranked = sorted(copies, key=version, reverse=True)
    top = ranked[0]
    for other in ranked[1:]:
        if version(other) != version(top) or _read(other) == _read(top):
            continue
        raise InputError(
            f"{top.ref} appears twice with different {_differs(top, other)} and no meta.versionId or "
            f"meta.lastUpdated saying which is current (also at {other.origin})",
            location=top.origin,
        )
    return top


def _read(r: RawResource) -> bytes:
    return orjson.dumps({k: r.data.get(k) for k in _PATIENT_READ}, option=orjson.OPT_SORT_KEYS)


def _differs(a: RawResource, b: RawResource) -> str:
    return ", ".join(k for k in _PATIENT_READ if a.data.get(k) != b.data.get(k)) or "content"


class _Identity:
    """The ways a reference can name the Patient of the input."""

    def __init__(self, patient: RawResource, resources: list[RawResource]) -> None:
        pid = str(patient.data.get("id") or "")
        self.ids = {pid}
        self.urls = {patient.full_url} if patient.full_url else set()
        self._resources = resources
        for link in patient.data.get("link") or []:
            # Patient.link (replaces, replaced-by, refer, seealso): the same person under another id.
            other = link.get("other") if isinstance(link, dict) else None
            if isinstance(other, dict) and isinstance(other.get("reference"), str):
                self.ids.add(_logical_id(other["reference"]) or "")
        self.identifiers = {
            (str(i.get("system") or ""), str(i.get("value") or ""))
            for i in patient.data.get("identifier") or []
            if isinstance(i, dict) and i.get("value")
        }

    def other(self, ref: dict[str, Any]) -> bool:
        """True when the Reference provably names a different patient."""
        literal = ref.get("reference")
        if isinstance(literal, str) and literal.strip():
            return self._other_literal(literal.strip())
        rtype = ref.get("type")
        if rtype not in (None, "Patient"):
            return False
        ident = ref.get("identifier")
        if isinstance(ident, dict) and ident.get("value"):
            return self._other_identifier(str(ident.get("system") or ""), str(ident["value"]))
        return False  # a display-only reference names no one: nothing to compare

    @cached_property
    def not_patients(self) -> set[str]:
        """fullUrls of the other resources: a urn: reference to a Group, Location ... of the same
        bundle is not a patient reference. Built only when a reference would otherwise name another
        patient (rare: most records never need it)."""
        return {r.full_url for r in self._resources if r.full_url and r.data.get("resourceType") != "Patient"}

    def _other_literal(self, literal: str) -> bool:
        if literal.startswith("#"):
            return False  # a contained resource
        if literal in self.urls:
            return False
        return self._names_another(literal) and literal not in self.not_patients

    def _names_another(self, literal: str) -> bool:
        if literal.startswith("urn:"):
            # urn:uuid / urn:oid: the Patient's fullUrl, or its id when the bundle reused it.
            return literal.rsplit(":", 1)[-1] not in self.ids
        if "?" in literal:
            rtype, _, query = literal.partition("?")
            if rtype.rsplit("/", 1)[-1] != "Patient" or not query.startswith("identifier="):
                return False
            system, _, value = query.removeprefix("identifier=").rpartition("|")
            return self._other_identifier(system, value)
        parts = literal.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) < 2 or parts[-2] != "Patient":
            return False  # a Group, Location, Device ... subject: not a patient
        return parts[-1] not in self.ids

    def _other_identifier(self, system: str, value: str) -> bool:
        if (system, value) in self.identifiers:
            return False
        # Provably another patient only when the Patient has an identifier in that system.
        return any(s == system for s, _ in self.identifiers)


def _logical_id(reference: str) -> str | None:
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return parts[-1] if parts else None


def _identifier_text(ident: object) -> str:
    if isinstance(ident, dict):
        return f"identifier {ident.get('system') or ''}|{ident.get('value') or ''}"
    return "an identifier"
