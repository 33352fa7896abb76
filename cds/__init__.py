"""ketamine-cds: decision support for ketamine and esketamine in treatment-resistant depression.

Public API (everything else is private and may change):

    assess(resources, as_of=..., profile=...) -> Assessment
    load_resources(path) -> list[dict]          # a Bundle, a resource, a folder or NDJSON
    Assessment, InputError
"""

from cds.contract.assessment import Assessment
from cds.errors import CdsError, InputError, RuleFileError

__version__ = "0.1.0"

__all__ = ["Assessment", "CdsError", "InputError", "RuleFileError", "__version__", "assess", "load_resources"]


def __getattr__(name: str) -> object:
    # Lazy so that `import cds` stays cheap for the CLI's cold start.
    if name == "assess":
        from cds.pipeline import assess

        return assess
    if name == "load_resources":
        from cds.ingest.load import load_resources

        return load_resources
    raise AttributeError(name)
