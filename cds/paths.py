"""Where the data folders live: rules/ and fhir/ beside the package (editable install) or $CDS_HOME."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    env = os.environ.get("CDS_HOME")
    return Path(env) if env else Path(__file__).resolve().parents[1]


def rules_dir() -> Path:
    return project_root() / "rules"


def fhir_dir() -> Path:
    return project_root() / "fhir"
