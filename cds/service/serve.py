"""Run the service under uvicorn (the `cds serve` command)."""

from __future__ import annotations

import uvicorn

from cds.service.settings import Settings


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve until interrupted. Settings come from the environment (see README, "Deployment").

    Settings are checked here first so a bad configuration fails once, clearly, before workers start.
    Scale with workers (processes): the rules engine holds the GIL, threads do not add throughput.
    """
    Settings.from_env()
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
        http="cds.service.nodelay:NoDelayH11Protocol",
    )
