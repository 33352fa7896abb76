"""A real headless Chromium for the report tests, offline, with console and network watched.

Chromium comes from Debian (`.ci/chromium.sh`), driven by Playwright for Python through
`executable_path`; Playwright's own browser download is never used (no network here).
Without Chromium or Playwright the browser tests skip with the reason, unless
CDS_REQUIRE_BROWSER=1 (CI), where a missing browser is a failure, not a silent pass.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = os.environ.get("CDS_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",  # root in a container: Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CDS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (CDS_REQUIRE_BROWSER=1; run .ci/chromium.sh)")
    pytest.skip(f"{reason}; run .ci/chromium.sh to install it")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed in this environment")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    with sync_playwright() as p:
        # launch() gives Chromium a fresh temporary user-data-dir and removes it on close
        # (it refuses a --user-data-dir flag), so no profile state leaks between runs.
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@dataclass
class Watched:
    """A page plus everything it tried to do that a self-contained report must never do."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=True)
    page = context.new_page()
    w = Watched(page)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            w.console_errors.append(msg.text)

    def on_request(req: Request) -> None:
        if not req.url.startswith(("about:", "data:")):
            w.requests.append(req.url)

    def route(r: Route) -> None:
        # Anything that is not the page itself fails, so a stray fetch cannot hang or succeed.
        if r.request.url.startswith(("about:", "data:")):
            r.continue_()
        else:
            r.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: w.console_errors.append(str(exc)))
    page.on("request", on_request)
    page.route("**/*", route)
    ARTIFACTS.mkdir(exist_ok=True)
    yield w
    context.close()
