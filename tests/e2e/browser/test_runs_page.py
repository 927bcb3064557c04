"""The Runs page in a real browser: a run appears and completes live, without a reload;
screenshots in light and dark, at a normal and a narrow width."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser.conftest import PAGE_TIMEOUT_MS, Server, screenshot

SIZES = {"wide": {"width": 1280, "height": 900}, "narrow": {"width": 420, "height": 900}}


def test_a_new_run_appears_and_completes_live(page: Page, dashboard: Server) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    page.locator('[sse-connect="/ui/live/runs"]').wait_for(state="attached")
    page.evaluate("window.__stillHere = true")  # gone if the page reloads
    page.wait_for_function("() => document.querySelector('[sse-connect]') !== null")
    event_id = dashboard.api.send_one("shop/ship", {"order_id": 99, "tenant": "b"})
    run = dashboard.api.wait_for_run(event_id)
    row = page.locator(f'tr[data-run-id="{run.run_id}"]')
    expect(row).to_be_visible()
    expect(row.get_by_text("Completed", exact=True)).to_be_visible()
    assert page.evaluate("window.__stillHere") is True
    screenshot(page, "runs-light-wide")


def test_an_event_sent_from_the_dialog_starts_a_run_that_appears_and_completes_live(
    page: Page, dashboard: Server
) -> None:
    page.goto("/")
    page.locator('[sse-connect="/ui/live/runs"]').wait_for(state="attached")
    page.evaluate("window.__stillHere = true")  # gone if the page reloads
    page.get_by_role("button", name="Send event").click()
    dialog = page.get_by_role("dialog", name="Send event")
    dialog.get_by_role("textbox", name="Event").fill(
        json.dumps({"name": "shop/ship", "data": {"order_id": 123, "tenant": "d"}})
    )
    dialog.get_by_role("button", name="Send", exact=True).click()
    sent = dialog.get_by_role("status").get_by_role("link")
    expect(sent).to_have_text(re.compile(r"^[0-9A-Z]{26}$"))
    event_id = sent.inner_text()
    dialog.get_by_role("button", name="Close").click()
    run = dashboard.api.wait_for_run(event_id)
    row = page.locator(f'tr[data-run-id="{run.run_id}"]')
    expect(row).to_be_visible()
    expect(row.get_by_text("Completed", exact=True)).to_be_visible()
    assert page.evaluate("window.__stillHere") is True


def test_filters_stay_in_the_url(page: Page, dashboard: Server) -> None:
    page.goto("/")
    page.get_by_role("checkbox", name="Failed").check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/runs?status=Failed*")
    expect(page.locator(f'tr[data-run-id="{dashboard.runs["charge"]}"]')).to_be_visible()
    expect(page.locator(f'tr[data-run-id="{dashboard.runs["ship0"]}"]')).to_have_count(0)
    page.get_by_role("searchbox").fill("event.data.order_id ==")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text("not a valid expression")


def test_screenshots_of_runs(browser: Browser, dashboard: Server) -> None:
    for scheme in ("light", "dark"):
        for size, viewport in SIZES.items():
            context = browser.new_context(
                base_url=dashboard.url,
                viewport=viewport,  # type: ignore[arg-type]
                color_scheme=scheme,
            )
            context.set_default_timeout(PAGE_TIMEOUT_MS)
            try:
                shot = context.new_page()
                shot.goto("/")
                expect(shot.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
                screenshot(shot, f"runs-{scheme}-{size}")
            finally:
                context.close()
