"""Gather the patient's FHIR data for one hook call: prefetch first, the client's FHIR server second.

Prefetch semantics (CDS Hooks 2.0.1, "Prefetch Template"):
- a key that is present is used; its value is a searchset Bundle or a single resource;
- a key whose value is null means the client ran the query and found nothing;
- an omitted key, an OperationOutcome, a Bundle carrying an error outcome or a Bundle with a
  `next` page is fetched from `fhirServer` (with `fhirAuthorization.access_token` as bearer);
- required data that cannot be had raises `DataUnavailable` (the route answers 412).

What the client's fhirServer may be is decided by the caller (`FetchPolicy`): only servers on the
authenticated client's allow-list, only https unless allowed, never a `next` link off that server.
Responses are capped in size, before and after decompression. The reasons carried to the 412
diagnostics say only that a key could not be read: which host answered what stays in the log
(without URLs or patient ids), so a caller cannot map the network through this service.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import SplitResult, unquote, urlsplit

import httpx
import orjson

from cds import errors
from cds.errors import InputError
from cds.security.issuers import normalise_base
from cds.service.catalog import PREFETCH, PrefetchQuery
from cds.service.models import HookRequest

MAX_PAGES = 50  # bound on `next` links followed per query
_ERROR_SEVERITIES = {"error", "fatal"}
_NOT_READ = "not prefetched, and could not be read from fhirServer"

log = logging.getLogger("cds.service")

KeyStatus = Literal["prefetched", "fetched", "absent", "missing"]


class DataUnavailable(errors.DataUnavailable):
    """Required data could not be had: no safe answer can be given (HTTP 412)."""

    def __init__(self, missing: list[tuple[PrefetchQuery, str]]) -> None:
        self.missing = missing
        super().__init__("; ".join(f"{q.key}: {reason}" for q, reason in missing))


class PrefetchInvalid(InputError):
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


@dataclass(frozen=True)
class FetchPolicy:
    """Where and how much the service may fetch for one call."""

    timeout_s: float
    allow_http: bool
    # Normalised base URLs the calling client may name as fhirServer; None: any (auth off, no list).
    fhir_servers: frozenset[str] | None
    max_response_bytes: int  # as sent (compressed)
    max_decoded_bytes: int  # after decompression


def _refusal(base: str, policy: FetchPolicy) -> str | None:
    """Why the client's fhirServer may not be contacted at all, or None."""
    if policy.fhir_servers is not None and normalise_base(base) not in policy.fhir_servers:
        return "not prefetched; fhirServer is not on this client's list of FHIR servers (refused)"
    if urlsplit(base).scheme != "https" and not policy.allow_http:
        return "not prefetched; fhirServer is not https (refused)"
    return None


