"""The dashboard's home page in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import screenshot


def test_home_page_shows_the_runs_link(page: Page) -> None:
    page.goto("/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Runs", exact=True)).to_be_visible()
    screenshot(page, "home")
