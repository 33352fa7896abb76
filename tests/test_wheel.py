"""The project installs and runs like real software: a wheel (not an editable install) in a fresh
virtual environment gives a working `cds check` and `cds serve` from any folder, with the
knowledge folders shipped inside the package. Builds take a minute: CI sets CDS_TEST_WHEEL=1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("CDS_TEST_WHEEL") != "1", reason="set CDS_TEST_WHEEL=1 to build and install the wheel"
    ),
]


def test_an_installed_wheel_assesses_from_another_folder(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("ketamine_cds-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=900)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    patient = elsewhere / "patient.json"
    shutil.copy(ROOT / "fhir" / "examples" / "aneurysm.json", patient)
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "PYTHON"))}
    cds = env_dir / "bin" / "cds"
    out = subprocess.run(
        [str(cds), "check", str(patient), "--as-of", "2025-06-02", "--format", "json"],
        cwd=elsewhere,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    a = json.loads(out.stdout)
    assert {p["product"]: p["verdict"] for p in a["products"]}["esketamine"] == "contraindicated"
    # The packaged knowledge is the checkout's knowledge: the same content hash.
    from cds.knowledge import default_knowledge

    assert a["ruleset"]["hash"] == default_knowledge().hash
    # An informaticist's own rules folder, by setting.
    rules = elsewhere / "my-rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "precautions" / "older-adult.yaml").unlink()
    own = subprocess.run(
        [str(cds), "rules", "list"],
        cwd=elsewhere,
        env={**clean_env, "CDS_RULES_DIR": str(rules)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert own.returncode == 0, own.stderr
    assert "precaution.older-adult " not in own.stdout and "contraindication.pregnancy" in own.stdout
    port = _free_port()
    server = subprocess.Popen(
        [str(cds), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=elsewhere,
        env={
            **clean_env,
            "CDS_AUTH": "off",
            "CDS_AS_OF": "2025-06-02",
            "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.sqlite3'}",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base + "/health", server)
        request = json.loads((ROOT / "fhir/examples/hooks/patient-view-trd.json").read_text())
        answer = httpx.post(base + "/cds-services/ketamine-cds-patient-view", json=request, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["cards"], "the installed service answered no cards for the TRD patient"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"cds serve exited: {server.stderr.read().decode() if server.stderr else ''}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("cds serve did not come up within 120 s")
