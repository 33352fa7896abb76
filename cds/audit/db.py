"""Database URL, engine and the column type for instants: the parts of the audit store that differ
between SQLite (default, zero set-up) and PostgreSQL (several hosts, several workers)."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.types import TypeDecorator

from cds.errors import ServiceUnavailable

try:
    import fcntl
except ImportError:  # Windows: writers of several processes queue on SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

DATABASE_URL_ENV = "CDS_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000


class AuditError(ServiceUnavailable):
    """The audit database cannot be used (bad URL, unreachable, or a write was refused)."""


def default_database_url() -> str:
    """``$CDS_DATABASE_URL``, else a SQLite file in the user's data folder.

    The data folder (``$XDG_DATA_HOME`` or ``~/.local/share``) rather than the working directory so
    that the service and ``cds audit`` find the same file wherever they are started from.
    """
    env = os.environ.get(DATABASE_URL_ENV, "").strip()
    if env:
        return env
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'ketamine-cds' / 'audit.sqlite3'}"


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _normalise(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise AuditError(
            f"not a database URL: {url!r} (expected sqlite:///path or postgresql+psycopg://...)"
        ) from None
    # "postgres://" (Heroku style) and bare "postgresql://" would pick psycopg2, which we do not ship.
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise AuditError(f"{safe_url(parsed)}: only SQLite and PostgreSQL are supported")
    return parsed


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    parsed = _normalise(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database).expanduser()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions start (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")  # off by default in SQLite
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")  # wait for another worker's write
    if dbapi_connection.execute("PRAGMA database_list").fetchone()[2]:  # a file, not :memory:
        # WAL: readers (``cds audit``) do not block the service's writes, nor the other way round.
        cursor.execute("PRAGMA journal_mode = WAL")
        # A 200 means its audit record is on disk: every commit flushes the WAL (FULL), whatever
        # default the SQLite build has (NORMAL survives a crash of the process, not of the machine).
        cursor.execute("PRAGMA synchronous = FULL")
    cursor.close()


READ_ONLY = {"cds_read_only": True}  # execution option: a transaction that never writes


def _sqlite_on_begin(connection: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so concurrent workers queue on busy_timeout
    # instead of failing with "database is locked" when a read transaction tries to become a write.
    # It also serialises schema migrations started by several workers at once. A transaction marked
    # READ_ONLY takes no write lock (WAL: it reads a snapshot beside the writer).
    if connection.get_execution_options().get("cds_read_only"):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    parsed = _normalise(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError):
        raise AuditError(
            f"{safe_url(parsed)}: the PostgreSQL driver is not installed "
            "(pip install 'psycopg[binary]>=3.1,<4')"
        ) from None


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def one_writer(engine: Engine) -> Iterator[None]:
    """On SQLite, one transaction at a time, queued on locks that wake the next writer at once.

    Every transaction here takes SQLite's write lock (BEGIN IMMEDIATE). A writer that meets it waits
    in SQLite's busy handler, which sleeps in growing steps (up to 100 ms a step) and does not wake
    when the lock is freed: at 10 concurrent calls the slowest waited over a second while the
    database sat idle. Threads of one worker queue on a process lock; worker processes (`cds serve
    --workers N`) queue on an advisory lock on a file beside the database (flock, POSIX), so the
    busy handler is only the last resort (another program writing the file, or Windows).
    PostgreSQL needs nothing of this.
    """
    if engine.dialect.name != "sqlite":
        yield
        return
    lock = _SQLITE_WRITERS.setdefault(engine, threading.Lock())
    with lock:
        fd = _writer_lock_file(engine)
        if fd is None:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


_WRITER_LOCK_FILES: weakref.WeakKeyDictionary[Engine, int | None] = weakref.WeakKeyDictionary()


def _writer_lock_file(engine: Engine) -> int | None:
    """The open lock file of a SQLite file database (`<database>.writer-lock`), opened once per
    engine; None for an in-memory database, without fcntl, or when the file cannot be made."""
    if engine in _WRITER_LOCK_FILES:
        return _WRITER_LOCK_FILES[engine]
    fd: int | None = None
    database = engine.url.database
    if fcntl is not None and database and database != ":memory:" and not database.startswith("file:"):
        try:
            fd = os.open(f"{Path(database).expanduser()}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
            weakref.finalize(engine, os.close, fd)
        except OSError:
            fd = None
    _WRITER_LOCK_FILES[engine] = fd
    return fd


class UtcDateTime(TypeDecorator[datetime]):
    """An instant, always timezone-aware UTC in Python.

    PostgreSQL stores timestamptz. SQLite has no time zone type, so values are stored as naive UTC;
    the same conversion applies to query parameters, so comparisons stay correct.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the audit store: pass a timezone-aware instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
