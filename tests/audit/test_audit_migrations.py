"""Schema set-up: migrations are idempotent, safe when several workers start at once, and match the
models; bad URLs fail with a clear message."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from cds.audit.db import DATABASE_URL_ENV, default_database_url, make_engine
from cds.audit.migrate import current_revision, head_revision
from cds.audit.models import Base
from cds.audit.store import AuditError, AuditStore

WORKER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from cds.audit.store import AuditStore
    store = AuditStore(sys.argv[1])  # every worker migrates on start
    expires = datetime.now(UTC) + timedelta(minutes=5)
    seen = store.replay_cache().seen("https://ehr.example.org", "same-jti", expires)
    print("replay" if seen else "new")
    """
)


def test_migrations_run_twice_safely(db_url: str) -> None:
    AuditStore(db_url).close()
    store = AuditStore(db_url)
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert store.recent_decisions() == []
    finally:
        store.close()
        engine.dispose()


def test_models_and_migrations_describe_the_same_schema(db_url: str) -> None:
    AuditStore(db_url).close()
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
            )
    finally:
        engine.dispose()
    assert diff == [], "models changed without a migration (add one in cds/audit/migrations/versions/)"


def test_workers_starting_at_once_migrate_once_and_share_the_replay_cache(db_url: str) -> None:
    repo = Path(__file__).resolve().parents[2]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, db_url],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [worker.communicate(timeout=120) for worker in workers]
    for worker, (_, stderr) in zip(workers, results, strict=True):
        assert worker.returncode == 0, stderr
    outputs = sorted(out.strip() for out, _ in results)
    assert outputs == ["new", "replay", "replay", "replay"]  # exactly one worker accepted the token


def test_unsupported_or_malformed_url_is_a_clear_error() -> None:
    with pytest.raises(AuditError, match="only SQLite and PostgreSQL"):
        AuditStore("mysql://user@db/cds")
    with pytest.raises(AuditError, match="not a database URL"):
        AuditStore("no-scheme-here")


def test_unreachable_postgres_fails_clearly_without_the_password() -> None:
    # Port 9 (discard) on loopback: nothing listens there, so the connection is refused at once.
    with pytest.raises(AuditError) as info:
        AuditStore("postgresql+psycopg://cds:hunter2@127.0.0.1:9/cds?connect_timeout=2")
    assert "cannot open the audit database" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_database_url_default_env_then_user_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql+psycopg://u@h/db")
    assert default_database_url() == "postgresql+psycopg://u@h/db"
    monkeypatch.delenv(DATABASE_URL_ENV)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    url = default_database_url()
    assert url == f"sqlite:///{tmp_path}/ketamine-cds/audit.sqlite3"
    AuditStore(url).close()  # zero set-up: the folder and the file are created
    assert (tmp_path / "ketamine-cds" / "audit.sqlite3").is_file()
