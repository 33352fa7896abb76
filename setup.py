"""Build step only: copy the knowledge folders into the wheel (metadata is in pyproject.toml).

`rules/` and `fhir/` (without the example patients) stay at the top of the repository as the
source informaticists edit; the wheel carries a copy under `cds/_data/` so that an installed
`cds check` / `cds serve` finds them from any folder (cds/paths.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
KNOWLEDGE = {"rules": (), "fhir": ("examples",)}


class BuildWithKnowledge(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads the checkout itself
        target = Path(self.build_lib) / "cds" / "_data"
        for folder, skip in KNOWLEDGE.items():
            dest = target / folder
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(ROOT / folder, dest, ignore=shutil.ignore_patterns(*skip, "__pycache__"))


setup(cmdclass={"build_py": BuildWithKnowledge})
