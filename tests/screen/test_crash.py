"""A worker process that dies (a crash in the C rules engine, an OOM kill) costs only the record that
kills it: every other record of its task, and of the tasks in flight beside it, gets its own row.

The crash is real: `cds screen` runs in a subprocess whose interpreters (the command, the fork
server, every worker) load a `sitecustomize` written here, which makes assessing a patient whose
id starts with `crash` SIGKILL its own process. Nothing of it is in the package.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cds.screen.run import DIED_ALONE
from cds.synthetic import PatientBuilder, trd_patient

HOOK = """
import os, signal
import cds.screen.bulk as bulk
import cds.screen.worker as worker

CRASH = os.environ.get("CDS_TEST_CRASH_PREFIX")  # patients / files whose assessment kills the process
if os.environ.get("CDS_TEST_MIN_BUCKETS"):  # few buckets: many patients share the crashing one
    bulk.MIN_BUCKETS = int(os.environ["CDS_TEST_MIN_BUCKETS"])

def _dies(name):
    if CRASH and name.startswith(CRASH):
        os.kill(os.getpid(), signal.SIGKILL)

_group, _file = worker._assess_group, worker._assess_file

def _assess_group(group, *args):
    _dies(group.patient)
    return _group(group, *args)

def _assess_file(path, *args):
    _dies(path.name)
    return _file(path, *args)