async def gather(
    request: HookRequest,
    patient_id: str,
    policy: FetchPolicy,
    *,
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
        fetched = await _fetch_all(request, patient_id, to_fetch, policy, transport=transport)
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
    where = f"prefetch.{query.key}"
    rtype = value.get("resourceType")
    if rtype == "OperationOutcome":
        return None
    if rtype == "Bundle":
        if _next_link(value) is not None:
            return None  # a paginated prefetch: fetch the whole query (equivalent data, spec)
        try:
            resources = _bundle_resources(value, where)
        except _FetchFailed:
            return None
    elif isinstance(rtype, str):
        resources = [value]
    else:
        raise PrefetchInvalid(f"{where} is not a FHIR resource (no resourceType)")
    _check_resources(query, resources, patient_id, where=where)
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


def _bundle_resources(bundle: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The resources of a searchset. A shape that is not FHIR's raises PrefetchInvalid naming the
    field: silently reading an `entry` object as "no entries" would hide the patient's data."""
    entries = bundle.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise PrefetchInvalid(f"{where}.entry must be a list")
    resources: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        at = f"{where}.entry[{index}]"
        if not isinstance(entry, dict):
            raise PrefetchInvalid(f"{at} must be an object")
        resource = entry.get("resource")
        if resource is None:
            continue
        if not isinstance(resource, dict):
            raise PrefetchInvalid(f"{at}.resource must be an object")
        search = entry.get("search")
        if search is not None and not isinstance(search, dict):
            raise PrefetchInvalid(f"{at}.search must be an object")
        if resource.get("resourceType") == "OperationOutcome":
            # Warnings (e.g. "results truncated to 1000") are dropped; an error means the data is incomplete.
            if _reports_error(resource, f"{at}.resource"):
                raise _FetchFailed("the search reported an error")
            continue
        if (search or {}).get("mode") == "outcome":
            continue
        resources.append(resource)
    return resources


def _reports_error(outcome: dict[str, Any], where: str) -> bool:
    issues = outcome.get("issue")
    if issues is None:
        return False
    if not isinstance(issues, list) or not all(isinstance(i, dict) for i in issues):
        raise PrefetchInvalid(f"{where}.issue must be a list of objects")
    return any(i.get("severity") in _ERROR_SEVERITIES for i in issues)


def _next_link(bundle: dict[str, Any]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


# --- fetch ------------------------------------------------------------------------------------


async def _fetch_all(
    request: HookRequest,
    patient_id: str,
    queries: list[PrefetchQuery],
    policy: FetchPolicy,
    *,
    transport: httpx.AsyncBaseTransport | None,
) -> dict[str, KeyResult]:
    base = request.fhirServer
    refused = "not prefetched and no fhirServer given" if base is None else _refusal(base, policy)
    if refused is not None or base is None:
        return {q.key: KeyResult(q, "missing", reason=refused) for q in queries}
    headers = {"Accept": "application/fhir+json"}
    if request.fhirAuthorization is not None:
        headers["Authorization"] = f"Bearer {request.fhirAuthorization.access_token}"

    results: dict[str, KeyResult] = {}
    async with httpx.AsyncClient(
        headers=headers, timeout=policy.timeout_s, follow_redirects=False, transport=transport
    ) as client:
        fetcher = _Fetcher(client, base, patient_id, policy)
        tasks = {asyncio.create_task(fetcher.fetch(q)): q for q in queries}
        _done, pending = await asyncio.wait(tasks, timeout=policy.timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for task, query in tasks.items():
            results[query.key] = _result(task, query, pending)
    return results


def _result(task: asyncio.Task[KeyResult], query: PrefetchQuery, pending: set[Any]) -> KeyResult:
    """A fetch's result; a failure is logged by kind (no URL, no patient id) and reported generically."""
    if task in pending:
        log.warning("FHIR fetch for %s: no answer within the time budget", query.key)
        return KeyResult(query, "missing", reason=_NOT_READ)
    exc = task.exception()
    if exc is None:
        return task.result()
    if isinstance(exc, _FetchFailed):
        log.warning("FHIR fetch for %s failed: %s", query.key, exc)
    elif isinstance(exc, httpx.HTTPError):
        log.warning("FHIR fetch for %s failed: %s", query.key, type(exc).__name__)
    else:
        raise exc
    return KeyResult(query, "missing", reason=_NOT_READ)


@dataclass(frozen=True)
class _Fetcher:
    client: httpx.AsyncClient
    base: str
    patient_id: str
    policy: FetchPolicy

    async def fetch(self, query: PrefetchQuery) -> KeyResult:
        url: str | None = f"{self.base}/{query.render(self.patient_id)}"
        resources: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            assert url is not None
            status, body = await self._get(url)
            if query.kind == "read" and status in (404, 410):
                log.info("FHIR fetch for %s: not found", query.key)
                return KeyResult(query, "missing", reason=_NOT_READ)
            if status != 200:
                raise _FetchFailed(f"HTTP {status}")
            if query.kind == "read":
                _check_fetched(query, [body], self.patient_id)
                return KeyResult(query, "fetched", [body])
            if body.get("resourceType") != "Bundle":
                raise _FetchFailed("a search answered with something other than a Bundle")
            try:
                resources.extend(_bundle_resources(body, query.key))
            except PrefetchInvalid as exc:
                raise _FetchFailed(f"malformed Bundle ({exc})") from None
            url = _next_link(body)
            if url is None:
                _check_fetched(query, resources, self.patient_id)
                return KeyResult(query, "fetched", resources)
            if not same_server(url, self.base):
                # Never send the access token anywhere but the client's FHIR server.
                raise _FetchFailed("a next-page link points outside fhirServer")
        raise _FetchFailed(f"more than {MAX_PAGES} result pages")

    async def _get(self, url: str) -> tuple[int, dict[str, Any]]:
        """Status and JSON object of one GET, reading at most the caps (as sent, and decompressed)."""
        policy = self.policy
        async with self.client.stream("GET", url) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > policy.max_response_bytes:
                raise _FetchFailed("response larger than the size cap")
            if response.status_code != 200:
                return response.status_code, {}
            chunks: list[bytes] = []
            decoded = 0
            async for chunk in response.aiter_bytes():
                decoded += len(chunk)
                if response.num_bytes_downloaded > policy.max_response_bytes:
                    raise _FetchFailed("response larger than the size cap")
                if decoded > policy.max_decoded_bytes:
                    raise _FetchFailed("response larger than the decompressed-size cap")
                chunks.append(chunk)
        try:
            body = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            raise _FetchFailed("invalid JSON") from None
        if not isinstance(body, dict):
            raise _FetchFailed("an answer that is not a resource")
        return 200, body


def _check_fetched(query: PrefetchQuery, resources: list[dict[str, Any]], patient_id: str) -> None:
    try:
        _check_resources(query, resources, patient_id, where=query.key)
    except PrefetchInvalid:
        raise _FetchFailed("data that does not belong to the patient") from None


def same_server(url: str, base: str) -> bool:
    """Whether `url` is on the FHIR server at `base`: same scheme, host and port, no user info, and
    the base's path segments as a prefix of its own ('/fhir' does not cover '/fhir-admin'), with no
    '.' or '..' segment that could climb out of it."""
    u, b = urlsplit(url), urlsplit(base)
    if u.username is not None or u.password is not None:
        return False
    try:
        if _origin(u) != _origin(b):
            return False
    except ValueError:  # a port that is not a number
        return False
    segments = [unquote(s) for s in u.path.split("/")]
    if any(s in {".", ".."} for s in segments):
        return False
    base_segments = [s for s in b.path.split("/") if s]
    return [s for s in segments if s][: len(base_segments)] == base_segments


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"https": 443, "http": 80}.get(scheme)
