"""Fixtures for the dashboard's browser tests: a real server, Debian's Chromium, screenshots.

``dashboard`` (one per module): ``stepwell dev`` as its own process on a free loopback port,
with a temporary SQLite database and the app of ``tests/e2e/browser/app.py`` mounted with
``--app``; a few runs are made before the tests start (one sleeping, one failed, two completed,
a debounced event). ``start_server`` starts one by hand (``stepwell start`` for the login tests).

``browser`` (one per session) is ``/usr/bin/chromium`` under Playwright's sync API: Playwright's
own browser download is never used. Without Chromium the tests skip, except in CI (``CI=true``),
where that is a failure. ``page`` is a fresh browser context on the module's dashboard; every
wait in it is bounded (``PAGE_TIMEOUT_MS``). ``screenshot(page, name)`` writes
``test-artifacts/screenshots/<name>.png``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.harness import (
    LOOPBACK,
    STARTUP_TIMEOUT,
    ManagedProcess,
    StepwellDev,
    free_port,
    wait_until,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
APP_SPEC = "tests.e2e.browser.app:app"
APP_FUNCTIONS = ("nap", "charge", "ship", "digest")

# `stepwell start` needs keys; the tests use these (never real ones).
SIGNING_KEY = "signkey-test-" + "5e" * 32
EVENT_KEY = "test-key"  # the key StepwellDev.send posts to

PAGE_TIMEOUT_MS = 10_000
"""The bound of every Playwright wait (a locator, a navigation, an expect)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@dataclasses.dataclass
class Server:
    """A running ``stepwell dev``/``start`` with the browser app, and an API client for it."""

    command: str
    process: ManagedProcess
    url: str
    database: Path
    api: StepwellDev
    runs: dict[str, str] = dataclasses.field(default_factory=dict)
    """Run ids made before the tests: ``nap`` (sleeping), ``charge`` (failed), ``ship``."""

    def diagnostics(self) -> str:
        return self.process.describe()


@contextlib.contextmanager
def start_server(
    workdir: Path,
    *,
    command: str = "dev",
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """``stepwell <command>`` with the browser app, once it answers ``/health`` and has synced
    the app's functions; stopped (terminate, then kill; bounded) on the way out."""
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    database = workdir / "dashboard.db"
    argv = [
        sys.executable,
        "-m",
        "stepwell",
        command,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--database",
        f"sqlite:///{database}",
        "--app",
        APP_SPEC,
        "--poll-interval",
        "1",
        "--no-discovery",
        *args,
    ]
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("INNGEST_")}
    base_env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    if command == "start":
        base_env.setdefault("STEPWELL_SIGNING_KEY", SIGNING_KEY)
        base_env.setdefault("STEPWELL_EVENT_KEY", EVENT_KEY)
    base_env.update(env or {})
    with contextlib.ExitStack() as cleanup:
        process = ManagedProcess.start(
            f"stepwell {command}",
            argv,
            env=base_env,
            cwd=workdir,
            log_path=workdir / f"stepwell-{command}.log",
        )
        cleanup.callback(process.stop)
        api = StepwellDev(process, url)
        cleanup.callback(api.close)
        if command == "start":
            api.http.headers["Authorization"] = f"Bearer {base_env['STEPWELL_SIGNING_KEY']}"
        server = Server(command=command, process=process, url=url, database=database, api=api)

        def synced() -> bool:
            process.check_alive()
            try:
                return {f"browser-shop-{fn}" for fn in APP_FUNCTIONS} <= _slugs(api)
            except (httpx.TransportError, AssertionError):
                return False

        wait_until(
            synced,
            timeout=STARTUP_TIMEOUT,
            what=f"stepwell {command} to answer on {url} with the browser app synced",
            context=process.describe,
            interval=0.2,
        )
        yield server


def _slugs(api: StepwellDev) -> set[str]:
    """The synced functions, from ``GET /dev``; only the dev server has it, so for ``start`` a
    healthy server counts as ready (the login tests need no runs)."""
    if api.http.get("/health").status_code != 200:
        return set()
    if api.http.headers.get("Authorization"):
        return {f"browser-shop-{fn}" for fn in APP_FUNCTIONS}
    return api.function_slugs()


def seed_runs(server: Server) -> dict[str, str]:
    """A sleeping run, a failed one, two completed ones and a debounced event; their run ids."""
    api = server.api
    nap = api.send_one("shop/nap", {"order_id": 1})
    charge = api.send_one("shop/charge", {"order_id": 2})
    ships = api.send(
        [{"name": "shop/ship", "data": {"order_id": n, "tenant": "a"}} for n in (3, 4)]
    )
    api.send_one("shop/digest", {"user": "ada"})
    runs = {"charge": api.wait_for_run(charge).run_id}
    for index, event_id in enumerate(ships):
        runs[f"ship{index}"] = api.wait_for_run(event_id).run_id
    runs["nap"] = api.wait_for_run_started(nap).run_id
    server.runs.update(runs)
    return runs


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``stepwell dev`` with the browser app and a few runs, for one test module."""
    with start_server(tmp_path_factory.mktemp("dashboard")) as server:
        seed_runs(server)
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, under Playwright (skipped without it, except in CI).

    Module-scoped, not session-scoped: Playwright's sync API runs an event loop of its own in
    this thread while it is open, and every asyncio test after it would find that loop
    running. Closed at the end of each browser module, it leaves the rest of the suite alone.
    """
    problem = None
    if not CHROMIUM.is_file():
        problem = f"{CHROMIUM} is missing (scripts/_setup.sh installs Debian's chromium)"
    else:
        if importlib.util.find_spec("playwright") is None:
            problem = "the playwright package is missing (pip install -e '.[dev]')"
    if problem is not None:
        if in_ci():
            pytest.fail(f"{problem}; CI must run the browser tests", pytrace=False)
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            timeout=STARTUP_TIMEOUT * 1000,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[[str], Page]]:
    """Opens a page in a fresh browser context (its own cookies) on a server's URL."""
    contexts = []

    def open_at(base_url: str) -> Page:
        context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    try:
        yield open_at
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(open_page: Callable[[str], Page], dashboard: Server) -> Page:
    """A fresh page on the module's ``stepwell dev`` dashboard."""
    from playwright.sync_api import expect

    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    return open_page(dashboard.url)


def screenshot(page: Page, name: str) -> Path:
    """The page as ``test-artifacts/screenshots/<name>.png`` (full page); returns the path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True, timeout=PAGE_TIMEOUT_MS)
    return path
