"""Every connection gets TCP_NODELAY: without it, keep-alive responses waited ~44 ms for a delayed ACK."""

from __future__ import annotations

import asyncio
import importlib
import socket
from typing import Any
from unittest import mock

import uvicorn
from uvicorn.server import ServerState

from cds.service.serve import NoDelayH11Protocol

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


def test_connection_made_sets_tcp_nodelay_on_the_socket() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    try:
        accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        loop = asyncio.new_event_loop()
        try:
            config = uvicorn.Config(app=mock.Mock())
            config.load()
            proto = NoDelayH11Protocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
            proto.connection_made(_Transport(accepted))  # type: ignore[arg-type]
        finally:
            loop.close()
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        for s in (accepted, client, server):
            s.close()


def test_cds_serve_uses_the_nodelay_protocol(monkeypatch: Any) -> None:
    monkeypatch.setenv("CDS_AUTH", "off")
    with mock.patch.object(serve_module.uvicorn, "run") as run:
        serve_module.serve("127.0.0.1", 8000, 2)
    assert run.call_args.kwargs["http"] == "cds.service.serve:NoDelayH11Protocol"
    assert run.call_args.kwargs["workers"] == 2
