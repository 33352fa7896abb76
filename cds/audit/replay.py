"""Database-backed JWT replay cache: one row per (iss, jti), shared by every worker on the database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.dml import ReturningInsert

from cds.audit.db import READ_ONLY, AuditError, one_writer
from cds.audit.models import SeenToken
from cds.security.replay import TokenUse, utc_now

log = logging.getLogger(__name__)
_PURGE_EVERY = timedelta(seconds=60)


def _table() -> Table:
    return cast(Table, SeenToken.__table__)


def _record_statement(dialect: str) -> ReturningInsert[Any]:
    """INSERT (iss, jti) .. RETURNING jti: a row comes back when the use is new. A row left by an
    expired token with the same (iss, jti) is taken over; a live row is left alone (nothing returned)."""
    table = _table()
    stmt: postgresql.Insert | sqlite.Insert = (
        postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    ).values(iss=bindparam("iss"), jti=bindparam("jti"), expires_at=bindparam("expires_at"))
    return stmt.on_conflict_do_update(
        index_elements=[table.c.iss, table.c.jti],
        set_={"expires_at": stmt.excluded.expires_at},
        where=table.c.expires_at <= bindparam("now"),
    ).returning(table.c.jti)


class DatabaseReplayCache:
    """Implements cds.security.ReplayCache. Atomic across processes and hosts: the check-and-record is
    a single INSERT .. ON CONFLICT statement on the (iss, jti) primary key, so of two workers that
    receive the same token at the same moment exactly one sees it as new. `record_in` makes that
    statement part of another transaction (the audit write of the call the token authorises)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._last_purge = datetime.min.replace(tzinfo=clock().tzinfo)
        self._record = _record_statement(engine.dialect.name)
        table = _table()
        self._live = select(table.c.jti).where(
            table.c.iss == bindparam("iss"),
            table.c.jti == bindparam("jti"),
            table.c.expires_at > bindparam("now"),
        )

    def seen(self, iss: str, jti: str, expires_at: datetime) -> bool:
        try:
            with one_writer(self._engine), self._engine.begin() as connection:
                recorded = self.record_in(connection, TokenUse(iss, jti, expires_at))
        except SQLAlchemyError as exc:
            raise AuditError(f"replay cache unavailable: {type(exc).__name__}") from exc
        self.purge_if_due()
        return not recorded

    def record_in(self, connection: Connection, use: TokenUse) -> bool:
        """Record a token's use inside the caller's transaction; False if it is a replay. The caller
        calls `purge_if_due` after its transaction (the purge takes its own)."""
        params = {"iss": use.iss, "jti": use.jti, "expires_at": use.expires_at, "now": self._clock()}
        return connection.execute(self._record, params).first() is not None

    def purge_if_due(self) -> None:
        """Delete expired rows, at most once a minute per worker."""
        now = self._clock()
        if now - self._last_purge >= _PURGE_EVERY:
            self._purge(now)

    def recorded(self, iss: str, jti: str) -> bool:
        try:
            with self._engine.connect().execution_options(**READ_ONLY) as connection:
                params = {"iss": iss, "jti": jti, "now": self._clock()}
                return connection.execute(self._live, params).first() is not None
        except SQLAlchemyError as exc:
            raise AuditError(f"replay cache unavailable: {type(exc).__name__}") from exc

    def _purge(self, now: datetime) -> None:
        # Occasional, not per call, and in its own transaction: a purge that shared the insert's
        # transaction could deadlock with another worker taking over an expired row.
        self._last_purge = now
        table = _table()
        try:
            with one_writer(self._engine), self._engine.begin() as connection:
                connection.execute(delete(table).where(table.c.expires_at <= now))
        except SQLAlchemyError as exc:
            log.warning("replay cache purge failed (will retry later): %s", type(exc).__name__)
