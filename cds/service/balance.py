"""Keep-alive connections spread evenly over `cds serve`'s worker processes.

The workers share one listening socket and the kernel gives each new connection to whichever
worker accepts first; a connection then stays with that worker for as long as the client keeps
it alive. An EHR opens its pool of connections in a burst, so one worker could end up holding most
of them (measured: all 10 of a 10-client burst on one of 2 workers, the other idle), and their
calls queued behind each other while a core had nothing to do.

Each worker publishes how many connections it holds in a small table shared through a file
(`ConnectionTable`, one slot a worker, claimed with a lock that dies with its process). A worker
holding more than its fair share (the total over the number of workers, rounded up) answers the
next request on one of its connections with `Connection: close` (RFC 9112 section 9.6); the
client's next request opens a new connection, which the less busy worker is the likelier to
accept. No request is refused or cut short; a connection costs one more TCP handshake.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import mmap
import os
import struct
from pathlib import Path

SLOTS = 64  # more than any worker count on one machine; a dead worker's slot is taken over
_SLOT = struct.Struct("<i")
_ALL = struct.Struct(f"<{SLOTS}i")
TABLE_ENV = "CDS_CONNECTION_TABLE"
WORKERS_ENV = "CDS_SERVE_WORKERS"


def create_table(directory: Path) -> Path:
    """A zeroed table file for a new server (`cds serve` makes one per run)."""
    path = directory / "connections"
    path.write_bytes(bytes(_ALL.size))
    return path


class ConnectionTable:
    """This worker's slot of the shared table, and its reading of everyone's."""

    def __init__(self, path: Path, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, _ALL.size)
        finally:
            os.close(fd)
        self._lock_fd, self.slot = _claim_slot(path)
        self.held = 0  # connections open in this worker
        self.leaving = 0  # of those, told to close after their current response
        self._publish()

    def opened(self) -> None:
        self.held += 1
        self._publish()

    def closed(self, *, was_leaving: bool) -> None:
        self.held = max(0, self.held - 1)
        if was_leaving:
            self.leaving = max(0, self.leaving - 1)
        self._publish()

    def should_shed(self) -> bool:
        """True when this worker holds more than its share: the caller closes one connection after
        its response and says so with `leave()`."""
        staying = self.held - self.leaving
        if staying <= 1:
            return False
        total: int = sum(_ALL.unpack_from(self._map, 0))
        return staying > math.ceil(total / self.workers)

    def leave(self) -> None:
        self.leaving += 1

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            _SLOT.pack_into(self._map, self.slot * _SLOT.size, 0)
            self._map.close()
        os.close(self._lock_fd)

    def _publish(self) -> None:
        # Every open connection counts towards the total, those about to close too: their clients
        # will reconnect, so the fair share is judged on all of them.
        _SLOT.pack_into(self._map, self.slot * _SLOT.size, self.held)


def _claim_slot(path: Path) -> tuple[int, int]:
    """(lock fd, slot): the first slot no living worker holds."""
    for slot in range(SLOTS):
        fd = os.open(f"{path}.{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd, slot
    raise RuntimeError(f"more than {SLOTS} workers share the connection table {path}")


_table: ConnectionTable | None = None
_looked = False


def worker_table() -> ConnectionTable | None:
    """This worker's table, when `cds serve` runs several workers; None otherwise (or if the table
    cannot be opened: balancing is an optimisation, never a reason to refuse a connection)."""
    global _table, _looked
    if not _looked:
        _looked = True
        path, workers = os.environ.get(TABLE_ENV), os.environ.get(WORKERS_ENV, "")
        if path and workers.isdigit() and int(workers) > 1:
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                _table = ConnectionTable(Path(path), int(workers))
    return _table
