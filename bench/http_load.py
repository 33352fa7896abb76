"""A bounded HTTP/1.1 load generator on loopback: `clients` concurrent clients, each on its own
keep-alive connection, send the same request until `count` requests are done or `seconds` have
passed, whichever comes first. Closed loop by default (each client sends its next request as soon
as the last one is answered: this measures capacity); with `interval_s`, each client sends one
request per interval (a clinician's EHR session is not a tight loop: this measures latency at a
stated load).

Raw asyncio streams with every request's head (its token signed) built before the clock, not an HTTP client
library: the generator shares the 2 cores with the service, and httpx cost about 1.5 ms of CPU a
request (plus 0.4 ms to sign each ES384 token), a tenth of what the service had to work with at
10 clients. wrk or hey would do, but neither is installed here nor a project dependency. What it
reads of a response: the status line, Content-Length, Connection and the body. Its own CPU time is
reported beside the latencies.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


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


class _BadResponse(Exception):
    pass


def run_load(
    url: str,
    *,
    clients: int,
    count: int,
    seconds: float,
    body: bytes | None = None,
    check: Callable[[bytes], bool] | None = None,
    interval_s: float | None = None,
    headers: Callable[[], dict[str, str]] | None = None,
) -> LoadResult:
    """`headers`: a callable giving one request's extra headers (e.g. a fresh signed JWT), called
    `count` times before the clock starts. `check(body)` says whether a 200's body is an answer."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError("the load generator only talks to loopback over http")
    host, port = parts.hostname, parts.port or 80
    heads = _heads(parts, body, headers, count)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    result = asyncio.run(_load(host, port, heads, body or b"", clients, seconds, check, interval_s))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    result.client_cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return result


def _heads(
    parts: Any, body: bytes | None, headers: Callable[[], dict[str, str]] | None, count: int
) -> list[bytes]:
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    method = "GET" if body is None else "POST"
    fixed = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    if body is not None:
        fixed += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"

    def one(extra: dict[str, str]) -> bytes:
        # The head only: the body is shared, not copied into each request (2,000 copies of an
        # 80 KiB body were 160 MB).
        return (fixed + "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n").encode("latin-1")

    if headers is None:
        return [one({})] * count
    return [one(headers()) for _ in range(count)]


async def _load(
    host: str,
    port: int,
    heads: list[bytes],
    body: bytes,
    clients: int,
    seconds: float,
    check: Callable[[bytes], bool] | None,
    interval_s: float | None,
) -> LoadResult:
    result = LoadResult()
    pending = iter(heads)
    deadline = time.perf_counter() + seconds

    async def one_client(k: int) -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        # Paced clients start spread over one interval so they do not all fire together.
        due = time.perf_counter() + (interval_s * k / clients if interval_s else 0.0)
        try:
            while time.perf_counter() < deadline:
                if interval_s:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    due += interval_s
                head = next(pending, None)
                if head is None:
                    return
                t = time.perf_counter()
                try:
                    if connection is None:
                        connection = await _connect(host, port)
                    status, content, keep = await _exchange(*connection, head, body)
                    elapsed = time.perf_counter() - t
                except (OSError, asyncio.IncompleteReadError, _BadResponse):
                    result.errors += 1
                    connection = _close(connection)
                    continue
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status != 200 or (check is not None and not check(content)):
                    result.errors += 1
                else:
                    result.latencies_s.append(elapsed)
                if not keep:
                    connection = _close(connection)
        finally:
            _close(connection)

    start = time.perf_counter()
    await asyncio.gather(*(one_client(k) for k in range(clients)))
    result.wall_s = time.perf_counter() - start
    return result


async def _connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    # Without TCP_NODELAY a request sent in two segments can wait for a delayed ACK (about 40 ms).
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
) -> tuple[int, bytes, bool]:
    """(status, body, connection kept alive) of one request on a keep-alive connection."""
    writer.writelines((head, body))
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise _BadResponse from None
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "content-length" not in fields:
        raise _BadResponse  # the service always sends one; chunked bodies are not read here
    content = await reader.readexactly(int(fields["content-length"]))
    return status, content, fields.get("connection", "").lower() != "close"


def _close(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
    if connection is not None:
        connection[1].close()
    return None
