"""The Connect hub: which worker gets a request, leases, lost requests, reconnects."""

from __future__ import annotations

import asyncio

from stepwell.drivers.connect.hub import Hub, Link
from stepwell.protocol.connect_wire import Reply

SLUG = "app-fn"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _nothing(data: bytes) -> None:
    return None


def link(conn_id: str, *, capacity: int = 0) -> Link:
    return Link(
        conn_id=conn_id,
        instance_id=conn_id,
        send=_nothing,
        apps={"app": "uuid"},
        slugs={SLUG: "app"},
        capacity=capacity,
    )


def ready(hub: Hub, *links: Link) -> None:
    for item in links:
        hub.add(item)
        hub.make_ready(item)


def reply(request_id: str) -> Reply:
    return Reply(request_id, 1, b'"ok"', False, "", "py:v0.5.19", 1)


async def test_the_worker_with_the_fewest_requests_in_flight_gets_the_next() -> None:
    hub = Hub()
    a, b = link("a"), link("b")
    ready(hub, a, b)
    first = hub.open(await hub.pick(SLUG, 0) or a, SLUG)
    second_link = await hub.pick(SLUG, 0)
    assert second_link is not None
    assert second_link is not first.link
    assert await hub.pick("other-fn", 0) is None  # nobody serves it


async def test_paused_full_and_unready_workers_get_nothing() -> None:
    hub = Hub()
    paused, full, unready = link("p"), link("f", capacity=1), link("u")
    ready(hub, paused, full)
    hub.add(unready)
    hub.pause(paused)
    hub.open(full, SLUG)
    assert await hub.pick(SLUG, 0) is None
    hub.make_ready(unready)
    assert await hub.pick(SLUG, 0) is unready


async def test_a_pick_waits_for_a_worker_to_connect() -> None:
    hub = Hub()
    waiting = asyncio.ensure_future(hub.pick(SLUG, 5.0))
    await asyncio.sleep(0)
    late = link("late")
    ready(hub, late)
    assert await asyncio.wait_for(waiting, 1.0) is late


async def test_a_reply_ends_the_wait_and_a_late_one_is_dropped() -> None:
    hub = Hub()
    a = link("a")
    ready(hub, a)
    pending = hub.open(a, SLUG)
    assert hub.answer(reply(pending.request_id))
    assert await hub.wait(pending) == reply(pending.request_id)
    assert not hub.answer(reply(pending.request_id))
    assert a.in_flight == set()


async def test_a_lease_not_extended_runs_out_and_the_request_is_lost() -> None:
    clock = Clock()
    hub = Hub(lease_s=0.05, clock=clock)
    a = link("a")
    ready(hub, a)
    pending = hub.open(a, SLUG)
    hub.acknowledge(pending.request_id, a)
    clock.now += 1
    assert await hub.wait(pending) is None
    assert hub.extend(pending.request_id, pending.lease_id, a) is None  # too late
    assert not hub.answer(reply(pending.request_id))


async def test_extending_renews_the_lease_under_a_new_id() -> None:
    clock = Clock()
    hub = Hub(lease_s=10, clock=clock)
    a = link("a")
    ready(hub, a)
    pending = hub.open(a, SLUG)
    clock.now += 9
    old = pending.lease_id
    new = hub.extend(pending.request_id, old, a)
    assert new is not None
    assert new != old
    assert pending.lease_id == new
    assert pending.lease_until == clock.now + 10
    assert hub.extend(pending.request_id, "an old lease", a) is None


async def test_a_closed_link_loses_what_it_never_acknowledged_and_keeps_the_rest() -> None:
    hub = Hub()
    a, b = link("a"), link("b")
    ready(hub, a, b)
    unacked, acked = hub.open(a, SLUG), hub.open(a, SLUG)
    hub.acknowledge(acked.request_id, a)
    hub.remove(a)
    assert await hub.wait(unacked) is None
    assert not acked.reply.done()
    # The worker came back on another socket: its reply there counts.
    assert hub.extend(acked.request_id, acked.lease_id, b) is not None
    assert acked.link is b
    hub.answer(reply(acked.request_id))
    assert await hub.wait(acked) is not None


async def test_reconnecting_with_the_same_connection_id_takes_over_its_requests() -> None:
    hub = Hub()
    old = link("c")
    ready(hub, old)
    pending = hub.open(old, SLUG)
    new = link("c")
    ready(hub, new)
    assert old.closed
    assert pending.link is new
    assert new.in_flight == {pending.request_id}
    hub.remove(old)  # the old socket's session ending does not drop the new one
    assert [item.conn_id for item in hub.links()] == ["c"]
    assert not pending.reply.done()
