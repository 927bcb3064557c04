"""The Run page over a real dev server: the waterfall by step name, attempts and errors,
parallel steps, send_event and invoke linked, the JSON, and Cancel, Rerun, Rerun from."""

from __future__ import annotations

import re

from stepwell.ports.records import ChangeSet, SpanKind, SpanStatus, StepSpan
from stepwell.protocol.step_ids import hash_step_id
from tests.integration.dashboard.conftest import Dash
from tests.waiting import eventually


def _bar(html: str, step: str) -> tuple[float, float]:
    """The left and width (percent) of a step's running bar."""
    block = html.split(f'data-step="{step}"')[1].split("</summary>")[0]
    match = re.search(
        r'class="bar (?:running|errored|failed|waiting)" style="left: ([\d.]+)%; width: ([\d.]+)%',
        block,
    )
    assert match is not None, block
    return float(match[1]), float(match[2])


async def test_the_timeline_names_each_step_with_its_duration(dash: Dash) -> None:
    run = await dash.run_of(await dash.send("demo/greet", {"user": "ada"}))
    await dash.settled(run.run_id, "Completed")
    page = await dash.client.get(f"/runs/{run.run_id}")
    assert page.status_code == 200
    for step in ("say hello", "shout it"):
        assert f'<span class="tl-title">{step}</span>' in page.text
    assert re.search(r'tl-duration">\d+ ms<', page.text)
    assert "HELLO ADA" in page.text
    assert ">demo/greet</a>" in page.text
    assert "sse-connect" not in page.text  # ended: nothing to watch


async def test_a_failed_run_shows_its_error_and_traceback(dash: Dash) -> None:
    run = await dash.run_of(await dash.send("demo/fragile"))
    await dash.settled(run.run_id, "Failed")
    page = await dash.client.get(f"/runs/{run.run_id}")
    assert "cannot handle 41" in page.text
    assert "Traceback" in page.text
    assert ">Failed<" in page.text


async def test_steps_that_ran_at_once_are_drawn_overlapping(dash: Dash) -> None:
    run = await dash.run_of(await dash.send("demo/greet"))
    done = await dash.settled(run.run_id, "Completed")
    assert done.started_at is not None
    # Two spans overlapping in time, as a driver that runs steps at once reports them.
    start = done.started_at
    spans = [
        StepSpan(
            run.run_id, "h-left", "left", SpanKind.RUN, 0, SpanStatus.COMPLETED, start, start + 80
        ),
        StepSpan(
            run.run_id,
            "h-right",
            "right",
            SpanKind.RUN,
            0,
            SpanStatus.COMPLETED,
            start + 10,
            start + 90,
        ),
    ]
    await dash.runtime.engine.store.commit(ChangeSet(spans=spans))
    page = await dash.client.get(f"/runs/{run.run_id}")
    left, right = _bar(page.text, "left"), _bar(page.text, "right")
    assert left[0] < right[0] + right[1]
    assert right[0] < left[0] + left[1]


async def test_sends_and_invokes_are_linked(dash: Dash) -> None:
    run = await dash.run_of(await dash.send("demo/fanout"))
    await dash.settled(run.run_id, "Completed", timeout=20.0)
    page = await dash.client.get(f"/runs/{run.run_id}")
    for step in ("left branch", "right branch"):
        assert f'<span class="tl-title">{step}</span>' in page.text
    assert '<span class="kind">send event</span>' in page.text
    assert '<span class="kind">invoke</span>' in page.text
    [child] = await dash.runtime.engine.history.correlated_runs(
        [f"{run.run_id}.{hash_step_id('ask greet')}"], run.created_at
    )
    assert f'href="/runs/{child.run_id}"' in page.text
    assert 'href="/events/' in page.text.split('data-step="notify"')[1]


async def test_cancel_a_sleeping_run(dash: Dash) -> None:
    run = await dash.run_of(await dash.send("demo/nap"))

    async def sleeping() -> bool:
        spans = await dash.runtime.engine.history.run_trace(run.run_id)
        return any(s.name == "long nap" for s in spans)

    await eventually(sleeping, what="the run sleeps")
    page = await dash.client.get(f"/runs/{run.run_id}")
    assert ">Cancel</button>" in page.text
    assert ">Confirm</button>" in page.text
    # A sleep still going says when it wakes.
    assert "Wakes at" in page.text.split('data-step="long nap"')[1]
    assert f'sse-connect="/ui/live/runs/{run.run_id}"' in page.text
    done = await dash.client.post(f"/runs/{run.run_id}/cancel", data={"token": ""})
    assert done.status_code == 303
    assert done.headers["location"] == f"/runs/{run.run_id}"
    await dash.settled(run.run_id, "Cancelled")
    after = await dash.client.get(f"/runs/{run.run_id}")
    assert ">Cancelled<" in after.text
    assert ">Cancel</button>" not in after.text


async def test_rerun_and_rerun_from_lead_to_the_new_run(dash: Dash) -> None:
    run = await dash.run_of(await dash.send("demo/fragile"))
    await dash.settled(run.run_id, "Failed")
    again = await dash.client.post(f"/runs/{run.run_id}/rerun", data={"token": ""})
    assert again.status_code == 303
    new_id = again.headers["location"].removeprefix("/runs/")
    assert new_id != run.run_id
    await dash.settled(new_id, "Failed")
    step = hash_step_id("explode")
    hx = await dash.client.post(
        f"/runs/{run.run_id}/rerun-from", data={"step": step}, headers={"HX-Request": "true"}
    )
    assert hx.status_code == 204
    from_id = hx.headers["HX-Redirect"].removeprefix("/runs/")
    await dash.settled(from_id, "Failed")
    kept = await dash.runtime.engine.history.load_memo(from_id)
    assert hash_step_id("load input") in kept
    unknown = await dash.client.post(f"/runs/{run.run_id}/rerun-from", data={"step": "nope"})
    assert unknown.status_code == 404
    assert "no stored step" in unknown.text


async def test_the_json_is_what_the_rest_api_returns(dash: Dash) -> None:
    run = await dash.run_of(await dash.send("demo/greet"))
    await dash.settled(run.run_id, "Completed")
    mine = (await dash.client.get(f"/runs/{run.run_id}.json")).json()
    api = (await dash.client.get(f"/v1/runs/{run.run_id}")).json()
    assert mine["data"] == api["data"]


async def test_unknown_and_junk_run_ids_get_a_404_page(dash: Dash) -> None:
    for run_id in ("nope", "%00", "x" * 300, "%ED%A0%80"):
        for path in (f"/runs/{run_id}", f"/runs/{run_id}.json", f"/ui/runs/{run_id}/body"):
            response = await dash.client.get(path)
            assert response.status_code == 404, path
        cancel = await dash.client.post(f"/runs/{run_id}/cancel")
        assert cancel.status_code == 404
