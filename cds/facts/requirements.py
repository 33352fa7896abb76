"""The FHIR data the facts read, derived from the fact builders and the knowledge (like CQL's data
requirements): which resource types, and for coded types which codes. The CDS Hooks service's
prefetch templates and its fallback queries are generated from these, never listed by hand, so
that the service asks for exactly what `cds check` reads from a whole record.

A search is narrowed by code only when every value set its builder reads can be enumerated
(explicit codes, no is-a filter or text matching); otherwise it asks for every resource of the
type and the builder filters, as it does on a whole record. Codes are sent without their system
(`code=8480-6`, which matches that code in any system): a record may carry LOINC under another
system URI the engine accepts as an alias, and a narrower search would then miss it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cds.facts.conditions import CONDITION_VALUESETS
from cds.facts.medications import MED_TYPES
from cds.facts.observations import OBSERVATION_VALUESETS, PROCEDURE_VALUESETS
from cds.facts.unplaced import PROCEDURE_IMPLIES
from cds.ingest.lean import READS
from cds.knowledge import Knowledge

PATIENT = "{{context.patientId}}"


@dataclass(frozen=True)
class CodedRead:
    """What the builders read of a coded resource type: resources whose `code` is in one of these
    value sets, and (`words`) uncoded or unplaced ones whose wording reads like an absolute concept
    (cds/facts/unplaced.py). The pre-validation filter (relevance.py) and the queries both use it."""

    valuesets: tuple[str, ...]
    words: bool


CODED_READS: dict[str, CodedRead] = {
    "Observation": CodedRead(tuple(OBSERVATION_VALUESETS), words=False),
    "Condition": CodedRead(tuple(CONDITION_VALUESETS), words=True),
    "Procedure": CodedRead((*PROCEDURE_VALUESETS, *PROCEDURE_IMPLIES), words=True),
}


@dataclass(frozen=True)
class DataRequirement:
    key: str  # the prefetch key
    resource_type: str
    kind: Literal["read", "search"]
    # Without required data there is no safe answer (the service answers 412); optional data
    # missing gives a card naming what could not be checked.
    required: bool
    what: str  # plain words for cards and OperationOutcomes
    valuesets: tuple[str, ...] = ()  # the builder reads only resources whose code is in these
    # _include parameters. None today: CDS Hooks recommends prefetch templates without them, so a
    # Medication referenced by an order is read when the record carries it (contained, bundled);
    # otherwise the medication is "unidentified" and never counts as an adequate trial.
    include: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()  # codes narrowing the search, when the value sets allow it

    def template(self) -> str:
        """The CDS Hooks prefetch template."""
        if self.kind == "read":
            return f"{self.resource_type}/{PATIENT}"
        query = f"{self.resource_type}?patient={PATIENT}"
        if self.codes:
            query += "&code=" + ",".join(self.codes)
        for inc in self.include:
            query += f"&_include={inc}"
        return query


# What each builder reads: (key, type, required, what, unused, _include); the codes of coded types
# come from CODED_READS.
_DECLARED: tuple[tuple[str, str, bool, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("patient", "Patient", True, "patient demographics", (), ()),
    ("conditions", "Condition", True, "conditions", (), ()),
    (
        "medicationRequests",
        "MedicationRequest",
        True,
        "medication orders",
        (),
        (),
    ),
    ("allergies", "AllergyIntolerance", True, "allergies", (), ()),
    (
        "medicationStatements",
        "MedicationStatement",
        False,
        "medication statements",
        (),
        (),
    ),
    (
        "medicationDispenses",
        "MedicationDispense",
        False,
        "medication dispenses",
        (),
        (),
    ),
    (
        "medicationAdministrations",
        "MedicationAdministration",
        False,
        "medication administrations",
        (),
        (),
    ),
    (
        "observations",
        "Observation",
        False,
        "observations (blood pressure, weight, PHQ-9, pregnancy status and tests, suicide risk, liver labs)",
        (),
        (),
    ),
    ("procedures", "Procedure", False, "procedures (ECT, aneurysm repair)", (), ()),
)


def data_requirements(knowledge: Knowledge) -> tuple[DataRequirement, ...]:
    out = []
    for key, rtype, required, what, _, include in _DECLARED:
        codes: tuple[str, ...] = ()
        coded = CODED_READS.get(rtype)
        valuesets = coded.valuesets if coded else ()
        if coded and not coded.words:  # entries read by their words cannot be narrowed by code
            codes = tuple(knowledge.valuesets.enumerate_codes(valuesets) or ())
        out.append(
            DataRequirement(
                key=key,
                resource_type=rtype,
                kind="read" if rtype == "Patient" else "search",
                required=required,
                what=what,
                valuesets=valuesets,
                include=include,
                codes=codes,
            )
        )
    return tuple(out)


def read_types() -> frozenset[str]:
    """Every resource type some fact reads (including referenced Medications)."""
    return frozenset(READS)


def _check_declarations() -> None:
    declared = {t for _, t, *_ in _DECLARED}
    missing = read_types() - declared - {"Medication"}
    assert not missing, f"facts read {sorted(missing)} but no data requirement declares them"
    assert set(MED_TYPES) <= declared


_check_declarations()
