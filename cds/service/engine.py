"""The assessment engine as the service sees it: the same `cds.assess` the command line runs."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from cds.assessment.models import Assessment, Profile


class Engine(Protocol):
    def assess(self, resources: list[dict[str, Any]], *, profile: Profile) -> Assessment: ...

    def ruleset_version(self) -> str: ...


class CoreEngine:
    """`cds.assess` and `cds.pipeline.ruleset_version`, imported on first use (cheap app start).

    `as_of` pins the evaluation date (tests over fixed example records); the service uses today.
    """

    def __init__(self, as_of: date | None = None) -> None:
        self.as_of = as_of

    def assess(self, resources: list[dict[str, Any]], *, profile: Profile) -> Assessment:
        from cds.pipeline import assess

        result: Assessment = assess(resources, as_of=self.as_of, profile=profile)
        return result

    def ruleset_version(self) -> str:
        from cds.pipeline import ruleset_version

        return str(ruleset_version())
