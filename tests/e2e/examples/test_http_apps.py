"""The FastAPI, Flask, Django and inngest-py examples, each as a real process beside
``stepwell dev``: a request to the app's own route (or an event) runs the function to its end."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.examples.served import serve_example


def _event_id(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    event_id = response.json()["event_id"]
    assert isinstance(event_id, str)
    return event_id


def test_fastapi_route_sends_an_event_and_the_order_is_fulfilled(tmp_path: Path) -> None:
    with serve_example("examples.fastapi_app", tmp_path, ["fastapi-shop-fulfil-order"]) as ex:
        sent = httpx.post(f"{ex.app_url}/orders", json={"order_id": 7, "sku": "mug", "quantity": 2})
        run = ex.server.wait_for_run(_event_id(sent))
        assert (run.status, run.output) == (
            "Completed",
            {"order_id": 7, "reserved": 2, "charged_cents": 2500},
        )
        confirmed = ex.server.wait_for_event("shop/order.confirmed", lambda e: True, timeout=60)
        assert confirmed.data == {"order_id": 7, "cents": 2500}
        # The route refuses data the typed event does not accept, before anything is sent.
        assert httpx.post(f"{ex.app_url}/orders", json={"order_id": "x"}).status_code == 422


def test_flask_route_runs_a_sync_function(tmp_path: Path) -> None:
    with serve_example("examples.flask_app", tmp_path, ["flask-accounts-welcome-user"]) as ex:
        sent = httpx.post(f"{ex.app_url}/signups", json={"email": "ada@example.com"})
        run = ex.server.wait_for_run(_event_id(sent))
        assert (run.status, run.output) == (
            "Completed",
            {"account_id": "acct-ada", "mail": "welcome mail queued for ada@example.com"},
        )


def test_django_view_issues_an_invoice_and_reminds(tmp_path: Path) -> None:
    with serve_example("examples.django_app", tmp_path, ["django-billing-issue-invoice"]) as ex:
        sent = httpx.post(f"{ex.app_url}/invoices", json={"invoice_id": "inv-1", "amount": 40})
        run = ex.server.wait_for_run(_event_id(sent))
        assert (run.status, run.output) == (
            "Completed",
            {"invoice_id": "inv-1", "amount": 40, "issued": True},
        )
        reminder = ex.server.wait_for_event("billing/invoice.reminder", lambda e: True, timeout=60)
        assert reminder.data == {"invoice_id": "inv-1"}


def test_an_app_on_the_official_inngest_sdk_runs_unmodified(tmp_path: Path) -> None:
    slug = "inngest-py-shop-score-customer"
    with serve_example("examples.inngest_py_app", tmp_path, [slug]) as ex:
        event_id = ex.server.send_one("crm/customer.updated", {"customer_id": "g-42"})
        run = ex.server.wait_for_run(event_id)
        assert (run.status, run.output) == ("Completed", {"customer_id": "g-42", "score": 90})
