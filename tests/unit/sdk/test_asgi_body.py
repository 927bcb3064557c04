"""The ASGI adapter reads a call's body up to a limit: refused on its declared length before
reading, else counted while it streams."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from stepwell.sdk.serve.asgi import _body_within

LIMIT = 10


def _request(chunks: list[bytes], content_length: str | None = None) -> tuple[Request, list[int]]:
    """A request streaming ``chunks``, and a list that counts the chunks the reader took."""
    headers = [] if content_length is None else [(b"content-length", content_length.encode())]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    taken: list[int] = []

    async def receive() -> Message:
        index = len(taken)
        taken.append(index)
        if index >= len(chunks):
            return {"type": "http.disconnect"}
        more = index + 1 < len(chunks)
        return {"type": "http.request", "body": chunks[index], "more_body": more}

    return Request(scope, receive), taken


@pytest.mark.parametrize(
    "chunks",
    [[b""], [b"0123456789"], [b"01234", b"56789"], [b"0", b"", b"123"]],
)
async def test_a_body_within_the_limit_is_read_whole(chunks: list[bytes]) -> None:
    request, _ = _request(chunks, str(sum(map(len, chunks))))
    assert await _body_within(request, LIMIT) == b"".join(chunks)


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    request, taken = _request([b"x"], "11")
    assert await _body_within(request, LIMIT) is None
    assert taken == []


async def test_a_streamed_body_over_the_limit_stops_at_the_chunk_that_crosses_it() -> None:
    request, taken = _request([b"012345", b"6789a", b"never read"])
    assert await _body_within(request, LIMIT) is None
    assert len(taken) == 2


@pytest.mark.parametrize("declared", ["", "abc", "-1", " 5", "٣"])
async def test_a_length_that_is_not_a_number_is_not_trusted(declared: str) -> None:
    request, _ = _request([b"0123456789"], declared)
    assert await _body_within(request, LIMIT) == b"0123456789"
    request, _ = _request([b"0123456789a"], declared)
    assert await _body_within(request, LIMIT) is None


async def test_a_declared_length_under_the_limit_still_has_its_body_counted() -> None:
    request, _ = _request([b"0123456789a"], "3")
    assert await _body_within(request, LIMIT) is None
