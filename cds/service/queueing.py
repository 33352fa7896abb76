"""One queue per worker for the CPU work of hook calls, first come first served.

The rules engine and everything around it hold the GIL: work in parallel threads only shares one
core, each call taking as long as all of them together (at 10 concurrent calls every call ended
late, and the audit writes of finished calls waited behind new assessments). Queued one at a time,
a call's steps run at full speed, so latency grows with the queue, not with its square.

What goes through the queue: the assessment with its cards, then the report and the audit write
of each call (the write's disk flush is short; holding the queue through it keeps a finished call
ahead of a new one). JWT verification does not: it may fetch a JWKS over the network, which must
not hold every call of the worker. Limiters are per event loop (tests run one loop per request).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class CpuQueue:
    def __init__(self) -> None:
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def _limiter(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        if loop not in self._limiters:
            # anyio's limiter hands its one token to waiters in arrival order.
            self._limiters[loop] = anyio.CapacityLimiter(1)
        return self._limiters[loop]

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` in a worker thread, after the work queued before it."""
        return await anyio.to_thread.run_sync(work, limiter=self._limiter())
