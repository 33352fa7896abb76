"""Bring the audit schema to the newest migration, safely when several workers start at once.

Each worker calls upgrade_to_head on start. The whole upgrade runs in ONE transaction that first takes
a lock: a PostgreSQL transaction-scoped advisory lock, or SQLite's write lock (BEGIN IMMEDIATE, see
cds.audit.db). The first worker migrates; the others wait, then find the schema at head and do nothing.
Both databases have transactional DDL, so a failed migration leaves the schema as it was.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from cds.audit.db import READ_ONLY

MIGRATIONS = Path(__file__).parent / "migrations"
# Arbitrary constant shared by every worker of this application: "cds-audit" as a 64-bit integer.
ADVISORY_LOCK_KEY = int.from_bytes(b"cds-audi", "big") & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config() -> Config:
    config = Config()  # built in code: no alembic.ini at run time
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect().execution_options(**READ_ONLY) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
