"""Run the service under uvicorn (the `cds serve` command): TCP_NODELAY on every connection, and a
deadline for each request head so that idle or trickling connections are closed.

HTTP parsing by httptools (llhttp, C) on the uvloop event loop rather than uvicorn's defaults here,
h11 (pure Python) on asyncio's loop: see `make bench` and the README's design table."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cds.service.balance import TABLE_ENV, WORKERS_ENV, create_table, worker_table
from cds.service.settings import Settings

MAX_HEAD_BYTES = 16 * 1024  # request line and headers; a CDS Hooks call needs a few hundred bytes
_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)


class _Hardened:
    """TCP_NODELAY on every connection and a request-head deadline, over either uvicorn protocol.

    TCP_NODELAY: with several workers (`cds serve --workers N`) the accepted sockets came without it,
    so a keep-alive response written as headers then body waited for the client's delayed ACK:
    measured 44 ms for every GET /health on a reused connection, 2 ms with this protocol.

    Deadline: uvicorn times out a keep-alive connection only after a response, and every byte received
    restarts that timer, so a connection that never sends a request, or sends its headers one byte at
    a time, was held open forever. Here a complete request head must arrive within
    `timeout_keep_alive` (CDS_KEEP_ALIVE_S) of the connection opening or of the last response; the
    body has its own limit (CDS_BODY_TIMEOUT_S, in the app).

    Head size: httptools sets no limit of its own (a 2 MB header was read in full), so the bytes
    received while a request head is still incomplete are counted and past MAX_HEAD_BYTES the
    connection is answered 431 and closed.
    """

    _head_deadline: asyncio.TimerHandle | None = None
    _waiting_since: object = None
    _head_bytes: int = 0
    _counted: bool = False  # in this worker's connection table (cds.service.balance)
    _leaving: bool = False
    _judged: object = None  # the last request cycle judged for shedding
    # Set by the protocol this is mixed into.
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    timeout_keep_alive: int

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # a transport without a real TCP socket: nothing to tune
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)  # type: ignore[misc]
        table = worker_table()
        if table is not None:
            table.opened()
            self._counted = True
        self._await_request_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._await_request_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._counted and self.cycle is not None and self.cycle is not self._judged:
            self._shed_if_over_share()
        # Bytes count against the head only while it is still incomplete after parsing them (a body
        # sent in the same segment as its head does not).
        if self.cycle is self._waiting_since and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self.transport.write(_HEAD_TOO_LARGE)
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        table = worker_table()
        if self._counted and table is not None:
            table.closed(was_leaving=self._leaving)
            self._counted = False
        super().connection_lost(exc)  # type: ignore[misc]

    def _shed_if_over_share(self) -> None:
        """A new request: if this worker holds more than its share of connections, this one closes
        after its response (see cds.service.balance)."""
        self._judged = self.cycle
        table = worker_table()
        if not self._leaving and table is not None and table.should_shed():
            self.cycle.keep_alive = False
            self._leaving = True
            table.leave()

    def _await_request_head(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        waiting_since = self.cycle  # a new request head replaces the cycle
        self._waiting_since, self._head_bytes = waiting_since, 0
        self._head_deadline = self.loop.call_later(self.timeout_keep_alive, self._head_overdue, waiting_since)

    def _head_overdue(self, waiting_since: object) -> None:
        if self.cycle is waiting_since and not self.transport.is_closing():
            self.transport.close()


class NoDelayH11Protocol(_Hardened, H11Protocol):
    """h11 (pure Python) with TCP_NODELAY and the request-head deadline (tests, embedding)."""


class NoDelayHttpToolsProtocol(_Hardened, HttpToolsProtocol):
    """httptools (C) with TCP_NODELAY and the request-head deadline: the default."""


def protocol_and_loop() -> tuple[str, str]:
    """uvicorn's `http` and `loop` settings. uvloop is not built for Windows: asyncio's loop there."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    return "cds.service.serve:NoDelayHttpToolsProtocol", loop


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve until interrupted. Settings come from the environment (see README, "Deployment").

    Settings are checked here first so a bad configuration fails once, clearly, before workers start.
    Scale with workers (processes): the rules engine holds the GIL, threads do not add throughput.
    """
    settings = Settings.from_env()
    if workers > 1:
        # libuv (under uvloop) accepts one connection per loop turn in this mode: a busy worker
        # leaves new connections to idle ones instead of taking a whole burst (measured: with 10
        # clients one of 2 workers held two thirds of the connections, and the calls queued there).
        os.environ.setdefault("UV_TCP_SINGLE_ACCEPT", "1")
    with tempfile.TemporaryDirectory(prefix="cds-serve-") as tmp:
        if workers > 1:
            # The workers inherit these: their shared table of connections (cds.service.balance).
            os.environ[TABLE_ENV] = str(create_table(Path(tmp)))
            os.environ[WORKERS_ENV] = str(workers)
        _run(settings, host, port, workers)


def _run(settings: Settings, host: str, port: int, workers: int) -> None:
    http, loop = protocol_and_loop()
    uvicorn.run(
        "cds.service.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        server_header=False,
        # The access log would write report URLs, whose id is the report's only credential; the
        # service logs each call itself (without ids or patient data).
        access_log=False,
        http=http,
        loop=loop,
        # An idle keep-alive connection is closed after this; a slow body is cut by the app (408).
        timeout_keep_alive=settings.keep_alive_s,
    )
