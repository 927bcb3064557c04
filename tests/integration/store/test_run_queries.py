"""``History.query_runs`` and ``count_runs`` on every adapter: filters, the time window,
ordering, and keyset paging (each run once, in order, however the pages fall)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepwell.core.runs import RunStatus
from stepwell.ports.history import RunQuery, RunTime, UnknownCursor
from stepwell.ports.records import ChangeSet, NewRun, RunRecord
from stepwell.ports.store import Store
from stepwell.store import open_store

NOW = 1_700_000_000_000


def _run(
    run_id: str,
    created: int,
    *,
    function_id: str = "app-f",
    app_id: str = "app",
    status: RunStatus = RunStatus.QUEUED,
    started: int | None = None,
    ended: int | None = None,
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        app_id=app_id,
        function_id=function_id,
        status=status,
        event_ids=[],
        created_at=created,
        started_at=started,
        ended_at=ended,
    )


async def _add(store: Store, *runs: RunRecord) -> None:
    await store.commit(ChangeSet(runs=[NewRun(run) for run in runs]))


async def _all_pages(store: Store, query: RunQuery) -> list[list[str]]:
    pages: list[list[str]] = []
    while True:
        page = await store.query_runs(query)
        pages.append([run.run_id for run in page.runs])
        if not page.has_more:
            return pages
        assert page.end_cursor is not None
        query = replace(query, after=page.end_cursor)


async def _ids(store: Store, query: RunQuery) -> list[str]:
    return [run.run_id for run in (await store.query_runs(query)).runs]


async def test_filters_narrow_the_runs(store: Store) -> None:
    await _add(
        store,
        _run("R1", NOW, status=RunStatus.COMPLETED, started=NOW + 1, ended=NOW + 5),
        _run("R2", NOW + 10, function_id="app-g", status=RunStatus.RUNNING, started=NOW + 11),
        _run("R3", NOW + 20, app_id="other", function_id="other-f"),
        _run("R4", NOW + 30, status=RunStatus.FAILED, started=NOW + 31, ended=NOW + 40),
    )
    base = RunQuery(descending=False)
    assert await _ids(store, base) == ["R1", "R2", "R3", "R4"]
    assert await _ids(store, replace(base, function_ids=("app-g", "other-f"))) == ["R2", "R3"]
    assert await _ids(store, replace(base, app_ids=("app",))) == ["R1", "R2", "R4"]
    done = (RunStatus.COMPLETED, RunStatus.FAILED)
    assert await _ids(store, replace(base, statuses=done)) == ["R1", "R4"]
    both = replace(base, app_ids=("app",), statuses=(RunStatus.RUNNING,))
    assert await _ids(store, both) == ["R2"]
    # An empty filter matches nothing (None is no filter).
    assert await _ids(store, replace(base, function_ids=())) == []
    assert await store.count_runs(replace(base, statuses=())) == 0
    # The window: since <= t < until, on the chosen time; runs without that time are out.
    assert await _ids(store, replace(base, since=NOW + 10, until=NOW + 30)) == ["R2", "R3"]
    started = replace(base, time_field=RunTime.STARTED, since=NOW)
    assert await _ids(store, started) == ["R1", "R2", "R4"]
    ended = replace(base, time_field=RunTime.ENDED, since=NOW, until=NOW + 40)
    assert await _ids(store, ended) == ["R1"]
    assert await store.count_runs(replace(base, since=NOW + 10)) == 3
    assert await store.count_runs(base) == 4


async def test_runs_order_by_time_then_id_either_way(store: Store) -> None:
    await _add(
        store,
        _run("R1", NOW + 5, ended=NOW + 9),
        _run("R2", NOW),
        _run("R3", NOW, ended=NOW + 7),
        _run("R4", NOW + 1),
    )
    assert await _ids(store, RunQuery()) == ["R1", "R4", "R3", "R2"]
    assert await _ids(store, RunQuery(descending=False)) == ["R2", "R3", "R4", "R1"]
    # Ordered by a time some runs lack: those order as 0, by id.
    by_end = RunQuery(order_by=RunTime.ENDED, descending=False)
    assert await _ids(store, by_end) == ["R2", "R4", "R3", "R1"]


async def test_pages_follow_each_other_by_cursor(store: Store) -> None:
    await _add(store, *(_run(f"R{i}", NOW + i // 2) for i in range(7)))
    query = RunQuery(first=3)
    first = await store.query_runs(query)
    assert [run.run_id for run in first.runs] == ["R6", "R5", "R4"]
    assert (first.end_cursor, first.has_more) == ("R4", True)
    assert await _all_pages(store, query) == [["R6", "R5", "R4"], ["R3", "R2", "R1"], ["R0"]]
    # A run added after the cursor's page does not shift later pages (keyset, not OFFSET).
    await _add(store, _run("R9", NOW + 100))
    second = await store.query_runs(replace(query, after="R4"))
    assert [run.run_id for run in second.runs] == ["R3", "R2", "R1"]
    empty = await store.query_runs(replace(query, first=0))
    assert (empty.runs, empty.end_cursor, empty.has_more) == ([], None, True)


async def test_a_cursor_must_be_a_run_the_query_matches(store: Store) -> None:
    await _add(store, _run("R1", NOW), _run("R2", NOW, function_id="app-g"))
    with pytest.raises(UnknownCursor):
        await store.query_runs(RunQuery(after="nope"))
    with pytest.raises(UnknownCursor):
        await store.query_runs(RunQuery(function_ids=("app-f",), after="R2"))
    page = await store.query_runs(RunQuery(function_ids=("app-f",), after="R1"))
    assert (page.runs, page.has_more) == ([], False)


async def test_function_ids_of_runs(store: Store) -> None:
    assert await store.run_function_ids() == []
    await _add(store, _run("R1", NOW, function_id="b-f"), _run("R2", NOW), _run("R3", NOW))
    assert await store.run_function_ids() == ["app-f", "b-f"]


# -- the paging rule, for any runs and any page size -------------------------------------------

_TIMES = st.one_of(st.none(), st.integers(min_value=0, max_value=4))
_RUNS = st.lists(st.tuples(st.integers(0, 4), _TIMES, _TIMES), max_size=14)
LoopStore = tuple[Store, asyncio.AbstractEventLoop]
_SETTINGS = settings(max_examples=30, derandomize=True, database=None, deadline=None)


@pytest.fixture(params=["sqlite-file", "postgres"])
def loop_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LoopStore]:
    """A store on a loop of the test's own, so a synchronous ``@given`` test can drive it."""
    url = (
        str(request.getfixturevalue("pg_url"))
        if request.param == "postgres"
        else f"sqlite:///{tmp_path / 'paging.db'}"
    )
    loop = asyncio.new_event_loop()
    opened = open_store(url)
    loop.run_until_complete(opened.open())
    try:
        yield opened, loop
    finally:
        loop.run_until_complete(opened.close())
        loop.close()


