"""Gather the patient's FHIR data for one hook call: prefetch first, the client's FHIR server second.

Prefetch semantics (CDS Hooks 2.0.1, "Prefetch Template"):
- a key that is present is used; its value is a searchset Bundle or a single resource;
- a key whose value is null means the client ran the query and found nothing;
- an omitted key, an OperationOutcome, a Bundle carrying an error outcome or a Bundle with a
  `next` page is fetched from `fhirServer` (with `fhirAuthorization.access_token` as bearer);
- required data that cannot be had raises `DataUnavailable` (the route answers 412).

Nothing here logs patient data: reasons name keys, HTTP statuses and timeouts only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from cds.service.catalog import PREFETCH, PrefetchQuery
from cds.service.models import HookRequest

MAX_PAGES = 50  # bound on `next` links followed per query
_ERROR_SEVERITIES = {"error", "fatal"}

KeyStatus = Literal["prefetched", "fetched", "absent", "missing"]


class DataUnavailable(Exception):
    """Required data could not be had: no safe answer can be given (HTTP 412)."""

    def __init__(self, missing: list[tuple[PrefetchQuery, str]]) -> None:
        self.missing = missing
        super().__init__("; ".join(f"{q.key}: {reason}" for q, reason in missing))


class PrefetchInvalid(ValueError):
    """Prefetched data that contradicts the request (wrong resource type, another patient): HTTP 400."""


class _FetchFailed(Exception):
    pass


@dataclass
class KeyResult:
    query: PrefetchQuery
    status: KeyStatus
    resources: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None


@dataclass
class Gathered:
    results: dict[str, KeyResult]

    @property
    def resources(self) -> list[dict[str, Any]]:
        """All resources, de-duplicated by type and id (overlapping queries, e.g. Observations)."""
        seen: set[tuple[str, str]] = set()
        out: list[dict[str, Any]] = []
        for result in self.results.values():
            for resource in result.resources:
                rid = resource.get("id")
                if isinstance(rid, str):
                    ident = (str(resource.get("resourceType")), rid)
                    if ident in seen:
                        continue
                    seen.add(ident)
                out.append(resource)
        return out

    @property
    def missing(self) -> list[KeyResult]:
        return [r for r in self.results.values() if r.status == "missing"]

    def status_of(self, key: str) -> KeyStatus:
        return self.results[key].status


async def gather(
    request: HookRequest,
    patient_id: str,
    *,
    timeout_s: float,
    allow_http: bool,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Gathered:
    results: dict[str, KeyResult] = {}
    to_fetch: list[PrefetchQuery] = []
    prefetch = request.prefetch or {}
    for query in PREFETCH:
        if query.key not in prefetch:
            to_fetch.append(query)
            continue
        result = _from_prefetch(query, prefetch[query.key], patient_id)
        if result is None:
            to_fetch.append(query)
        else:
            results[query.key] = result

    if to_fetch:
        fetched = await _fetch_all(
            request, patient_id, to_fetch, timeout_s=timeout_s, allow_http=allow_http, transport=transport
        )
        results.update(fetched)

    ordered = {q.key: results[q.key] for q in PREFETCH}
    fatal = [
        (r.query, r.reason or "not available")
        for r in ordered.values()
        if r.query.required and r.status == "missing"
    ]
    patient = ordered["patient"]
    if patient.status == "absent":
        fatal.insert(0, (patient.query, "the CDS client reported no Patient resource"))
    if fatal:
        raise DataUnavailable(fatal)
    return Gathered(ordered)


# --- prefetch ---------------------------------------------------------------------------------


def _from_prefetch(query: PrefetchQuery, value: dict[str, Any] | None, patient_id: str) -> KeyResult | None:
    """The result of a prefetched key, or None when the service must fetch it itself."""
    if value is None:
        return KeyResult(query, "absent")
    rtype = value.get("resourceType")
    if rtype == "OperationOutcome":
        return None
    if rtype == "Bundle":
        if _next_link(value) is not None:
            return None  # a paginated prefetch: fetch the whole query (equivalent data, spec)
        try:
            resources = _bundle_resources(value)
        except _FetchFailed:
            return None
    elif isinstance(rtype, str):
        resources = [value]
    else:
        raise PrefetchInvalid(f"prefetch.{query.key} is not a FHIR resource (no resourceType)")
    _check_resources(query, resources, patient_id, where=f"prefetch.{query.key}")
    return KeyResult(query, "prefetched", resources)


def _check_resources(
    query: PrefetchQuery, resources: list[dict[str, Any]], patient_id: str, *, where: str
) -> None:
    expected = query.template.split("?", 1)[0].split("/", 1)[0]
    if query.kind == "read":
        if len(resources) != 1 or resources[0].get("resourceType") != expected:
            raise PrefetchInvalid(f"{where} must be a single {expected} resource")
        if resources[0].get("id") != patient_id:
            raise PrefetchInvalid(f"{where} is a different Patient than context.patientId")
        return
    for index, resource in enumerate(resources):
        for ref_field in ("subject", "patient"):
            ref = resource.get(ref_field)
            if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
                other = _patient_id_of(ref["reference"])
                if other is not None and other != patient_id:
                    raise PrefetchInvalid(
                        f"{where} entry {index} ({resource.get('resourceType')}) belongs to another patient"
                    )


def _patient_id_of(reference: str) -> str | None:
    # Relative "Patient/1" or absolute ".../Patient/1"; urn:uuid and contained refs cannot be compared.
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Patient":
        return parts[-1]
    if len(parts) >= 4 and parts[-4] == "Patient" and parts[-2] == "_history":
        return parts[-3]
    return None


def _bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        mode = (entry.get("search") or {}).get("mode")
        if resource.get("resourceType") == "OperationOutcome":
            # Warnings (e.g. "results truncated to 1000") are dropped; an error means the data is incomplete.
            if any(i.get("severity") in _ERROR_SEVERITIES for i in resource.get("issue") or []):
                raise _FetchFailed("the search reported an error")
            continue
        if mode == "outcome":
            continue
        resources.append(resource)
    return resources


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


# --- fetch ------------------------------------------------------------------------------------


async def _fetch_all(
    request: HookRequest,
    patient_id: str,
    queries: list[PrefetchQuery],
    *,
    timeout_s: float,
    allow_http: bool,
    transport: httpx.AsyncBaseTransport | None,
) -> dict[str, KeyResult]:
    base = request.fhirServer
    if base is None:
        return {
            q.key: KeyResult(q, "missing", reason="not prefetched and no fhirServer given") for q in queries
        }
    if urlsplit(base).scheme != "https" and not allow_http:
        return {
            q.key: KeyResult(q, "missing", reason="not prefetched; fhirServer is not https (refused)")
            for q in queries
        }
    headers = {"Accept": "application/fhir+json"}
    if request.fhirAuthorization is not None:
        headers["Authorization"] = f"Bearer {request.fhirAuthorization.access_token}"

    results: dict[str, KeyResult] = {}
    async with httpx.AsyncClient(
        headers=headers, timeout=timeout_s, follow_redirects=False, transport=transport
    ) as client:
        tasks = {asyncio.create_task(_fetch_one(client, base, q, patient_id)): q for q in queries}
        _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for task, query in tasks.items():
            if task in pending:
                results[query.key] = KeyResult(
                    query, "missing", reason=f"FHIR server did not answer within {timeout_s:g} s"
                )
                continue
            exc = task.exception()
            if isinstance(exc, _FetchFailed):
                results[query.key] = KeyResult(query, "missing", reason=str(exc))
            elif isinstance(exc, httpx.TimeoutException):
                results[query.key] = KeyResult(query, "missing", reason="FHIR server timed out")
            elif isinstance(exc, httpx.HTTPError):
                results[query.key] = KeyResult(query, "missing", reason="FHIR server unreachable")
            elif exc is not None:
                raise exc
            else:
                results[query.key] = task.result()
    return results


async def _fetch_one(
    client: httpx.AsyncClient, base: str, query: PrefetchQuery, patient_id: str
) -> KeyResult:
    url: str | None = f"{base}/{query.render(patient_id)}"
    resources: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        assert url is not None
        response = await client.get(url)
        if query.kind == "read" and response.status_code in (404, 410):
            return KeyResult(query, "missing", reason="not found on the FHIR server")
        if response.status_code != 200:
            raise _FetchFailed(f"FHIR server answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise _FetchFailed("FHIR server answered with invalid JSON") from None
        if not isinstance(body, dict):
            raise _FetchFailed("FHIR server answered with something other than a resource")
        if query.kind == "read":
            _check_fetched(query, [body], patient_id)
            return KeyResult(query, "fetched", [body])
        if body.get("resourceType") != "Bundle":
            raise _FetchFailed("FHIR server answered a search with something other than a Bundle")
        resources.extend(_bundle_resources(body))
        url = _next_link(body)
        if url is None:
            _check_fetched(query, resources, patient_id)
            return KeyResult(query, "fetched", resources)
        if not _same_server(url, base):
            # Never send the access token anywhere but the client's FHIR server.
            raise _FetchFailed("a next-page link points outside fhirServer")
    raise _FetchFailed(f"more than {MAX_PAGES} result pages")


def _check_fetched(query: PrefetchQuery, resources: list[dict[str, Any]], patient_id: str) -> None:
    try:
        _check_resources(query, resources, patient_id, where=query.key)
    except PrefetchInvalid:
        raise _FetchFailed("FHIR server returned data that does not belong to the patient") from None


def _same_server(url: str, base: str) -> bool:
    u, b = urlsplit(url), urlsplit(base)
    return (u.scheme, u.netloc) == (b.scheme, b.netloc) and u.path.startswith(b.path)
