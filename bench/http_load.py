"""A bounded HTTP load generator on loopback: `clients` concurrent clients, each on its own
keep-alive connection, send the same request until `count` requests are done or `seconds` have
passed, whichever comes first. Closed loop by default (each client sends its next request as soon
as the last one is answered: this measures capacity); with `interval_s`, each client sends one
request per interval (a clinician's EHR session is not a tight loop: this measures latency at a
stated load).

httpx (already a dependency) rather than wrk or hey: neither is installed here nor in the
project's dependencies, and a Python client can build the CDS Hooks body from the same seeded
patient. It shares the 2 cores with the server, so the latencies it reports are pessimistic;
its own CPU time is reported beside them.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class LoadResult:
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0

    def quantile(self, q: float) -> float:
        data = sorted(self.latencies_s)
        return data[min(len(data) - 1, int(q * len(data)))] if data else float("nan")


def run_load(
    url: str,
    *,
    clients: int,
    count: int,
    seconds: float,
    body: bytes | None = None,
    check: Any = None,
    interval_s: float | None = None,
    headers: Any = None,
) -> LoadResult:
    """`headers`: a callable giving each request's extra headers (e.g. a fresh signed JWT)."""
    if not url.startswith(("http://127.0.0.1", "http://localhost")):
        raise ValueError("the load generator only talks to loopback")
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    result = asyncio.run(_load(url, clients, count, seconds, body, check, interval_s, headers))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    result.client_cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return result


async def _load(
    url: str,
    clients: int,
    count: int,
    seconds: float,
    body: bytes | None,
    check: Any,
    interval_s: float | None,
    extra_headers: Any = None,
) -> LoadResult:
    result = LoadResult()
    remaining = [count]
    deadline = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    # TCP_NODELAY: without it a keep-alive request sent in two segments can wait for a delayed ACK
    # (about 40 ms a round trip).
    transport = httpx.AsyncHTTPTransport(
        limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    )
    async with httpx.AsyncClient(transport=transport, timeout=30.0) as client:

        async def one_client(k: int) -> None:
            # Paced clients start spread over one interval so they do not all fire together.
            due = time.perf_counter() + (interval_s * k / clients if interval_s else 0.0)
            while remaining[0] > 0 and time.perf_counter() < deadline:
                if interval_s:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    due += interval_s
                remaining[0] -= 1
                # The client's own work (signing a JWT: 0.4 ms for ES384) happens before the clock
                # starts: the latency is the service's.
                sent = {**headers, **extra_headers()} if extra_headers else headers
                t = time.perf_counter()
                try:
                    if body is None:
                        resp = await client.get(url)
                    else:
                        resp = await client.post(url, content=body, headers=sent)
                    elapsed = time.perf_counter() - t
                    result.statuses[resp.status_code] = result.statuses.get(resp.status_code, 0) + 1
                    if resp.status_code != 200 or (check is not None and not check(resp)):
                        result.errors += 1
                    else:
                        result.latencies_s.append(elapsed)
                except httpx.HTTPError:
                    result.errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(one_client(k) for k in range(clients)))
        result.wall_s = time.perf_counter() - start
    return result
