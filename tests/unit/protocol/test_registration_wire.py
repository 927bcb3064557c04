"""Both halves of the registration shape (protocol.md §3.3, §3.6): what ``to_wire`` builds,
``parse_registration`` reads back unchanged."""

from __future__ import annotations

import json
from typing import Any

from stepwell.protocol.registration import (
    AppRegistration,
    FunctionConfig,
    TriggerConfig,
    in_band_answer,
    in_band_registration,
    parse_registration,
)

URL = "http://127.0.0.1:3000/api/inngest"


def _registration() -> AppRegistration:
    return AppRegistration(
        app_name="shop",
        url=URL,
        sdk="py:v0.1.0",
        framework="starlette",
        functions=[
            FunctionConfig(
                slug="shop-order",
                name="Order",
                url=f"{URL}?fnId=shop-order&stepId=step",
                triggers=[
                    TriggerConfig(event="shop/ordered", expression="event.data.total > 10"),
                    TriggerConfig(cron="0 * * * *", jitter="5m"),
                ],
                retries=3,
                options={
                    "concurrency": [{"key": "event.data.tenant", "limit": 2, "scope": "fn"}],
                    "rateLimit": {"limit": 1, "period": "1h"},
                },
            ),
            FunctionConfig(
                slug="shop-plain",
                name="shop-plain",
                url=f"{URL}?fnId=shop-plain&stepId=step",
                triggers=[TriggerConfig(event="shop/plain")],
                retries=0,
            ),
        ],
        capabilities={"in_band_sync": "v1", "trust_probe": "v1"},
    )


def test_a_built_payload_is_written_as_the_python_sdk_writes_it() -> None:
    wire = _registration().to_wire()
    assert list(wire) == [
        "appname",
        "capabilities",
        "deploy_type",
        "framework",
        "functions",
        "sdk",
        "url",
        "v",
    ]
    order = wire["functions"][0]
    assert list(order) == ["concurrency", "rateLimit", "id", "name", "steps", "triggers"]
    assert order["steps"] == {
        "step": {
            "id": "step",
            "name": "step",
            "retries": {"attempts": 3},
            "runtime": {"type": "http", "url": f"{URL}?fnId=shop-order&stepId=step"},
        }
    }
    assert order["triggers"] == [
        {"event": "shop/ordered", "expression": "event.data.total > 10"},
        {"cron": "0 * * * *", "jitter": "5m"},
    ]
    assert wire["functions"][1]["triggers"] == [{"event": "shop/plain"}]


def test_what_is_built_parses_back_to_the_same_payload() -> None:
    wire = _registration().to_wire()
    parsed = parse_registration(json.loads(json.dumps(wire)))
    assert parsed.to_wire() == wire
    assert [fn.options for fn in parsed.functions] == [
        fn.options for fn in _registration().functions
    ]
    assert parsed.capabilities == {"in_band_sync": "v1", "trust_probe": "v1"}


def test_an_in_band_answer_reads_back_as_the_registration() -> None:
    registration = _registration()
    inspection: dict[str, Any] = {"mode": "cloud", "env": None}
    body = in_band_answer(registration, env=None, inspection=inspection, sdk_author="stepwell")
    assert body["sdk_language"] == "py"
    assert body["sdk_version"] == "0.1.0"
    assert "env" not in body  # no nulls, anywhere
    assert "platform" not in body
    assert body["inspection"] == {"mode": "cloud"}
    parsed = parse_registration(in_band_registration(body))
    assert parsed.app_name == "shop"
    assert parsed.sdk == "py:v0.1.0"
    assert [fn.to_wire() for fn in parsed.functions] == [
        fn.to_wire() for fn in registration.functions
    ]
