"""Alembic environment for the audit database.

Run programmatically by cds.audit.migrate.upgrade_to_head, which passes an open connection (already
holding the migration lock) in ``config.attributes["connection"]``; there is no alembic.ini.
"""

from __future__ import annotations

from alembic import context

from cds.audit.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through cds.audit.migrate.upgrade_to_head (it supplies the connection)"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode lets later migrations copy-and-swap tables.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
