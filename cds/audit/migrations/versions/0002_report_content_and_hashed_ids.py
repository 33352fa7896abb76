"""Reports: the id is stored hashed (SHA-256) and the report as the JSON of its assessment and
timeline (`content`, rendered when opened) instead of HTML.

Reports stored under their raw id could no longer be found (the look-up hashes the id) and would
only wait for their expiry, at most CDS_REPORT_TTL_HOURS: the table is re-created empty, which also
removes the working URLs from the database.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cds.audit.db import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _report_table(body: str) -> None:
    op.create_table(
        "report",
        sa.Column("report_id", sa.String(128), nullable=False),
        sa.Column("hook_instance", sa.String(255), nullable=False),
        sa.Column(body, sa.Text(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_report")),
    )
    op.create_index(op.f("ix_report_hook_instance"), "report", ["hook_instance"])
    op.create_index(op.f("ix_report_expires_at"), "report", ["expires_at"])


def upgrade() -> None:
    op.drop_table("report")
    _report_table("content")


def downgrade() -> None:
    op.drop_table("report")
    _report_table("html")
