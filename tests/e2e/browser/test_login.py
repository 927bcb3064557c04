"""Logging in to the dashboard of ``stepwell start`` in a real browser."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import Server, screenshot, start_server

DASHBOARD_KEY = "browser-dashboard-key-0123456789"
TTL_S = 3


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``stepwell start`` with a dedicated dashboard key and sessions of a few seconds."""
    with start_server(
        tmp_path_factory.mktemp("login"),
        command="start",
        args=["--dashboard-session-ttl", f"{TTL_S}s"],
        env={"STEPWELL_DASHBOARD_KEY": DASHBOARD_KEY},
    ) as server:
        yield server


@pytest.fixture
def login_page(open_page: Callable[[str], Page], production: Server) -> Page:
    page = open_page(production.url)
    page.goto("/")
    expect(page).to_have_url(f"{production.url}/login?next=%2F")
    return page


def _log_in(page: Page, key: str) -> None:
    page.get_by_label("Key").fill(key)
    page.get_by_role("button", name="Log in").click()


def test_a_wrong_key_is_refused(login_page: Page) -> None:
    _log_in(login_page, "not the key at all")
    expect(login_page.get_by_role("alert")).to_have_text("That key is not right.")
    expect(login_page.get_by_role("button", name="Log in")).to_be_visible()
    expect(login_page.get_by_role("navigation", name="Main")).to_have_count(0)
    screenshot(login_page, "login-refused")


def test_the_right_key_shows_the_runs(login_page: Page, production: Server) -> None:
    screenshot(login_page, "login")
    _log_in(login_page, DASHBOARD_KEY)
    expect(login_page).to_have_url(f"{production.url}/")
    nav = login_page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Runs", exact=True)).to_be_visible()
    expect(login_page.get_by_role("button", name="Log out")).to_be_visible()
    screenshot(login_page, "logged-in")


def test_an_expired_session_goes_back_to_the_login(login_page: Page, production: Server) -> None:
    _log_in(login_page, DASHBOARD_KEY)
    expect(login_page).to_have_url(f"{production.url}/")
    logged_in = time.monotonic()
    # The cookie's Max-Age and the signed expiry both end the session after TTL_S seconds.
    login_page.wait_for_timeout((TTL_S + 1) * 1000)
    assert time.monotonic() - logged_in > TTL_S
    login_page.goto("/functions")
    expect(login_page).to_have_url(f"{production.url}/login?next=%2Ffunctions")
    expect(login_page.get_by_label("Key")).to_be_visible()
