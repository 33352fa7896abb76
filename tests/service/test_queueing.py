"""The worker's CPU queue: one piece of work at a time, in the order it was queued."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any

from cds.service.queueing import CpuQueue


def _run(coro: Any) -> Any:
    """asyncio.run in a thread of its own: another test (Playwright's sync API) may leave an event
    loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_work_runs_one_at_a_time_in_arrival_order() -> None:
    queue = CpuQueue()
    events: list[tuple[str, int]] = []
    running = threading.Semaphore(1)
    overlaps: list[int] = []

    def work(k: int) -> int:
        if not running.acquire(blocking=False):
            overlaps.append(k)
        else:
            events.append(("start", k))
            time.sleep(0.01)  # holds its turn; without the queue the threads would overlap here
            events.append(("end", k))
            running.release()
        return k * k

    async def main() -> list[int]:
        tasks = []
        for k in range(6):
            tasks.append(asyncio.create_task(queue.run(lambda k=k: work(k))))
            await asyncio.sleep(0)  # queued in this order
        return list(await asyncio.gather(*tasks))

    assert _run(main()) == [k * k for k in range(6)]
    assert overlaps == []
    assert [k for what, k in events if what == "start"] == list(range(6))


def test_a_queue_serves_one_event_loop_after_another() -> None:
    queue = CpuQueue()
    assert _run(queue.run(lambda: 1)) == 1
    assert _run(queue.run(lambda: 2)) == 2  # a new loop: served by the same queue, not blocked


def test_work_whose_caller_is_cancelled_before_its_turn_never_runs() -> None:
    queue = CpuQueue()
    ran: list[str] = []
    release = threading.Event()

    def first() -> None:
        release.wait(5)
        ran.append("first")

    async def main() -> None:
        holding = asyncio.create_task(queue.run(first))
        await asyncio.sleep(0.05)  # `first` holds the queue
        waiting = asyncio.create_task(queue.run(lambda: ran.append("cancelled")))
        await asyncio.sleep(0.01)
        waiting.cancel()
        await asyncio.sleep(0.01)  # the cancellation reaches the queue before `first` ends
        release.set()
        await holding
        await queue.run(lambda: ran.append("after"))

    _run(main())
    assert ran == ["first", "after"]
