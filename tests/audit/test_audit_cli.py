"""`cds audit` as the lead mounts it: a typer app printing recent decisions and override rates."""

from __future__ import annotations

from datetime import UTC, datetime

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
    result = CliRunner().invoke(app, ["--database-url", db_url])
    assert result.exit_code == 0
    assert "No decisions recorded yet." in result.output


def test_bad_database_url_is_one_line_not_a_traceback() -> None:
    result = CliRunner().invoke(app, ["--database-url", "mysql://x@y/z"])
    assert result.exit_code == 1
    assert "only SQLite and PostgreSQL are supported" in result.output
    assert "Traceback" not in result.output
