"""``ServeOptions``: one typed options object that every adapter takes, next to the same
settings as keyword arguments (which stay the public API)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import flask
import pytest

import stepwell
from stepwell.sdk.serve import ServeConfig, ServeOptions
from stepwell.sdk.serve import django as django_serve
from stepwell.sdk.serve import flask as flask_serve
from stepwell.sdk.serve.config import ServeKeywords

KEY = "signkey-test-00ff"
API = "http://127.0.0.1:9999"


def _app() -> stepwell.App:
    app = stepwell.App("opts")

    @app.function("f", trigger=stepwell.on_event("opts/go"))
    async def f(ctx: stepwell.Context) -> None:
        return None

    return app


def test_the_keywords_are_the_options_fields() -> None:
    assert list(ServeKeywords.__annotations__) == [f.name for f in fields(ServeOptions)]


def test_options_and_keywords_resolve_alike() -> None:
    settings: dict[str, Any] = {
        "signing_key": KEY,
        "signing_key_fallback": "signkey-test-11ee",
        "event_key": "evkey",
        "base_url": API,
        "is_dev": False,
        "serve_origin": "https://app.example.com",
        "serve_path": "/hooks/inngest",
    }
    by_options = ServeConfig.resolve(ServeOptions(**settings), environ={})
    assert by_options == ServeConfig.resolve(environ={}, **settings)
    assert by_options.api_origin == API
    assert by_options.serve_path == "/hooks/inngest"


def test_a_keyword_wins_over_the_same_option() -> None:
    options = ServeOptions(is_dev=True, base_url=API, event_key="from-options")
    config = ServeConfig.resolve(options, event_key="from-keyword", environ={})
    assert config.event_key == "from-keyword"
    assert config.is_dev
    assert config.api_origin == API


def test_every_adapter_takes_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INNGEST_SERVE_PATH", raising=False)
    options = ServeOptions(is_dev=False, signing_key=KEY, base_url=API, serve_path="/x/inngest")

    served = stepwell.serve(_app(), options)
    assert served.state.handler.config == ServeConfig.resolve(options)
    assert stepwell.serve(_app(), options=options).state.handler.config.signing_key == KEY

    flask_app = flask.Flask("options")
    handler = flask_serve.serve(_app(), flask_app, options, url_prefix="/hooks/inngest")
    assert handler.config == ServeConfig.resolve(options)
    assert flask_app.test_client().get("/hooks/inngest").status_code == 401  # signed mode

    pattern = django_serve.serve(_app(), options)
    assert str(pattern.pattern) == "x/inngest"  # the route follows serve_path
    assert str(django_serve.serve(_app(), options, route="/y").pattern) == "y"
