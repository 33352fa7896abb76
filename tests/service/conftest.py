"""Fixtures for the CDS Hooks service tests, and the real in-memory FHIR server
(tests/fhir_server: Node + @medplum/fhir-router), started once per session on a loopback port."""

from __future__ import annotations

import json
import logging
import os
import selectors
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from .builders import PATIENT_ID
from .fakes import Harness

ROOT = Path(__file__).resolve().parents[2]
FHIR_SERVER_DIR = ROOT / "tests" / "fhir_server"


@pytest.fixture
def harness() -> Harness:
    return Harness()


# --- no patient id in any log line of the whole run (issue 11, item 6) ---------------------------


class _Collect(logging.Handler):
    """Records of the service's own loggers and the libraries it drives, at every level."""

    SOURCES = ("cds", "uvicorn", "httpx", "httpcore", "starlette", "fastapi", "sqlalchemy", "alembic")

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in self.SOURCES:
            self.lines.append(f"{record.name} {record.getMessage()}")


def patient_ids_used() -> set[str]:
    """The patient ids the service tests send: the builders' and every example patient's."""
    ids = {PATIENT_ID}
    for path in (ROOT / "fhir" / "examples").glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        resources = [e.get("resource", {}) for e in data.get("entry", [])] if "entry" in data else [data]
        ids |= {r["id"] for r in resources if r.get("resourceType") == "Patient" and r.get("id")}
    return ids


@pytest.fixture(scope="session")
def service_log() -> Iterator[_Collect]:
    """Every log record of the service tests, at every level, whoever sets what level: at the end of
    the run none may name a patient id used (fails as a teardown error, quoting the lines)."""
    handler = _Collect()
    yield handler
    ids = patient_ids_used()
    leaks = [line for line in handler.lines if any(pid in line for pid in ids)]
    assert not leaks, f"patient id in the service log: {leaks[:3]}"


@pytest.fixture(autouse=True)
def _log_everything(service_log: _Collect) -> Iterator[None]:
    root = logging.getLogger()
    previous = root.level
    root.addHandler(service_log)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(service_log)
        root.setLevel(previous)


# --- the real FHIR server -----------------------------------------------------------------------


class FhirServer:
    def __init__(self, base: str) -> None:
        self.base = base  # http://127.0.0.1:PORT (FHIR base is base + "/fhir")
        self.fhir_base = f"{base}/fhir"

    def reset(self) -> None:
        httpx.post(f"{self.base}/_reset", timeout=5).raise_for_status()

    def control(self, **values: Any) -> None:
        httpx.post(f"{self.base}/_control", json=values, timeout=5).raise_for_status()

    def load(self, bundle: dict[str, Any]) -> None:
        response = httpx.post(self.fhir_base, json=bundle, timeout=30)
        assert response.status_code == 200, response.text[:500]

    def log(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = httpx.get(f"{self.base}/_log", timeout=5).json()
        return result


@pytest.fixture(scope="session")
def fhir_server_process() -> Iterator[FhirServer]:
    with run_fhir_server() as server:
        yield server


@contextmanager
def run_fhir_server() -> Iterator[FhirServer]:
    """Start a FHIR server process on a free loopback port; stopped on leaving the block."""
    # CI sets CDS_REQUIRE_FHIR_SERVER=1: there a missing server is a failure, not a silent skip.
    unavailable = pytest.fail if os.environ.get("CDS_REQUIRE_FHIR_SERVER") == "1" else pytest.skip
    node = shutil.which("node")
    if node is None:
        unavailable("FHIR test server: `node` is not installed (Node 20 needed)")
    if not (FHIR_SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        unavailable("FHIR test server: dependencies missing; run `npm ci --prefix tests/fhir_server` first")
    assert node is not None
    proc = subprocess.Popen(
        [node, "server.mjs", "--host", "127.0.0.1", "--port", "0"],
        cwd=FHIR_SERVER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NODE_ENV": "test"},
    )
    try:
        port = _await_port(proc, timeout_s=30)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:  # bounded: readiness probe for at most 10 s
            try:
                if httpx.get(f"{base}/_ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("FHIR test server did not become ready within 10 s")
            time.sleep(0.05)
        yield FhirServer(base)
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[str]) -> None:
    """Terminate a process this test session started, killing it if it does not exit in 5 s."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _await_port(proc: subprocess.Popen[str], *, timeout_s: float) -> int:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"FHIR test server exited with {proc.returncode}: {err[-2000:]}")
        if selector.select(timeout=0.2):
            line = proc.stdout.readline()
            if line.startswith("LISTENING "):
                return int(line.split()[1])
    pytest.fail(f"FHIR test server did not print its port within {timeout_s} s")


@pytest.fixture
def fhir_server(fhir_server_process: FhirServer) -> FhirServer:
    fhir_server_process.reset()
    return fhir_server_process
