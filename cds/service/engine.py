"""The assessment engine as the service sees it: the same `cds.pipeline.evaluate` the command line runs."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from cds.contract.assessment import Assessment, Profile
from cds.contract.timeline import Timeline


class Evaluated(Protocol):
    """What a hook call needs from an evaluation: the assessment (cards) and the timeline (report)."""

    @property
    def assessment(self) -> Assessment: ...

    @property
    def timeline(self) -> Timeline: ...


class Engine(Protocol):
    def evaluate(self, resources: list[dict[str, Any]], *, profile: Profile) -> Evaluated: ...

    def ruleset_version(self) -> str: ...


class CoreEngine:
    """`cds.pipeline.evaluate` and `ruleset_version`, imported on first use (cheap app start).

    `as_of` pins the evaluation date (CDS_AS_OF: demos and replays over fixed records); None is today.
    """

    def __init__(self, as_of: date | None = None) -> None:
        self.as_of = as_of

    def evaluate(self, resources: list[dict[str, Any]], *, profile: Profile) -> Evaluated:
        from cds.pipeline import evaluate

        result: Evaluated = evaluate(resources, as_of=self.as_of, profile=profile)
        return result

    def assess(self, resources: list[dict[str, Any]], *, profile: Profile) -> Assessment:
        return self.evaluate(resources, profile=profile).assessment

    def ruleset_version(self) -> str:
        from cds.knowledge import default_knowledge

        return default_knowledge().stamp
