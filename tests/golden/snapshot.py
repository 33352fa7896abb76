"""Behaviour snapshots: a digest of every assessment the examples, the shared samples and the
feature scenarios give, so that a refactoring that should change nothing is seen to change nothing.

A clinical change that is meant to change answers updates the snapshot on purpose:

    CDS_GOLDEN_UPDATE=1 .venv/bin/python -m pytest tests/golden tests/test_features.py -p no:randomly

and the diff of `tests/golden/*.json` (verdict summaries beside the digests) is reviewed with it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import orjson

from cds import Assessment

GOLDEN = Path(__file__).resolve().parent
UPDATE = os.environ.get("CDS_GOLDEN_UPDATE") == "1"


def digest(a: Assessment) -> str:
    data = a.to_json_dict()
    data.pop("ruleset", None)  # the knowledge version/hash is stamped, not decided
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def summary(a: Assessment) -> str:
    verdicts = " ".join(f"{p.product}={p.verdict}" for p in a.products)
    return f"{a.indication.status} {verdicts} findings={','.join(sorted(f.rule for f in a.findings))}"


def entry(a: Assessment) -> dict[str, str]:
    return {"digest": digest(a), "summary": summary(a)}


class Snapshot:
    """One JSON file of case -> {digest, summary}. In update mode, cases are recorded (and the file
    rewritten at the end of the session); otherwise each case is compared."""

    def __init__(self, name: str) -> None:
        self.path = GOLDEN / f"{name}.json"
        self.expected: dict[str, Any] = orjson.loads(self.path.read_bytes()) if self.path.exists() else {}
        self.recorded: dict[str, Any] = {}

    def check(self, case: str, a: Assessment) -> None:
        got = entry(a)
        if UPDATE:
            self.recorded[case] = got
            self.write()
            return
        want = self.expected.get(case)
        assert want is not None, f"{case}: not in {self.path.name}; record it with CDS_GOLDEN_UPDATE=1"
        assert got == want, (
            f"{case}: the assessment changed.\n  before: {want['summary']}\n  after:  {got['summary']}\n"
            "If the change is intended, record it with CDS_GOLDEN_UPDATE=1 and review the diff."
        )

    def write(self) -> None:
        merged = {**self.expected, **self.recorded}
        self.path.write_bytes(orjson.dumps(merged, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n")
