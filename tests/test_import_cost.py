"""`cds --help` and the public API's import load what they use: no database layer, rules engine,
FHIR models or web framework until a command needs it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sqlalchemy", "durable", "fhir.resources", "fastapi", "uvicorn", "httpx", "alembic")


def _loaded_after(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {m for m in out.split() if m.split(".")[0] in {h.split(".")[0] for h in HEAVY}}


def test_the_cli_module_imports_nothing_heavy() -> None:
    assert _loaded_after("import cds.cli") == set()


def test_the_public_api_imports_nothing_heavy_until_used() -> None:
    assert _loaded_after("import cds; cds.assess; cds.load_resources; cds.Assessment") == set()