_examples = itertools.count()


def test_paging_visits_every_run_once_in_order(
    loop_store: LoopStore,
) -> None:
    store, loop = loop_store

    @_SETTINGS
    @given(
        runs=_RUNS,
        first=st.integers(1, 5),
        order_by=st.sampled_from(list(RunTime)),
        descending=st.booleans(),
    )
    def check(
        runs: list[tuple[int, int | None, int | None]],
        first: int,
        order_by: RunTime,
        descending: bool,
    ) -> None:
        # Each example writes runs of a function of its own, and queries only those.
        function = f"app-p{next(_examples)}"
        records = [
            _run(f"{function}-R{i:02d}", NOW + c, function_id=function, started=s, ended=e)
            for i, (c, s, e) in enumerate(runs)
        ]
        if records:
            loop.run_until_complete(_add(store, *records))

        def key(run: RunRecord) -> tuple[int, str]:
            return getattr(run, order_by.value) or 0, run.run_id

        expected = [run.run_id for run in sorted(records, key=key, reverse=descending)]
        query = RunQuery(
            function_ids=(function,), order_by=order_by, descending=descending, first=first
        )
        pages = loop.run_until_complete(_all_pages(store, query))
        assert [run_id for page in pages for run_id in page] == expected
        assert all(len(page) == first for page in pages[:-1])
        assert loop.run_until_complete(store.count_runs(query)) == len(records)

    check()
