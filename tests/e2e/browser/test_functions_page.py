"""The functions pages in a real browser: pause and resume a function, invoke one, and
screenshots of the list and a function's page (light, dark, narrow)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import Server
from tests.e2e.browser.test_events_page import shoot_all

SHIP = "browser-shop-ship"


def test_the_functions_list(page: Page) -> None:
    page.goto("/functions")
    expect(page.get_by_role("link", name="ship", exact=True)).to_have_attribute(
        "href", f"/functions/{SHIP}"
    )
    shoot_all(page, "functions")


def test_pause_and_resume_a_function(page: Page) -> None:
    page.goto(f"/functions/{SHIP}")
    expect(page.get_by_text("at most 2 running at once, per event.data.tenant")).to_be_visible()
    shoot_all(page, "function")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    expect(page.get_by_role("button", name="Replay")).to_be_visible()
    expect(page.get_by_text("Paused since")).to_be_visible()
    shoot_all(page, "function-paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()


def test_invoke_a_function(page: Page, dashboard: Server) -> None:
    page.goto(f"/functions/{SHIP}")
    page.get_by_role("textbox", name="Data").fill('{"order_id": 99, "tenant": "z"}')
    page.get_by_role("button", name="Invoke").click()
    link = page.locator("#invoke-result").get_by_role("link")
    expect(link).to_have_text(re.compile(r"^[0-9A-Z]{26}$"))
    run = dashboard.api.wait_for_run(link.inner_text())
    assert run.status == "Completed"
    link.click()
    expect(page.get_by_role("link", name=run.run_id)).to_be_visible()
