"""The events pages in a real browser: send an event from the dialog and find it on the Events
page, replay an event, and screenshots of both pages (light, dark, narrow)."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, ViewportSize, expect

from tests.e2e.browser.conftest import Server, screenshot

NARROW: ViewportSize = {"width": 390, "height": 844}
WIDE: ViewportSize = {"width": 1280, "height": 900}


def shoot_all(page: Page, name: str) -> None:
    """The page light and dark, wide and narrow (as a user would look at it)."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size(WIDE)
        screenshot(page, f"{name}-{scheme}")
        page.set_viewport_size(NARROW)
        screenshot(page, f"{name}-{scheme}-narrow")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(WIDE)


def test_send_an_event_from_the_dialog_and_see_it_on_the_events_page(page: Page) -> None:
    page.goto("/events")
    page.get_by_role("button", name="Send event").click()
    dialog = page.get_by_role("dialog", name="Send event")
    editor = dialog.get_by_role("textbox", name="Event")
    editor.fill('{"name": "shop/ship", "data": {"order_id": 77, "tenant": "b"')
    dialog.get_by_role("button", name="Send", exact=True).click()
    expect(dialog.get_by_role("alert")).to_contain_text("not valid JSON")
    screenshot(page, "send-event-refused")
    editor.fill(json.dumps({"name": "shop/ship", "data": {"order_id": 77, "tenant": "b"}}))
    dialog.get_by_role("button", name="Send", exact=True).click()
    sent = dialog.get_by_role("status").get_by_role("link")
    expect(sent).to_have_text(re.compile(r"^[0-9A-Z]{26}$"))
    event_id = sent.inner_text()
    screenshot(page, "send-event-sent")
    dialog.get_by_role("button", name="Close").click()
    page.reload()
    expect(page.get_by_role("link", name="shop/ship").first).to_have_attribute(
        "href", f"/events/{event_id}"
    )
    shoot_all(page, "events")
    # The dialog holds the last event sent next time.
    page.get_by_role("button", name="Send event").click()
    expect(page.get_by_role("textbox", name="Event")).to_have_value(re.compile("order_id.: 77"))


def test_replay_an_event(page: Page, dashboard: Server) -> None:
    event_id = dashboard.api.send_one("shop/ship", {"order_id": 88, "tenant": "c"})
    dashboard.api.wait_for_run(event_id)
    page.goto(f"/events/{event_id}")
    expect(page.get_by_role("heading", name="shop/ship", level=1)).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^[0-9A-Z]{26}$")).first).to_be_visible()
    expect(page.get_by_label("curl command")).to_contain_text(f"{dashboard.url}/e/dev")
    shoot_all(page, "event")
    page.get_by_role("button", name="Replay").click()
    page.wait_for_url(lambda url: "/events/" in url and not url.endswith(event_id))
    expect(page.get_by_label("Event payload")).to_contain_text('"order_id": 88')
    copy = page.url.rsplit("/", 1)[1]
    assert dashboard.api.wait_for_run(copy).status == "Completed"
