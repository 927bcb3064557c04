"""Which URLs the lean client takes, and the request head it writes for them."""

from __future__ import annotations

import pytest

from stepwell.drivers.http_wire import Target, request_head, wire_target


@pytest.mark.parametrize(
    ("url", "origin", "start"),
    [
        (
            "http://127.0.0.1:8000/api/inngest?fnId=f&stepId=s",
            ("127.0.0.1", 8000),
            "POST /api/inngest?fnId=f&stepId=s HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n",
        ),
        ("http://App.Local/x", ("app.local", 80), "POST /x HTTP/1.1\r\nHost: app.local\r\n"),
        ("http://h:81?q=1", ("h", 81), "POST /?q=1 HTTP/1.1\r\nHost: h:81\r\n"),
        ("http://[::1]:9/p#frag", ("::1", 9), "POST /p HTTP/1.1\r\nHost: [::1]:9\r\n"),
        ("http://h/a%20b?c=%0A", ("h", 80), "POST /a%20b?c=%0A HTTP/1.1\r\nHost: h\r\n"),
    ],
)
def test_a_plain_http_url_is_sent_as_it_is(url: str, origin: tuple[str, int], start: str) -> None:
    assert wire_target(url) == Target(origin, start + "User-Agent: stepwell\r\n")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/api",  # TLS: aiohttp
        "http://user:secret@127.0.0.1/api",  # credentials: aiohttp sends them as Basic auth
        "http://127.0.0.1/a b",  # a space would end the request line
        "http://127.0.0.1/\r\nX: y",
        "http://127.0.0.1/é",
        "http://bücher.example/",  # IDNA: aiohttp encodes it
        "http://127.0.0.1:99999/",  # no such port
        "http:///nohost",
    ],
)
def test_other_urls_are_left_to_aiohttp(url: str) -> None:
    assert wire_target(url) is None


def test_the_head_has_the_callers_headers_and_the_length() -> None:
    target = wire_target("http://h:1/p")
    assert target is not None
    head = request_head(target, {"Content-Type": "application/json", "X-Run-ID": "r"}, 12)
    assert head == (
        b"POST /p HTTP/1.1\r\nHost: h:1\r\nUser-Agent: stepwell\r\n"
        b"Content-Type: application/json\r\nX-Run-ID: r\r\nContent-Length: 12\r\n\r\n"
    )


@pytest.mark.parametrize(
    "headers",
    [{"X-A": "b\r\nX-C: d"}, {"X-A": "b\nc"}, {"X-A\r\nX-B": "c"}, {"X-A": "b\rc"}],
)
def test_a_newline_or_carriage_return_in_a_header_is_refused(headers: dict[str, str]) -> None:
    target = wire_target("http://h/p")
    assert target is not None
    with pytest.raises(ValueError, match="newline or carriage return"):
        request_head(target, headers, 0)