worker._assess_group, worker._assess_file = _assess_group, _assess_file
"""


def _bundles(n: int) -> list[dict[str, Any]]:
    """n patients of a few kinds (eligible, too young, no history), ids p00.., and two whose
    assessment kills their worker once the hook is armed: crash-a among the first, crash-b later."""
    out = []
    for i in range(n):
        pid = f"p{i:02}"
        if i % 3 == 0:
            out.append(trd_patient(pid).bundle())
        elif i % 3 == 1:
            young = PatientBuilder(birth_date="2012-01-01", pid=pid)
            young.condition("F33.1", onset="2024-09-01")
            out.append(young.bundle())
        else:
            out.append(PatientBuilder(birth_date="1970-01-01", pid=pid).bundle())
    out.insert(3, trd_patient("crash-a").bundle())
    out.insert(n - 5, trd_patient("crash-b", gender="male").bundle())
    return out


def _write_export(folder: Path, bundles: list[dict[str, Any]]) -> None:
    lines: dict[str, list[str]] = {}
    for bundle in bundles:
        for e in bundle["entry"]:
            lines.setdefault(e["resource"]["resourceType"], []).append(json.dumps(e["resource"]))
    folder.mkdir()
    for rtype, rows in lines.items():
        (folder / f"{rtype}.ndjson").write_text("\n".join(rows) + "\n")


def _screen(tmp: Path, inputs: Path, crash: str | None, *extra: str) -> tuple[int, str, list[dict[str, str]]]:
    hook = tmp / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
    env["CDS_TEST_MIN_BUCKETS"] = "2"
    env.pop("CDS_TEST_CRASH_PREFIX", None)
    if crash:
        env["CDS_TEST_CRASH_PREFIX"] = crash
    out = tmp / f"rows-{crash}-{len(extra)}.csv"
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "cds.screen", str(inputs), "--as-of", "2025-06-02", "-o", str(out), *extra]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    rows = list(csv.DictReader(out.open())) if out.exists() else []
    assert not out.with_name(out.name + ".partial").exists()  # renamed on success, removed on failure
    return proc.returncode, proc.stderr, rows


def _only_the_crashing_rows_differ(
    crashed: list[dict[str, str]], clean: list[dict[str, str]], dead: set[str]
) -> None:
    """Row for row equal, but for the dead (by patient id; a bundle file's row by its file name,
    since its record was never read)."""
    assert len(crashed) == len(clean)
    died = 0
    for got, want in zip(crashed, clean, strict=True):
        if want["patient"] in dead:
            died += 1
            assert got["error"] == DIED_ALONE and not got["indication"] and not got["esketamine"]
            assert got["patient"] in (want["patient"], want["source"]) and got["source"] == want["source"]
            assert want["error"] == "" and want["indication"]  # it is a good record otherwise
        else:
            assert got == want
    assert died == len(dead)


@pytest.mark.slow
def test_a_patient_that_kills_its_worker_costs_only_its_own_row(tmp_path: Path) -> None:
    """40 patients in 2 buckets on 2 workers: the crashing one's bucket is split down to that one
    patient; the other bucket, in flight beside it, is re-run whole."""
    export = tmp_path / "export"
    _write_export(export, _bundles(40))
    code, err, clean = _screen(tmp_path, export, None, "--jobs", "2")
    assert code == 0, err
    assert len(clean) == 42 and not any(r["error"] for r in clean)
    code, err, crashed = _screen(tmp_path, export, "crash-a", "--jobs", "2")
    assert code == 3, err  # screened, one record unusable
    assert "42 patients screened, 1 with unusable records" in err and "Traceback" not in err
    _only_the_crashing_rows_differ(crashed, clean, {"crash-a"})
    code, err, crashed = _screen(tmp_path, export, "crash", "--jobs", "2")  # both, in different tasks
    assert code == 3, err
    _only_the_crashing_rows_differ(crashed, clean, {"crash-a", "crash-b"})


@pytest.mark.slow
def test_a_bundle_that_kills_its_worker_costs_only_its_own_row(tmp_path: Path) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    for bundle in _bundles(30):
        pid = bundle["entry"][0]["resource"]["id"]
        (folder / f"{pid}.json").write_text(json.dumps(bundle))
    code, err, clean = _screen(tmp_path, folder, None, "--jobs", "2")
    assert code == 0, err
    code, err, crashed = _screen(tmp_path, folder, "crash-b", "--jobs", "2")
    assert code == 3, err
    _only_the_crashing_rows_differ(crashed, clean, {"crash-b"})


@pytest.mark.slow
def test_on_dask_a_patient_that_kills_every_worker_it_meets_costs_only_its_own_row(tmp_path: Path) -> None:
    """Dask retries a task whose worker died on other workers, then gives it up (KilledWorker); the
    range of buckets it held is re-run in groups, then patient by patient with nothing beside it:
    the rows equal the process pool's clean run but for the two crashing patients."""
    export = tmp_path / "export"
    _write_export(export, _bundles(40))
    code, err, clean = _screen(tmp_path, export, None, "--jobs", "2")
    assert code == 0, err
    code, err, crashed = _screen(tmp_path, export, "crash", "--dask", "--jobs", "2")
    assert code == 3, err
    assert "42 patients screened, 2 with unusable records" in err
    _only_the_crashing_rows_differ(crashed, clean, {"crash-a", "crash-b"})


@pytest.mark.slow
def test_a_bundle_that_kills_its_worker_beside_an_export_costs_only_its_own_row(tmp_path: Path) -> None:
    """Bundles and an export in one folder: the pool the crashing bundle broke is not handed on to
    the export's passes (it was: a BrokenProcessPool traceback, exit 1)."""
    mixed = tmp_path / "mixed"
    _write_export(mixed, [trd_patient(f"q{i:02}").bundle() for i in range(6)])
    for bundle in _bundles(9):
        pid = bundle["entry"][0]["resource"]["id"]
        (mixed / f"{pid}.json").write_text(json.dumps(bundle))
    code, err, clean = _screen(tmp_path, mixed, None, "--jobs", "2")
    assert code == 0, err
    assert len(clean) == 17 and not any(r["error"] for r in clean)
    code, err, crashed = _screen(tmp_path, mixed, "crash-a", "--jobs", "2")
    assert code == 3 and "Traceback" not in err, err
    _only_the_crashing_rows_differ(crashed, clean, {"crash-a"})
