"""FHIR resources → facts → rules → assessment. The one path every entry point uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

from cds.assessment.build import build_assessment
from cds.contract.assessment import Assessment, Profile
from cds.contract.timeline import Timeline
from cds.engine import Firing
from cds.facts.build import FactSet, build_facts
from cds.facts.relevance import filter_valuesets, may_become_fact
from cds.facts.timeline import build_timeline
from cds.ingest.load import RawResource, flatten
from cds.ingest.patients import one_patient
from cds.ingest.validate import select_and_validate
from cds.knowledge import PROFILES, Knowledge, default_knowledge

__all__ = ["PROFILES", "Evaluation", "assess", "evaluate", "to_resources"]


@dataclass(frozen=True)
class Evaluation:
    assessment: Assessment
    facts: FactSet
    firings: list[Firing]
    knowledge: Knowledge
    resources: list[RawResource]  # the validated resources the facts were built from

    @cached_property
    def timeline(self) -> Timeline:
        """Built on first use: only a rendered report needs it."""
        return build_timeline(self.facts, self.knowledge)


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
    knowledge: Knowledge | None = None,
    *,
    as_of: date | None = None,
    profile: Profile = "us-fda",
    strict: bool = False,
) -> Evaluation:
    knowledge = knowledge or default_knowledge()
    as_of = as_of or date.today()
    engine = knowledge.engine(profile)  # an unknown profile fails before any work
    filter_vs = filter_valuesets(knowledge)
    used = select_and_validate(
        one_patient(to_resources(resources)),
        strict=strict,
        relevant=lambda r: may_become_fact(r, knowledge, filter_vs),
    )
    facts = build_facts(used, knowledge, as_of)
    firings = engine.evaluate(facts.all(), as_of)
    assessment = build_assessment(facts, firings, knowledge, profile)
    return Evaluation(assessment, facts, firings, knowledge, used)


def assess(
    resources: list[RawResource] | list[dict[str, Any]],
    knowledge: Knowledge | None = None,
    *,
    as_of: date | None = None,
    profile: Profile = "us-fda",
) -> Assessment:
    return evaluate(resources, knowledge, as_of=as_of, profile=profile).assessment
