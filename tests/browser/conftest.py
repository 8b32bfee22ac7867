"""A real browser for the pages people open: Debian's chromium driven by Playwright (DESIGN.md §5).

Never `playwright install`: `make test` installs the Debian package (/usr/bin/chromium) and the
browser tests fail, rather than skip, when it is missing.

One browser for all the tests of this folder and a fresh context (no cookies, no cache) per test.
The browser is package-scoped, which needs this folder's ``__init__.py``: Playwright's sync API
marks its event loop as running in the main thread for as long as it is started, so a browser
kept for the whole session would make every later ``asyncio.run()`` in the suite fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 20_000  # every wait for a page or an element; generous for a loaded 2-core CI machine
expect.set_options(timeout=TIMEOUT_MS)  # expect() waits 5 s by default, whatever the context says


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium. `make test` installs it "
                    "(apt-get install chromium); never `playwright install`.", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Console(list):
    """What a page wrote to its console, and the errors it raised, as text."""

    def record(self, msg: ConsoleMessage) -> None:
        self.append(f"{msg.type}: {msg.text}")

    def csp_violations(self) -> list[str]:
        # Chromium reports each blocked inline script, handler, image... as a console error
        # "Refused to ... because it violates the following Content Security Policy directive".
        return [line for line in self if "Content Security Policy" in line]


@pytest.fixture
def open_page(browser) -> Iterator[Callable[..., Page]]:
    """``open_page(**context_options)``: a page in a context of its own, its console in
    ``page.console`` (a ``Console``). At teardown the test errors if any of its pages hit our
    Content-Security-Policy: our own pages must not need anything it blocks."""
    opened: list[tuple[BrowserContext, Console]] = []

    def open_(**options) -> Page:
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        console = Console()
        page.on("console", console.record)
        page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
        page.console = console
        opened.append((context, console))
        return page

    yield open_
    violations = [line for _, console in opened for line in console.csp_violations()]
    for context, _ in opened:
        context.close()
    if violations:
        pytest.fail("Content-Security-Policy violations in the browser console:\n" + "\n".join(violations),
                    pytrace=False)


@pytest.fixture
def page(open_page) -> Page:
    """A page in a fresh context (no cookies, no cache, the page's CSP enforced)."""
    return open_page()


def save_screenshot(page: Page, folder: Path, name: str) -> Path:
    """The whole page as ``folder/name.png`` (the folder is made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Read once at import: the ``settings`` fixture clears every THREATLINE_* variable before a test runs.
SCREENSHOTS = os.environ.get("THREATLINE_SCREENSHOTS")


@pytest.fixture
def screenshot(tmp_path, request) -> Callable[[Page, str], Path]:
    """``screenshot(page, name)`` saves into $THREATLINE_SCREENSHOTS if set (to look at them),
    else into the test's tmp_path; the file name starts with the test's name."""
    folder = Path(SCREENSHOTS or tmp_path / "screenshots")
    return lambda page, name: save_screenshot(page, folder, f"{request.node.name}-{name}")
