"""Replay protection: remember each token's (iss, jti) until the token could no longer be accepted."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TokenUse:
    """A verified token whose (iss, jti) is still to be recorded, until `expires_at`: by the audit
    write of the hook call it authorises (one transaction, see cds.audit.store), or by `seen`."""

    iss: str
    jti: str
    expires_at: datetime


class ReplayCache(Protocol):
    def seen(self, iss: str, jti: str, expires_at: datetime) -> bool:
        """Atomically record (iss, jti) until expires_at; True if it was already recorded and unexpired."""
        ...

    def recorded(self, iss: str, jti: str) -> bool:
        """Whether (iss, jti) is recorded and unexpired; records nothing (the early refusal of a
        replay whose use is recorded later, atomically)."""
        ...


class MemoryReplayCache:
    """In-process replay cache. Only correct with ONE worker process: with several, each worker has its
    own memory and a token replayed to another worker is accepted. Use AuditStore.replay_cache() then."""

    def __init__(self, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._expiry: dict[tuple[str, str], datetime] = {}
        # Min-heap by expiry so purging is proportional to what expired, not to the cache size.
        self._heap: list[tuple[datetime, str, str]] = []
        self._lock = threading.Lock()

    def _purge(self, now: datetime) -> None:
        while self._heap and self._heap[0][0] <= now:
            expires_at, iss, jti = heapq.heappop(self._heap)
            if self._expiry.get((iss, jti)) == expires_at:
                del self._expiry[(iss, jti)]

    def seen(self, iss: str, jti: str, expires_at: datetime) -> bool:
        with self._lock:
            self._purge(self._clock())
            if (iss, jti) in self._expiry:
                return True
            self._expiry[(iss, jti)] = expires_at
            heapq.heappush(self._heap, (expires_at, iss, jti))
            return False

    def recorded(self, iss: str, jti: str) -> bool:
        with self._lock:
            expires_at = self._expiry.get((iss, jti))
            return expires_at is not None and expires_at > self._clock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)
