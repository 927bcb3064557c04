"""The relay of what a durable endpoint streams after going asynchronous: the tee's body split
into events however it is chunked, kept bounded per run, and a tee let go once its run is over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from stepwell.server import run_streams
from stepwell.server.run_streams import EventTooLong, RunStreams, SseEvent, SseParser

BODY = (
    b'event: inngest.metadata\ndata: {"runId": "R"}\n\n'
    b'event: inngest.stream\r\ndata: {"data": "\xc3\xa9t\xc3\xa9"}\r\n\r\n'
    b": a comment\n\n"
    b'event: inngest.response\ndata: {"a":\ndata: 1}\n\n'
)


def test_the_tee_body_parses_the_same_whatever_its_chunking() -> None:
    whole = SseParser().feed(BODY, final=True)
    assert [e.name for e in whole] == ["inngest.metadata", "inngest.stream", "inngest.response"]
    assert whole[1].data == '{"data": "été"}'
    assert whole[2].data == '{"a":\n1}'  # data lines joined
    parser = SseParser()
    bytewise = [event for i in range(len(BODY)) for event in parser.feed(BODY[i : i + 1])]
    assert bytewise + parser.feed(b"", final=True) == whole
    # Encoded again, an event reads back as itself.
    assert SseParser().feed(whole[2].encode()) == [whole[2]]


def test_an_event_that_never_ends_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_streams, "MAX_PENDING_BYTES", 100)
    with pytest.raises(EventTooLong):
        SseParser().feed(b"data: " + b"x" * 200)


def test_a_channel_keeps_its_latest_events_with_their_sequence_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run_streams, "MAX_EVENTS", 3)
    streams = RunStreams()
    for i in range(5):
        streams.publish("R", SseEvent("inngest.stream", str(i)))
    events, end = streams.read("R", 0)
    assert [e.data for e in events] == ["2", "3", "4"]
    assert end == 5
    assert streams.read("R", 4) == ([SseEvent("inngest.stream", "4")], 5)
    assert streams.read("R", 5) == ([], 5)
    assert streams.read("other", 0) == ([], 0)


async def test_a_tee_is_read_until_it_ends() -> None:
    streams = RunStreams()

    async def body() -> AsyncIterator[bytes]:
        yield BODY[:30]
        yield BODY[30:]

    async def never() -> bool:
        return False

    await streams.take_tee("R", body(), never)
    events, _ = streams.read("R", 0)
    assert [e.name for e in events] == ["inngest.metadata", "inngest.stream", "inngest.response"]
    assert streams.publishers("R") == 0


async def test_a_tee_left_open_is_let_go_once_its_run_has_ended_and_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run_streams, "TEE_CHECK_S", 0.01)
    streams = RunStreams()
    hang = asyncio.Event()

    async def open_body() -> AsyncIterator[bytes]:
        yield b'event: inngest.stream\ndata: {"data": 1}\n\n'
        await hang.wait()  # the SDK never closes it
        yield b""

    ended = False

    async def run_ended() -> bool:
        return ended

    tee = asyncio.create_task(streams.take_tee("R", open_body(), run_ended))
    await asyncio.sleep(0.05)
    assert not tee.done()
    assert streams.publishers("R") == 1
    ended = True
    streams.publish("R", SseEvent("inngest.response", "{}"))  # from the call that ended it
    async with asyncio.timeout(5):
        await tee
    assert streams.publishers("R") == 0
