"""The Run page in a real browser: the timeline by step name, Cancel then Confirm on a
sleeping run, Rerun and Rerun from landing on the new run; screenshots light and dark."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser.conftest import PAGE_TIMEOUT_MS, Server, screenshot

SIZES = {"wide": {"width": 1280, "height": 900}, "narrow": {"width": 420, "height": 900}}


def test_the_timeline_shows_each_step_with_its_duration(page: Page, dashboard: Server) -> None:
    page.goto(f"/runs/{dashboard.runs['charge']}")
    expect(page.locator("#run-status")).to_have_text("Failed")
    for step in ("reserve", "capture"):
        row = page.locator(f'details[data-step="{step}"]')
        expect(row.locator(".tl-title")).to_have_text(step)
        expect(row.locator(".tl-duration")).to_have_text(re.compile(r"\d+(\.\d)? m?s"))
    page.locator('details[data-step="capture"] summary').click()
    expect(page.locator('details[data-step="capture"]')).to_contain_text("the card was declined")
    screenshot(page, "run-failed-light-wide")


def test_cancel_a_sleeping_run(page: Page, dashboard: Server) -> None:
    page.goto(f"/runs/{dashboard.runs['nap']}")
    expect(page.locator('details[data-step="rest"]')).to_contain_text("sleep")
    screenshot(page, "run-sleeping-light-wide")
    page.get_by_role("button", name="Cancel", exact=True).click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#run-status")).to_have_text("Cancelled")


def test_rerun_and_rerun_from_land_on_the_new_run(page: Page, dashboard: Server) -> None:
    failed = dashboard.runs["charge"]
    page.goto(f"/runs/{failed}")
    page.get_by_role("button", name="Rerun", exact=True).click()
    page.wait_for_url(re.compile(r"/runs/(?!" + failed + r")[0-9A-Z]{26}$"))
    expect(page.locator("#run-status")).to_have_text(re.compile("Queued|Running|Failed"))
    page.goto(f"/runs/{failed}")
    page.get_by_label("Step to rerun from").select_option(label="capture")
    page.get_by_role("button", name="Rerun from").click()
    page.wait_for_url(re.compile(r"/runs/(?!" + failed + r")[0-9A-Z]{26}$"))
    expect(page.locator("#run-status")).to_have_text("Failed")
    expect(page.locator('details[data-step="capture"]')).to_be_visible()


def test_screenshots_of_a_run(browser: Browser, dashboard: Server) -> None:
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
                shot.goto(f"/runs/{dashboard.runs['charge']}")
                expect(shot.locator("#run-status")).to_be_visible()
                shot.locator('details[data-step="capture"] summary').click()
                screenshot(shot, f"run-{scheme}-{size}")
            finally:
                context.close()
