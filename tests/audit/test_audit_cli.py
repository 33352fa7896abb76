"""`cds audit` as the lead mounts it: a typer app printing recent decisions and override rates."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from cds.audit.cli import app
from cds.audit.store import AuditStore, FeedbackRecord, HookCallRecord, IssuedCard

AT = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


def test_prints_decisions_and_override_rates(db_url: str) -> None:
    store = AuditStore(db_url)
    store.record_hook_call(
        HookCallRecord(
            hook_instance="h1",
            service_id="ketamine-order-sign",
            hook="order-sign",
            at=AT,
            ruleset_version="2025.06.1",
            patient_ref="Patient/p1",
            cards=[IssuedCard(uuid="c1", rule_ids=["bp-high"], indicator="critical", summary="BP too high")],
            latency_ms=8,
            status_code=200,
        )
    )
    store.record_feedback(
        FeedbackRecord(
            service_id="ketamine-order-sign",
            card_uuid="c1",
            outcome="overridden",
            outcome_timestamp=AT,
            received_at=AT,
        )
    )
    store.close()
    result = CliRunner().invoke(app, ["--database-url", db_url, "--limit", "5"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "2025-06-02 09:30:00" in result.output
    assert "critical: bp-high [overridden]" in result.output
    assert "100%" in result.output


def test_empty_database_says_so(db_url: str) -> None:
    AuditStore(db_url).close()  # the service created it and recorded nothing yet
    result = CliRunner().invoke(app, ["--database-url", db_url])
    assert result.exit_code == 0
    assert "No decisions recorded yet." in result.output


def test_bad_database_url_is_one_line_not_a_traceback() -> None:
    result = CliRunner().invoke(app, ["--database-url", "mysql://x@y/z"])
    assert result.exit_code == 1
    assert "only SQLite and PostgreSQL are supported" in result.output
    assert "Traceback" not in result.output


def test_a_database_path_that_does_not_exist_is_an_error_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "audit.sqlite3"
    result = CliRunner().invoke(app, ["--database-url", f"sqlite:///{missing}"])
    assert result.exit_code == 1
    assert f"no audit database at {missing}" in " ".join(result.output.split())
    assert not missing.exists() and not missing.parent.exists()


def test_importing_the_cli_does_not_import_sqlalchemy() -> None:
    """`cds --help` mounts this command: it must not pay for SQLAlchemy (issue 10, item 7)."""
    for module in ("cds.audit.cli", "cds.cli"):
        code = f"import sys, {module}; print('sqlalchemy' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "False", module


def test_cds_audit_never_migrates_an_older_schema_and_says_what_to_do(db_url: str) -> None:
    """A reader (maybe with a read-only role) must not change a production schema."""
    from alembic import command
    from sqlalchemy import create_engine

    from cds.audit.migrate import alembic_config, current_revision, head_revision

    AuditStore(db_url).close()
    engine = create_engine(db_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    older = current_revision(engine)
    assert older != head_revision()
    result = CliRunner().invoke(app, ["--database-url", db_url], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert f"the audit schema is at revision {older}" in " ".join(result.output.split())
    assert current_revision(engine) == older  # untouched
    engine.dispose()


def test_cds_audit_reads_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    """Reads take no write lock: `cds audit` (or a report fetch) answers while a hook call's
    transaction is open in another worker."""
    import sqlite3

    path = tmp_path / "audit.sqlite3"
    AuditStore(f"sqlite:///{path}").close()
    writer = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    writer.execute("BEGIN IMMEDIATE")  # another worker, mid-transaction
    try:
        result = CliRunner().invoke(app, ["--database-url", f"sqlite:///{path}"], env={"COLUMNS": "200"})
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.exit_code == 0, result.output
    assert "No decisions recorded yet." in result.output
