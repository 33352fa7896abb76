"""Optional FHIR terminology server: `$subsumes`, `$lookup`, `$expand` over httpx, cached, in a time budget.

Never required. Without a server (or when it is slow, down or unsure) the answer is the committed
expansion, and a SNOMED CT code the expansions do not list stays "unplaced" (see cds.terminology.text).
A server can only add matches (a descendant it confirms); it never removes one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from cds.terminology.valuesets import ValueSets

ENV_URL = "CDS_TERMINOLOGY_URL"
ENV_BUDGET = "CDS_TERMINOLOGY_BUDGET_S"
DEFAULT_BUDGET_S = 2.0
_CACHE_MAX = 50_000


@dataclass(frozen=True)
class Lookup:
    system: str
    code: str
    display: str | None


class Budget:
    """Time left for server calls in one piece of work (an assessment, a CLI lookup)."""

    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    @property
    def remaining_s(self) -> float:
        return max(0.0, self._deadline - time.monotonic())


class TerminologyClient:
    """One server and a cache of its answers shared by all work; each call runs
    within the caller's Budget (by default one budget for the client's life, for one-off use)."""

    def __init__(
        self,
        base_url: str,
        *,
        budget_s: float = DEFAULT_BUDGET_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._budget_s = budget_s
        self.budget = Budget(budget_s)
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(budget_s),
            transport=transport,
            headers={"Accept": "application/fhir+json"},
        )
        self._cache: dict[tuple[str, ...], Any] = {}
        self.calls = 0

    def __enter__(self) -> TerminologyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def new_budget(self) -> Budget:
        return Budget(self._budget_s)

    def _get(self, path: str, params: dict[str, str], budget: Budget) -> dict[str, Any] | None:
        """A JSON Parameters/ValueSet answer, or None (error, timeout, budget spent)."""
        left = budget.remaining_s
        if left <= 0:
            return None
        self.calls += 1
        try:
            resp = self._client.get(path, params=params, timeout=left)
            if resp.status_code != 200:
                return None
            data = resp.json()
            return data if isinstance(data, dict) else None
        except (httpx.HTTPError, ValueError):
            return None

    def _cached(
        self, key: tuple[str, ...], path: str, params: dict[str, str], budget: Budget | None
    ) -> dict[str, Any] | None:
        if key in self._cache:
            cached: dict[str, Any] | None = self._cache[key]
            return cached
        budget = budget or self.budget
        data = self._get(path, params, budget)
        if data is not None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()  # a long-running service: bounded memory, answers are cheap to re-ask
            self._cache[key] = data  # answers only: an error or timeout is asked again next time
        return data

    def subsumes(self, system: str, ancestor: str, code: str, budget: Budget | None = None) -> bool | None:
        """True when `code` is `ancestor` or below it; False when the server says not; None when unknown."""
        data = self._cached(
            ("subsumes", system, ancestor, code),
            "/CodeSystem/$subsumes",
            {"system": system, "codeA": ancestor, "codeB": code},
            budget,
        )
        outcome = _param(data, "outcome")
        if outcome in ("equivalent", "subsumes"):
            return True
        if outcome in ("not-subsumed", "subsumed-by"):
            return False
        return None

    def lookup(self, system: str, code: str, budget: Budget | None = None) -> Lookup | None:
        data = self._cached(
            ("lookup", system, code), "/CodeSystem/$lookup", {"system": system, "code": code}, budget
        )
        if data is None or data.get("resourceType") != "Parameters":
            return None
        display = _param(data, "display")
        return Lookup(system, code, display if isinstance(display, str) else None)

    def expand(self, valueset_url: str, budget: Budget | None = None) -> list[tuple[str, str, str]] | None:
        """(system, code, display) of a server-side expansion, or None."""
        data = self._cached(("expand", valueset_url), "/ValueSet/$expand", {"url": valueset_url}, budget)
        if data is None or data.get("resourceType") != "ValueSet":
            return None
        contains = (data.get("expansion") or {}).get("contains") or []
        return [
            (str(c.get("system")), str(c.get("code")), str(c.get("display", "")))
            for c in contains
            if isinstance(c, dict) and c.get("code")
        ]


def _param(data: dict[str, Any] | None, name: str) -> object:
    if not data:
        return None
    for p in data.get("parameter") or []:
        if isinstance(p, dict) and p.get("name") == name:
            for key, value in p.items():
                if key.startswith("value"):
                    return value
    return None


def client_from_env() -> TerminologyClient | None:
    """The configured server ($CDS_TERMINOLOGY_URL, budget $CDS_TERMINOLOGY_BUDGET_S seconds), or None."""
    url = os.environ.get(ENV_URL)
    if not url:
        return None
    try:
        budget = float(os.environ.get(ENV_BUDGET, DEFAULT_BUDGET_S))
    except ValueError:
        budget = DEFAULT_BUDGET_S
    return TerminologyClient(url, budget_s=budget)


class ServerPlacer:
    """Places SNOMED CT codes the expansions do not list under the is-a roots of the value sets."""

    def __init__(
        self,
        client: TerminologyClient,
        roots: dict[str, list[tuple[str, str, str]]],
        budget: Budget | None = None,
    ) -> None:
        # roots: value set id -> [(system, root code, root display)] of its non-ICD is-a filters
        self._client = client
        self._roots = roots
        self._budget = budget or client.new_budget()  # one budget per placer: one assessment

    def place(self, vs_ids: Sequence[str], system: str, code: str) -> dict[str, tuple[str, str]]:
        """{value set id: (root code, root display)} for each value set whose root subsumes the code."""
        out: dict[str, tuple[str, str]] = {}
        for vs_id in vs_ids:
            for r_sys, r_code, r_disp in self._roots.get(vs_id, ()):
                if r_sys == system and self._client.subsumes(system, r_code, code, self._budget):
                    out[vs_id] = (r_code, r_disp)
                    break
        return out


_CLIENT: TerminologyClient | None = None


def with_configured_server(vs: ValueSets) -> ValueSets:
    """`vs` asking the server in $CDS_TERMINOLOGY_URL about unlisted codes, or `vs` itself without one."""
    global _CLIENT
    url = os.environ.get(ENV_URL)
    if not url:
        return vs
    if _CLIENT is None or _CLIENT.base_url != url.rstrip("/"):
        _CLIENT = client_from_env()
    if _CLIENT is None:
        return vs
    return vs.with_placer(ServerPlacer(_CLIENT, vs.is_a_roots()))  # a fresh time budget per assessment
