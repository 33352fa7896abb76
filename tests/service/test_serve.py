"""`cds serve --workers 2` as a real process on a loopback port: two workers start and answer."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cds.service.catalog import ORDER_SIGN_SERVICE, PATIENT_VIEW_SERVICE

from .conftest import ROOT, patient_ids_used, stop_process
from .test_demo import HOOKS, PV_TRD, SIGN_TRD_84, free_port

pytestmark = pytest.mark.slow
START_TIMEOUT_S = 60


def test_cds_serve_with_two_workers_starts_both_and_answers_hook_calls(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    env = {
        **os.environ,
        "CDS_AUTH": "off",
        "CDS_AS_OF": "2025-06-02",
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cds",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # our own process group: the workers go when we stop it
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # bounded: until both workers have started, at most START_TIMEOUT_S
            assert proc.poll() is None, f"cds serve exited with {proc.returncode}:\n{log_path.read_text()}"
            text = log_path.read_text()
            workers = set(re.findall(r"Started server process \[(\d+)\]", text))
            if len(workers) == 2:
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            assert time.monotonic() < deadline, f"two workers not up within {START_TIMEOUT_S} s:\n{text}"
            time.sleep(0.2)

        health = httpx.get(f"{base}/health", timeout=5).json()
        assert health["status"] == "ok" and health["auth"] is False and health["asOf"] == "2025-06-02"
        # Each worker builds its own app: both log the CDS_AUTH=off and CDS_AS_OF warnings.
        text = log_path.read_text()
        assert text.count("CDS_AUTH=off: client JWTs are NOT verified") >= 2
        assert text.count("CDS_AS_OF=2025-06-02") >= 2
        assert {str(pid) for pid in _children(proc.pid)} >= workers

        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(3):
                for name, service in ((PV_TRD, PATIENT_VIEW_SERVICE), (SIGN_TRD_84, ORDER_SIGN_SERVICE)):
                    body = json.loads((HOOKS / name).read_text())
                    response = client.post(f"/cds-services/{service}", json=body)
                    assert response.status_code == 200, response.text
                    cards = response.json()["cards"]
                    assert cards and cards[0]["links"][0]["url"].startswith(f"{base}/reports/")
            report = client.get(cards[0]["links"][0]["url"].removeprefix(base))
            assert report.status_code == 200 and report.headers["cache-control"] == "no-store"
        # No access log: report URLs (credentials) must not be written anywhere; no patient id either.
        text = log_path.read_text()
        assert "/reports/" not in text
        assert "hook call" in text and not [pid for pid in patient_ids_used() if pid in text]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the group we created above, nothing else
        stop_process(proc)
    assert proc.returncode is not None


def test_keep_alive_connections_end_up_even_over_two_workers(tmp_path: Path) -> None:
    """A burst of 10 keep-alive connections lands unevenly (all on one worker was seen); the worker
    over its share answers `Connection: close` until each worker holds 5."""
    port = free_port()
    env = {
        **os.environ,
        "CDS_AUTH": "off",
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "TMPDIR": str(tmp_path),  # where `cds serve` puts its connection table
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cds", "serve", "--port", str(port), "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(set(re.findall(r"Started server process \[(\d+)\]", log_path.read_text()))) < 2:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, f"two workers not up:\n{log_path.read_text()}"
            time.sleep(0.2)
        table = next(tmp_path.glob("cds-serve-*/connections"))
        connections: list[socket.socket | None] = [_connect(port) for _ in range(10)]
        closes = 0
        for _ in range(60):  # bounded: rounds of one request per connection until none is shed
            shed = 0
            for i, conn in enumerate(connections):
                if conn is None:
                    conn = connections[i] = _connect(port)
                if not _get_health(conn):
                    conn.close()
                    connections[i] = None
                    shed += 1
            closes += shed
            if shed == 0 and all(connections):
                break
        else:
            pytest.fail("the workers never settled on an even share of connections")
        time.sleep(0.2)
        counts = [c for c in struct.unpack("<64i", table.read_bytes()) if c]
        assert sorted(counts) == [5, 5], (counts, closes)
        for conn in connections:
            assert conn is not None
            conn.close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        stop_process(proc)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _get_health(conn: socket.socket) -> bool:
    """One GET /health on a keep-alive connection; False if the server said it closes it."""
    conn.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, "connection closed before a response"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += conn.recv(65536)
    return b"connection: close" not in head.lower()


def _children(pid: int) -> list[int]:
    """Child process ids (Linux /proc), to see that the workers are real processes."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        out += [int(c) for c in children]
    return out
