"""ketamine-cds: decision support for ketamine and esketamine in treatment-resistant depression.

Public API (everything else is private and may change):

    assess(resources, knowledge=None, *, as_of=None, profile="us-fda") -> Assessment
    load_resources(path) -> list[RawResource]    # a Bundle, a resource, a folder or NDJSON
    load_knowledge(rules=None, fhir=None) -> Knowledge
    Assessment, Knowledge, CdsError (the root of every error this package raises), InputError
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cds._version import __version__
from cds.contract.assessment import Assessment, Profile
from cds.errors import CdsError, InputError, KnowledgeError

if TYPE_CHECKING:
    from cds.ingest.load import RawResource
    from cds.knowledge import Knowledge

__all__ = [
    "Assessment",
    "CdsError",
    "InputError",
    "Knowledge",
    "KnowledgeError",
    "__version__",
    "assess",
    "load_knowledge",
    "load_resources",
]


# The functions import their modules on first call, so that `import cds` (and the CLI's cold
# start) does not load the rules engine, FHIR models or the knowledge.
def assess(
    resources: list[RawResource] | list[dict[str, Any]],
    knowledge: Knowledge | None = None,
    *,
    as_of: date | None = None,
    profile: Profile = "us-fda",
) -> Assessment:
    """Assess one patient's FHIR resources (bundles or resources, as dicts or loaded)."""
    from cds.pipeline import assess as _assess

    return _assess(resources, knowledge, as_of=as_of, profile=profile)


def load_resources(path: str | Path) -> list[RawResource]:
    """Read a Bundle, a resource file, a folder of resources or Bulk Data NDJSON."""
    from cds.ingest.load import load_resources as _load

    return _load(Path(path))


def load_knowledge(rules: str | Path | None = None, fhir: str | Path | None = None) -> Knowledge:
    """Load rules, settings, tables and value sets (default: the packaged folders)."""
    from cds.knowledge import Knowledge as _Knowledge

    return _Knowledge.load(Path(rules) if rules else None, Path(fhir) if fhir else None)


def __dir__() -> list[str]:
    return sorted(__all__)


if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        # `cds.Knowledge` as a runtime name without importing the engine at `import cds`.
        if name == "Knowledge":
            from cds.knowledge import Knowledge

            return Knowledge
        raise AttributeError(name)
