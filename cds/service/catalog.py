"""The services this CDS server offers (discovery) and the FHIR data each one needs (prefetch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from cds.service.models import HookName, ServiceDescription

PATIENT_VIEW_SERVICE = "ketamine-cds-patient-view"
ORDER_SELECT_SERVICE = "ketamine-cds-order-select"
ORDER_SIGN_SERVICE = "ketamine-cds-order-sign"
# Both order hooks under one id (CDS_SHARED_ORDER_ID=on): order-sign cards replace order-select's.
ORDER_SERVICE = "ketamine-cds-order"
RULESET_EXTENSION = "org.ketamine-cds.ruleset-version"
PROFILE_EXTENSION = "org.ketamine-cds.profile"


@dataclass(frozen=True)
class PrefetchQuery:
    key: str
    template: str
    kind: Literal["read", "search"]
    # Required data missing means no safe answer (HTTP 412); optional data missing gives a card
    # that names what could not be checked.
    required: bool
    what: str  # plain words for cards and OperationOutcomes

    def render(self, patient_id: str) -> str:
        """The relative FHIR URL for this patient, for the service's own fallback fetch.

        Search parameters get the `Patient/<id>` reference form: equivalent under FHIR search
        rules, and some servers (Medplum) only match that form.
        """
        pid = quote(patient_id, safe="")
        query = self.template.replace("patient={{context.patientId}}", f"patient=Patient/{pid}")
        query = query.replace("{{context.patientId}}", pid)
        if "{{" in query:  # every template here uses only context.patientId
            raise ValueError(f"unrendered token in prefetch template {self.key}")
        return query


def prefetch_queries() -> tuple[PrefetchQuery, ...]:
    """The prefetch templates and fallback queries, generated from what the facts read
    (cds/facts/requirements.py) under the loaded knowledge: never listed by hand, so the service
    asks for exactly what `cds check` reads from a whole record."""
    from cds.facts.requirements import data_requirements
    from cds.knowledge import default_knowledge

    return tuple(
        PrefetchQuery(r.key, r.template(), r.kind, r.required, r.what)
        for r in data_requirements(default_knowledge())
    )


PREFETCH: tuple[PrefetchQuery, ...] = prefetch_queries()


def prefetch_from_record(
    resources: list[dict[str, Any]],
    patient_id: str,
    full_url: Callable[[dict[str, Any]], str] | None = None,
) -> dict[str, Any]:
    """The prefetch a CDS client would send for one patient's whole record: every template of
    PREFETCH answered as a FHIR server answers it (cds/ingest/search.py). `full_url` gives each
    entry a fullUrl (deterministic examples). Used by the example requests, the bench and the test
    that the service sees what `cds check` sees."""
    from cds.ingest.search import search

    out: dict[str, Any] = {}
    for query in PREFETCH:
        if query.kind == "read":
            out[query.key] = next(
                r for r in resources if r.get("resourceType") == "Patient" and r.get("id") == patient_id
            )
            continue
        found = search(query.template, resources, patient_id)
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(found)}
        if found:  # CDS Hooks: no empty arrays
            bundle["entry"] = [
                {**({"fullUrl": full_url(r)} if full_url else {}), "resource": r} for r in found
            ]
        out[query.key] = bundle
    return out


_USAGE = (
    "Needs the patient's Patient, Condition, MedicationRequest and AllergyIntolerance data, either "
    "prefetched or readable from fhirServer; answers HTTP 412 without them. Medication statements, "
    "dispenses, vital signs, screening observations and procedures are used when available; cards say "
    "what could not be checked. Calls must carry a JWT from a trusted CDS client."
)


@dataclass(frozen=True)
class Service:
    id: str
    hooks: tuple[HookName, ...]
    title: str
    description: str


_PATIENT_VIEW = Service(
    PATIENT_VIEW_SERVICE,
    ("patient-view",),
    "Ketamine/esketamine eligibility and safety summary",
    "When a chart is opened: whether the patient meets the treatment-resistant depression indication "
    "for esketamine (intranasal) or off-label IV ketamine, with contraindications, precautions, "
    "interactions and missing data to obtain.",
)
_ORDER_TITLE = "Ketamine/esketamine order check"
_ORDER_TEXT = (
    "When esketamine or IV ketamine is ordered: contraindications, precautions and interactions for "
    "the ordered product and a check of the ordered dose against the computed dose."
)


def services(*, shared_order_id: bool = False) -> dict[str, Service]:
    """The services by id. By default one id per hook, which every CDS client can call (the CDS Hooks
    Sandbox keys services by id and never calls a second entry with the same id). With
    `shared_order_id`, order-select and order-sign share one id, so that a client implementing the
    spec's "update stale guidance" replaces the order-select cards by the order-sign cards.
    """
    if shared_order_id:
        orders = [
            Service(
                ORDER_SERVICE,
                ("order-select", "order-sign"),
                _ORDER_TITLE,
                _ORDER_TEXT + " Guidance at order-sign replaces guidance given at order-select.",
            )
        ]
    else:
        orders = [
            Service(ORDER_SELECT_SERVICE, ("order-select",), _ORDER_TITLE + " (order selected)", _ORDER_TEXT),
            Service(ORDER_SIGN_SERVICE, ("order-sign",), _ORDER_TITLE + " (order signed)", _ORDER_TEXT),
        ]
    return {s.id: s for s in (_PATIENT_VIEW, *orders)}


def describe(catalogue: dict[str, Service], ruleset_version: str, profile: str) -> list[ServiceDescription]:
    """Discovery entries: one per (service, hook); a shared order id appears once per order hook."""
    prefetch = {q.key: q.template for q in PREFETCH}
    extension = {RULESET_EXTENSION: ruleset_version, PROFILE_EXTENSION: profile}
    return [
        ServiceDescription(
            hook=hook,
            id=service.id,
            title=service.title,
            description=service.description,
            prefetch=prefetch,
            usageRequirements=_USAGE,
            extension=extension,
        )
        for service in catalogue.values()
        for hook in service.hooks
    ]
