"""``CoalescedWrites``: the writes of one turn of the loop go to the transport as one."""

from __future__ import annotations

import asyncio

from stepwell.server.listener import CoalescedWrites


class Recording(asyncio.Transport):
    """A transport that keeps what it was given (the network is not the point here)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[list[bytes]] = []
        self.closed = False

    def writelines(self, list_of_data: object) -> None:
        assert not self.closed, "written after close"
        self.sent.append(list(list_of_data))  # type: ignore[call-overload]

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return f"info {name}"


async def next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_the_writes_of_one_turn_leave_together() -> None:
    transport = Recording()
    writes = CoalescedWrites(transport, asyncio.get_running_loop())
    writes.write(b"head")
    writes.write(b"body")
    assert transport.sent == []  # not before the turn ends
    await next_turn()
    assert transport.sent == [[b"head", b"body"]]
    writes.write(b"next")
    await next_turn()
    assert transport.sent == [[b"head", b"body"], [b"next"]]


async def test_close_sends_what_was_written_first() -> None:
    transport = Recording()
    writes = CoalescedWrites(transport, asyncio.get_running_loop())
    writes.write(b"last answer")
    writes.close()
    assert (transport.sent, transport.closed) == ([[b"last answer"]], True)
    await next_turn()  # the flush scheduled by the write finds nothing left
    assert transport.sent == [[b"last answer"]]


async def test_writes_to_a_connection_closed_in_between_are_dropped() -> None:
    transport = Recording()
    writes = CoalescedWrites(transport, asyncio.get_running_loop())
    writes.write(b"too late")
    transport.close()  # the peer went away before the turn ended
    await next_turn()
    assert transport.sent == []


async def test_everything_else_is_the_transport_s() -> None:
    writes = CoalescedWrites(Recording(), asyncio.get_running_loop())
    assert writes.get_extra_info("peername") == "info peername"
