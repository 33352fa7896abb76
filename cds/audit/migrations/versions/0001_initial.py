"""Initial audit schema: hook calls, issued cards and their rules, feedback, replay cache, reports.

Revision ID: 0001
Revises:
Create Date: 2025-06-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cds.audit.db import UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hook_call",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hook_instance", sa.String(255), nullable=False),
        sa.Column("service_id", sa.String(255), nullable=False),
        sa.Column("hook", sa.String(255), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("ruleset_version", sa.String(64), nullable=False),
        sa.Column("patient_ref", sa.String(255), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hook_call")),
    )
    op.create_index(op.f("ix_hook_call_hook_instance"), "hook_call", ["hook_instance"])
    op.create_index(op.f("ix_hook_call_at"), "hook_call", ["at"])

    op.create_table(
        "issued_card",
        sa.Column("uuid", sa.String(64), nullable=False),
        sa.Column("hook_call_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(140), nullable=False),
        sa.CheckConstraint(
            "indicator IN ('info', 'warning', 'critical')", name=op.f("ck_issued_card_indicator")
        ),
        sa.CheckConstraint("length(summary) <= 140", name=op.f("ck_issued_card_summary_length")),
        sa.ForeignKeyConstraint(
            ["hook_call_id"],
            ["hook_call.id"],
            name=op.f("fk_issued_card_hook_call_id_hook_call"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_issued_card")),
    )
    op.create_index(op.f("ix_issued_card_hook_call_id"), "issued_card", ["hook_call_id"])

    op.create_table(
        "card_rule",
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_uuid"],
            ["issued_card.uuid"],
            name=op.f("fk_card_rule_card_uuid_issued_card"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("card_uuid", "rule_id", name=op.f("pk_card_rule")),
    )
    op.create_index(op.f("ix_card_rule_rule_id"), "card_rule", ["rule_id"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.String(255), nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("override_reason", sa.JSON(), nullable=True),
        sa.Column("outcome_timestamp", UtcDateTime(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("outcome IN ('accepted', 'overridden')", name=op.f("ck_feedback_outcome")),
        sa.ForeignKeyConstraint(
            ["card_uuid"],
            ["issued_card.uuid"],
            name=op.f("fk_feedback_card_uuid_issued_card"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    op.create_index(op.f("ix_feedback_card_uuid"), "feedback", ["card_uuid"])

    op.create_table(
        "seen_token",
        sa.Column("iss", sa.String(512), nullable=False),
        sa.Column("jti", sa.String(255), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("iss", "jti", name=op.f("pk_seen_token")),
    )
    op.create_index(op.f("ix_seen_token_expires_at"), "seen_token", ["expires_at"])

    op.create_table(
        "report",
        sa.Column("report_id", sa.String(128), nullable=False),
        sa.Column("hook_instance", sa.String(255), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_report")),
    )
    op.create_index(op.f("ix_report_hook_instance"), "report", ["hook_instance"])
    op.create_index(op.f("ix_report_expires_at"), "report", ["expires_at"])


def downgrade() -> None:
    for table in ("report", "seen_token", "feedback", "card_rule", "issued_card", "hook_call"):
        op.drop_table(table)
