"""Database-backed JWT replay cache: one row per (iss, jti), shared by every worker on the database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Engine, Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from cds.audit.db import AuditError, one_writer
from cds.audit.models import SeenToken
from cds.security.replay import utc_now

log = logging.getLogger(__name__)
_PURGE_EVERY = timedelta(seconds=60)


def _table() -> Table:
    return cast(Table, SeenToken.__table__)


class DatabaseReplayCache:
    """Implements cds.security.ReplayCache. Atomic across processes and hosts: the check-and-record is
    a single INSERT .. ON CONFLICT statement on the (iss, jti) primary key, so of two workers that
    receive the same token at the same moment exactly one sees it as new."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._last_purge = datetime.min.replace(tzinfo=clock().tzinfo)
        self._dialect = engine.dialect.name

    def seen(self, iss: str, jti: str, expires_at: datetime) -> bool:
        now = self._clock()
        table = _table()
        # A row left by an expired token with the same (iss, jti) does not count as a replay: take it
        # over. A live row is left alone, and RETURNING then yields nothing.
        stmt: postgresql.Insert | sqlite.Insert
        if self._dialect == "postgresql":
            stmt = postgresql.insert(table).values(iss=iss, jti=jti, expires_at=expires_at)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.iss, table.c.jti],
                set_={"expires_at": stmt.excluded.expires_at},
                where=table.c.expires_at <= now,
            )
        else:
            stmt = sqlite.insert(table).values(iss=iss, jti=jti, expires_at=expires_at)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.iss, table.c.jti],
                set_={"expires_at": stmt.excluded.expires_at},
                where=table.c.expires_at <= now,
            )
        returning = stmt.returning(table.c.jti)
        try:
            with one_writer(self._engine), self._engine.begin() as connection:
                recorded = connection.execute(returning).first() is not None
        except SQLAlchemyError as exc:
            raise AuditError(f"replay cache unavailable: {type(exc).__name__}") from exc
        if now - self._last_purge >= _PURGE_EVERY:
            self._purge(now)
        return not recorded

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
