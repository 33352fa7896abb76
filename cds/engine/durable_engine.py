"""The only module that touches durable-rules. It makes the engine safe for a request/response
service (shared/notes/DEPENDENCIES.md):

- a Host whose `_run` does nothing: no background timer threads; actions run in the caller's
  thread, inside `assert_facts`, so results cannot be lost or run on another request's state;
- one process-wide lock: the C core is not re-entrant and holds the GIL anyway;
- one throw-away session per evaluation, deleted in `finally`; session and fact ids are
  generated here (a counter and f0, f1, ...) so 32-bit hash collisions cannot merge patients;
- a catch-all rule (one action for all waiting facts) so a fact no rule wants never raises; facts are asserted (not posted) so every
  rule sees every fact; facts are sorted canonically so firing order is reproducible;
- actions only record which facts matched; the state's `exception` is checked after every call;
- every compiled rule is checked for unsafe shapes (cross-fact references, rules on `s`).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from durable import engine as durable

from cds.contract.facts import Fact
from cds.errors import EngineError
from cds.ruleset.compile import check_safe, compile_rule, pattern_name
from cds.ruleset.relevance import Relevance
from cds.ruleset.schema import Lookup, Rule

_LOCK = threading.Lock()
_NAMES = itertools.count()
_CATCH_ALL = "__catch_all__"
_CAP = 10_000  # facts per catch-all action


class _CallerThreadHost(durable.Host):  # type: ignore[misc]
    def _run(self) -> None:
        """No timer threads (see module docstring)."""


_HOST: _CallerThreadHost | None = None


def _host() -> _CallerThreadHost:
    global _HOST
    if _HOST is None:
        _HOST = _CallerThreadHost()
    return _HOST


@dataclass(frozen=True)
class Firing:
    rule_id: str
    facts: dict[str, Fact]  # pattern name -> the fact it matched
    # pattern name -> that fact's engine view, as the rule saw it (read-only: shared between firings);
    # empty when the firing did not come from `RuleEngine.evaluate`
    views: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class _RawFiring:
    rule_id: str
    facts: dict[str, str]  # pattern name -> engine fact id


class RuleEngine:
    """A compiled ruleset: facts in, firings (with the facts they matched) out. `evaluate` is
    thread-safe; each call is independent. Fact ids are this module's business only."""

    def __init__(self, rules: Sequence[Rule], settings: Lookup, label: str, *, prune: bool = False) -> None:
        definitions = {r.id: compile_rule(r, settings) for r in rules}
        check_safe(definitions)
        # `prune`: facts no pattern can match are not asserted (cds/ruleset/relevance.py). Off by
        # default: with the catch-all taking all facts in one action, judging a fact costs more than
        # asserting it (bench/cases.py engine_scaling: 16 to 416 facts, unpruned is the faster).
        self._relevance = Relevance(list(rules), settings) if prune else None
        self._sessions = itertools.count()
        self._current: list[_RawFiring] | None = None
        ruleset: dict[str, dict[str, Any]] = {}
        for rule_id, definition in definitions.items():
            ruleset[rule_id] = {**orjson.loads(orjson.dumps(definition)), "run": self._recorder(rule_id)}
        ruleset[_CATCH_ALL] = _catch_all()
        # Ruleset names are global in durable and cannot be re-registered: each engine gets a new one.
        self.name = f"kcds_{label}_{next(_NAMES)}"
        with _LOCK:
            _host().register_rulesets({self.name: ruleset})

    def _recorder(self, rule_id: str) -> Callable[[Any], None]:
        def record(c: Any) -> None:
            message = c.__dict__.get("_m")
            if not isinstance(message, dict):
                raise EngineError(f"{rule_id}: unexpected match shape")
            matched = {name: v["id"] for k, v in message.items() if (name := pattern_name(k))}
            if self._current is not None:
                self._current.append(_RawFiring(rule_id, matched))

        return record

    def evaluate(self, facts: Sequence[Fact], as_of: date) -> list[Firing]:
        """Every rule that fires on these facts (one fresh session), in a reproducible order."""
        by_id = {f"f{i}": fact for i, fact in enumerate(facts)}
        seen = {fid: fact.engine_view(as_of) for fid, fact in by_id.items()}
        raw = self.evaluate_views([{**view, "id": fid} for fid, view in seen.items()])
        return [
            Firing(
                r.rule_id,
                {name: by_id[fid] for name, fid in r.facts.items()},
                {name: seen[fid] for name, fid in r.facts.items()},
            )
            for r in raw
        ]

    def evaluate_views(self, facts: list[dict[str, Any]]) -> list[_RawFiring]:
        """Assert flat fact views (each with a unique "id") in one fresh session."""
        with _LOCK:
            sid = str(next(self._sessions))
            wanted = facts if self._relevance is None else [f for f in facts if self._relevance.may_match(f)]
            batch = [{**f, "sid": sid} for f in sorted(wanted, key=lambda f: f["id"])]
            if not batch:
                return []  # no fact any rule could match: nothing can fire (and no session to read)
            self._current = []
            host = _host()
            try:
                host.assert_facts(self.name, batch)
                state = host.get_state(self.name, sid)
                if isinstance(state, dict) and state.get("exception"):
                    raise EngineError(f"a rule action failed: {state['exception']}")
                return sorted(self._current, key=lambda f: (f.rule_id, sorted(f.facts.items())))
            finally:
                self._current = None
                # A session that never got state has nothing to delete.
                with contextlib.suppress(Exception):
                    host.delete_state(self.name, sid)


def _catch_all() -> dict[str, Any]:
    """Matches every fact, so none is unhandled; `cap` hands it all the facts waiting in one action
    instead of one action per fact (each an action callback through durable's Python host: 8 of the
    20 actions of a typical record). A two-pattern catch-all that never fires made durable free an
    invalid pointer in delete_state (bench/cases.py engine_scaling): not used."""
    return {"all": [{"m": {"$ex": {"kind": 1}}}], "cap": _CAP, "run": _noop}


def _noop(c: Any) -> None:
    """Catch-all: keeps facts no rule wants from raising MessageNotHandledException."""
