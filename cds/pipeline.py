"""FHIR resources → facts → rules → assessment. The one path every entry point uses."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from typing import Any

from cds.assessment.build import build_assessment
from cds.assessment.models import Assessment, Profile
from cds.assessment.timeline import Timeline
from cds.engine import Firing, RuleEngine
from cds.facts.build import FactSet, build_facts
from cds.facts.models import Fact
from cds.facts.relevance import may_become_fact
from cds.ingest.load import RawResource, flatten
from cds.ingest.patients import one_patient
from cds.ingest.validate import select_and_validate
from cds.ruleset import Ruleset, load_ruleset
from cds.ruleset.compile import compile_rule

PROFILES: tuple[Profile, ...] = ("us-fda", "eu-smpc")


@dataclass
class Evaluation:
    assessment: Assessment
    facts: FactSet
    engine_facts: dict[str, Fact]  # engine fact id -> fact
    firings: list[Firing]
    ruleset: Ruleset

    @property
    def timeline(self) -> Timeline:
        return self.facts.timeline


class _Compiled:
    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.engines = {
            profile: RuleEngine(
                {r.id: compile_rule(r, ruleset.settings) for r in ruleset.for_profile(profile)},
                f"{profile.replace('-', '_')}_{ruleset.digest}",
            )
            for profile in PROFILES
        }


_COMPILED: _Compiled | None = None
_COMPILE_LOCK = threading.Lock()


def compiled() -> _Compiled:
    global _COMPILED
    with _COMPILE_LOCK:
        if _COMPILED is None:
            _COMPILED = _Compiled(load_ruleset())
        return _COMPILED


def ruleset_version() -> str:
    return compiled().ruleset.version


def to_resources(resources: list[RawResource] | list[dict[str, Any]]) -> list[RawResource]:
    out: list[RawResource] = []
    for i, r in enumerate(resources):
        if isinstance(r, RawResource):
            out.append(r)
        else:
            out.extend(flatten(r, f"resource[{i}]"))
    return out


def evaluate(
    resources: list[RawResource] | list[dict[str, Any]],
    *,
    as_of: date | None = None,
    profile: Profile = "us-fda",
    strict: bool = False,
) -> Evaluation:
    as_of = as_of or date.today()
    if profile not in PROFILES:
        from cds.errors import InputError

        raise InputError(f"unknown profile {profile!r} (use {' or '.join(PROFILES)})")
    used = select_and_validate(one_patient(to_resources(resources)), strict=strict, relevant=may_become_fact)
    facts = build_facts(used, as_of)
    comp = compiled()
    engine_facts = {f"f{i}": fact for i, fact in enumerate(facts.all())}
    views = [{**fact.engine_view(as_of), "id": fid} for fid, fact in engine_facts.items()]
    firings = comp.engines[profile].evaluate(views)
    assessment = build_assessment(facts, engine_facts, firings, comp.ruleset, profile)
    return Evaluation(assessment, facts, engine_facts, firings, comp.ruleset)


def assess(
    resources: list[RawResource] | list[dict[str, Any]],
    *,
    as_of: date | None = None,
    profile: Profile = "us-fda",
) -> Assessment:
    return evaluate(resources, as_of=as_of, profile=profile).assessment
