from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture
def write_bundle(tmp_path: Path):
    def write(bundle: dict, name: str = "patient.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(bundle))
        return path

    return write


def pytest_configure(config: pytest.Config) -> None:
    # Feature scenarios are tagged with the ids of the rules they exercise (@<rule id>);
    # --strict-markers needs every tag declared.
    import re

    for feature in (ROOT / "features").glob("*.feature"):
        for tag in sorted(set(re.findall(r"@([a-z][\w.\-]+)", feature.read_text()))):
            config.addinivalue_line("markers", f"{tag}: scenario exercises this rule")
