"""The SQLite writer lock: worker processes queue on a file lock, not on SQLite's sleeping busy handler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cds.audit.db import _writer_lock_file, make_engine, one_writer

fcntl = pytest.importorskip("fcntl")

_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("held")
else:
    print("free")
"""


def _other_process_sees(lock_file: Path) -> str:
    out = subprocess.run([sys.executable, "-c", _TRY_LOCK, str(lock_file)], capture_output=True, text=True)
    return out.stdout.strip()


def test_a_write_transaction_holds_the_lock_file_against_other_processes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    lock_file = tmp_path / "audit.sqlite3.writer-lock"
    with one_writer(engine), engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        assert _other_process_sees(lock_file) == "held"
    assert _other_process_sees(lock_file) == "free"
    engine.dispose()


def test_an_in_memory_database_has_no_lock_file() -> None:
    engine = make_engine("sqlite://")
    assert _writer_lock_file(engine) is None
    with one_writer(engine), engine.begin() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1


def test_a_file_database_flushes_every_commit_to_disk(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()
