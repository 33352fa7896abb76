"""Report ids are stored hashed (SHA-256): reports stored under their raw id are deleted.

They could no longer be found (the look-up hashes the id) and would only wait for their expiry,
at most CDS_REPORT_TTL_HOURS; deleting them now also removes the working URLs from the database.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM report")


def downgrade() -> None:
    op.execute("DELETE FROM report")  # hashed keys mean nothing to the older code either
