"""One queue per worker for the CPU work of hook calls, first come first served.

The rules engine and everything around it hold the GIL: work in parallel threads only shares one
core, each call taking as long as all of them together (at 10 concurrent calls every call ended
late, and the audit writes of finished calls waited behind new assessments). Queued one at a time,
a call's steps run at full speed, so latency grows with the queue, not with its square.

What goes through the queue: a call's replay check, its assessment with its cards, its report and
its audit write, in one turn (the write's disk flush is short; holding the queue through it keeps a
finished call ahead of a new one). JWT verification does not: it may fetch a JWKS over the
network, which must not hold every call of the worker.

The queue is one thread with its own FIFO (a one-thread executor): work queued from any event loop
runs in arrival order, and work whose caller was cancelled before its turn never runs. It replaced
anyio's thread pool behind a one-token limiter, whose hand-off cost about 0.1 ms more per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class CpuQueue:
    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cds-cpu-queue")

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` in the queue's thread, after the work queued before it."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)
