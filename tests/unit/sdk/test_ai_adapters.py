"""Each provider's adapter: its URL shape, auth format and the body fields it fills in."""

from __future__ import annotations

import stepwell


def test_openai_chat_completions_with_bearer_auth() -> None:
    adapter = stepwell.ai.openai(api_key="k", model="gpt-4o", base_url="http://x/v1/")
    opts = adapter.opts({"messages": []})
    assert opts["url"] == "http://x/v1/chat/completions"
    assert (opts["format"], opts["auth_key"]) == ("openai-chat", "k")
    assert opts["body"] == {"model": "gpt-4o", "messages": []}
    assert stepwell.ai.openai(api_key="k", model="m").url == (
        "https://api.openai.com/v1/chat/completions"
    )


def test_anthropic_messages_with_version_and_max_tokens() -> None:
    adapter = stepwell.ai.anthropic(api_key="k", model="claude", max_tokens=100)
    opts = adapter.opts({"messages": [], "max_tokens": 5})
    assert opts["url"] == "https://api.anthropic.com/v1/messages"
    assert opts["format"] == "anthropic"
    assert opts["headers"] == {"anthropic-version": "2023-06-01"}
    assert opts["body"] == {"model": "claude", "max_tokens": 5, "messages": []}  # body wins


def test_gemini_names_the_model_in_the_url() -> None:
    opts = stepwell.ai.gemini(api_key="k", model="gemini-pro").opts({"contents": []})
    assert opts["url"] == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-pro:generateContent"
    )
    assert opts["format"] == "gemini"
    assert opts["body"] == {"contents": []}
