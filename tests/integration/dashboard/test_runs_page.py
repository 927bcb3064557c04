"""The Runs page over a real dev server: rows, filters in the URL, CEL search, cursor pages,
bad input answered with a 4xx page, the live stream, and the overview."""

from __future__ import annotations

import asyncio

from tests.integration.dashboard.conftest import Dash


async def _two_runs(dash: Dash) -> tuple[str, str]:
    ok = await dash.run_of(await dash.send("demo/greet", {"user": "ada"}))
    bad = await dash.run_of(await dash.send("demo/fragile"))
    await dash.settled(ok.run_id, "Completed")
    await dash.settled(bad.run_id, "Failed")
    return ok.run_id, bad.run_id


async def test_runs_are_listed_newest_first_with_their_trigger(dash: Dash) -> None:
    ok, bad = await _two_runs(dash)
    for path in ("/", "/runs"):
        page = await dash.client.get(path)
        assert page.status_code == 200
        assert page.text.index(bad) < page.text.index(ok)
        assert ">Completed<" in page.text
        assert ">Failed<" in page.text
        assert ">demo/greet</a>" in page.text
        assert ">Greet</a>" in page.text
        assert 'sse-connect="/ui/live/runs"' in page.text
        assert 'aria-label="Overview"' in page.text


async def test_filters_and_search_narrow_the_runs(dash: Dash) -> None:
    ok, bad = await _two_runs(dash)
    failed = await dash.client.get("/runs", params={"status": "Failed"})
    assert bad in failed.text
    assert ok not in failed.text
    by_function = await dash.client.get("/runs", params={"function": "demo-greet", "window": "1h"})
    assert ok in by_function.text
    assert bad not in by_function.text
    found = await dash.client.get("/runs", params={"q": 'event.data.user == "ada"'})
    assert ok in found.text
    assert bad not in found.text
    assert "Searched 2 runs" in found.text
    on_output = await dash.client.get("/runs", params={"q": 'output.name == "ValueError"'})
    assert bad in on_output.text
    assert ok not in on_output.text


async def test_bad_input_gets_a_page_that_says_what_was_wrong(dash: Dash) -> None:
    await _two_runs(dash)
    cases = {
        "status=Sleeping": "is not one of",
        "window=1y": "window:",
        "cursor=nope": "cursor: not a run of these filters",
        "q=event.data.%3D%3D": "not a valid expression",
        "function=%00": "NUL",
    }
    for query, words in cases.items():
        page = await dash.client.get(f"/runs?{query}")
        assert page.status_code == 400, query
        assert words in page.text, query
    fragment = await dash.client.get("/ui/runs/table?cursor=nope")
    assert fragment.status_code == 400


async def test_pages_follow_the_cursor(dash: Dash) -> None:
    ids = []
    for n in range(55):
        ids.append(await dash.send("demo/greet", {"user": f"u{n}"}))
    for event_id in ids:
        await dash.run_of(event_id)
    first = await dash.client.get("/runs")
    assert first.text.count('data-run-id="') == 50
    assert 'rel="next"' in first.text
    href = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = await dash.client.get(href.replace("&amp;", "&"))
    assert second.status_code == 200
    assert second.text.count('data-run-id="') == 5
    assert 'rel="next"' not in second.text


async def test_the_live_stream_says_when_runs_change(dash: Dash) -> None:
    async with dash.client.stream("GET", "/ui/live/runs") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        await dash.send("demo/greet", {"user": "live"})

        async def changed() -> None:
            async for line in lines:
                if line == "event: changed":
                    return

        await asyncio.wait_for(changed(), timeout=5.0)


async def test_the_overview_counts_the_last_hour(dash: Dash) -> None:
    await _two_runs(dash)
    panel = await dash.client.get("/ui/overview")
    assert panel.status_code == 200
    assert "Started <strong>2</strong>" in panel.text
    assert "Completed <strong>1</strong>" in panel.text
    assert "Failed <strong>1</strong>" in panel.text
    assert "<polyline" in panel.text
    page = await dash.client.get("/overview")
    assert page.status_code == 200
    assert "Backlog" in page.text
