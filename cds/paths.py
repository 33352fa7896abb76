"""Where the knowledge folders live.

The source of truth is `rules/` and `fhir/` at the top of the repository. A wheel carries a copy
of them inside the package (`cds/_data/`, written by setup.py at build time), so an installed
`cds` works from any folder. Order: `CDS_RULES_DIR` / `CDS_FHIR_DIR` (an informaticist's own
folder), then `$CDS_HOME/{rules,fhir}`, then the source checkout, then the packaged copy.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
PACKAGED = _PACKAGE / "_data"


def project_root() -> Path:
    env = os.environ.get("CDS_HOME")
    if env:
        return Path(env)
    checkout = _PACKAGE.parent
    return checkout if (checkout / "rules").is_dir() else PACKAGED


def rules_dir() -> Path:
    env = os.environ.get("CDS_RULES_DIR")
    return Path(env) if env else project_root() / "rules"


def fhir_dir() -> Path:
    env = os.environ.get("CDS_FHIR_DIR")
    return Path(env) if env else project_root() / "fhir"
