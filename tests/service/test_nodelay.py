"""Every connection gets TCP_NODELAY: without it, keep-alive responses waited ~44 ms for a delayed ACK."""

from __future__ import annotations

import asyncio
import importlib
import socket
import time
from typing import Any
from unittest import mock

import pytest
import uvicorn
from uvicorn.server import ServerState

from cds.service.serve import NoDelayH11Protocol, NoDelayHttpToolsProtocol

serve_module = importlib.import_module("cds.service.serve")


class _Transport:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {
            "socket": self.sock,
            "sockname": self.sock.getsockname(),
            "peername": self.sock.getpeername(),
        }.get(name, default)


@pytest.mark.parametrize("protocol", [NoDelayHttpToolsProtocol, NoDelayH11Protocol])
def test_connection_made_sets_tcp_nodelay_on_the_socket(protocol: Any) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    try:
        accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        loop = asyncio.new_event_loop()
        try:
            config = uvicorn.Config(app=mock.Mock())
            config.load()
            proto = protocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
            proto.connection_made(_Transport(accepted))  # type: ignore[arg-type]
        finally:
            loop.close()
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        for s in (accepted, client, server):
            s.close()


def test_cds_serve_uses_the_nodelay_protocol(monkeypatch: Any) -> None:
    monkeypatch.setenv("CDS_AUTH", "off")
    environ = {k: v for k, v in serve_module.os.environ.items() if k != "UV_TCP_SINGLE_ACCEPT"}
    monkeypatch.setattr(serve_module.os, "environ", environ)  # restored after the test
    with mock.patch.object(serve_module.uvicorn, "run") as run:
        serve_module.serve("127.0.0.1", 8000, 2)
    # Several workers: each accepts one connection per loop turn (libuv), so bursts spread out.
    assert serve_module.os.environ["UV_TCP_SINGLE_ACCEPT"] == "1"
    assert run.call_args.kwargs["http"] == "cds.service.serve:NoDelayHttpToolsProtocol"
    assert run.call_args.kwargs["loop"] == "uvloop"
    assert run.call_args.kwargs["workers"] == 2


def _serve_in_thread(timeout_s: int, protocol: Any) -> tuple[uvicorn.Server, int, Any]:
    import threading

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=protocol,
        timeout_keep_alive=timeout_s,
        log_level="error",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # bounded: 10 s
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    return server, port, thread


def _closed_within(conn: socket.socket, seconds: float, trickle: bytes = b"") -> float:
    """Seconds until the server closed the connection, sending `trickle` one byte per 0.2 s."""
    started = time.monotonic()
    conn.settimeout(0.2)
    sent = 0
    while time.monotonic() - started < seconds:
        try:
            if conn.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        if sent < len(trickle):
            try:
                conn.sendall(trickle[sent : sent + 1])
            except OSError:
                return time.monotonic() - started
            sent += 1
    return float("inf")


@pytest.mark.parametrize("protocol", [NoDelayHttpToolsProtocol, NoDelayH11Protocol])
def test_idle_and_trickling_connections_are_closed_after_the_request_head_deadline(protocol: Any) -> None:
    server, port, thread = _serve_in_thread(timeout_s=1, protocol=protocol)
    try:
        idle = socket.create_connection(("127.0.0.1", port))
        assert _closed_within(idle, 4) < 3
        slow = socket.create_connection(("127.0.0.1", port))
        headers = b"GET / HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100
        assert _closed_within(slow, 4, trickle=headers) < 3  # one byte per 0.2 s: cut after ~1 s
        ok = socket.create_connection(("127.0.0.1", port))
        ok.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        ok.settimeout(2)
        assert ok.recv(1024).startswith(b"HTTP/1.1 200")
        for s in (idle, slow, ok):
            s.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("protocol", [NoDelayHttpToolsProtocol, NoDelayH11Protocol])
def test_a_request_head_over_16_kib_is_431_and_a_large_body_is_not(protocol: Any) -> None:
    server, port, thread = _serve_in_thread(timeout_s=5, protocol=protocol)
    try:
        big = socket.create_connection(("127.0.0.1", port))
        big.settimeout(5)
        big.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        # 431 here; h11 refuses such a head itself with a 400 first.
        assert big.recv(1024)[:12] in (b"HTTP/1.1 431", b"HTTP/1.1 400")
        ok = socket.create_connection(("127.0.0.1", port))
        ok.settimeout(5)
        body = b"x" * 200_000  # the body is not the head: read by the app (which has its own cap)
        ok.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        assert ok.recv(1024).startswith(b"HTTP/1.1 200")
        for s in (big, ok):
            s.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
