"""The apps page in a real browser: remove the app (Remove, then Confirm) and add it back by
its URL (Add app), with screenshots (light, dark, narrow)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import Server
from tests.e2e.browser.test_events_page import shoot_all


def test_remove_an_app_then_add_it_by_url(page: Page, dashboard: Server) -> None:
    page.goto("/apps")
    card = page.locator("#app-browser-shop")
    expect(card.get_by_text("OK")).to_be_visible()
    url = card.locator("dd.mono").first.inner_text()
    shoot_all(page, "apps")
    card.get_by_role("button", name="Remove").click()
    confirm = card.get_by_role("button", name="Confirm")
    expect(confirm).to_be_focused()
    screenshot_name = "apps-confirm"
    shoot_all(page, screenshot_name)
    confirm.click()
    expect(page.get_by_text("No apps are synced yet")).to_be_visible()
    assert "browser-shop-ship" not in dashboard.api.function_slugs()

    page.get_by_role("textbox", name="App URL").fill("http://127.0.0.1:9/nothing")
    page.get_by_role("button", name="Add app").click()
    expect(page.get_by_role("alert")).to_contain_text("could not reach the app")
    page.get_by_role("textbox", name="App URL").fill(url)
    page.get_by_role("button", name="Add app").click()
    expect(page.locator("#app-browser-shop")).to_be_visible()
    assert "browser-shop-ship" in dashboard.api.function_slugs()
