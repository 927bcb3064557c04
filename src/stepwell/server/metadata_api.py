"""Run metadata and scores over REST (``engine.run_metadata``).

* ``POST /v1/runs/{run}/metadata`` ``{"target": {run_id, step_id?, step_index?, step_attempt?,
  span_id?}, "metadata": [{kind, op, values}, …]}`` — what the SDKs' metadata API sends
  (TS ``inngest.metadata…set()``, and ``inngest.score()`` as kind ``inngest.score``);
* ``GET /v1/runs/{run}/metadata`` — the run's metadata, in the order it was written;
* ``POST /v2/runs/{run}/scores`` ``{"scores": [{name, value, step_id?, experiment?}]}`` —
  Inngest's scores API; each score is stored as ``inngest.score`` metadata.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stepwell.engine.run_metadata import (
    EXPERIMENT_KIND,
    MAX_SCORE_NAME_BYTES,
    MAX_SCORES_PER_REQUEST,
    SCORE_KIND,
    MetadataRefused,
    Target,
    Update,
    check_score,
    parse_update,
    values_size,
)
from stepwell.server.http import MAX_SMALL_BODY_BYTES, error, json_response, read_object
from stepwell.server.runtime import ServerRuntime


def _optional_int(target: dict[str, Any], name: str) -> int | None:
    value = target.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise MetadataRefused(400, f"target.{name}: expected a whole number")
    return value


def parse_target(raw: Any, run_id: str) -> Target:
    if raw is None:
        return Target()
    if not isinstance(raw, dict):
        raise MetadataRefused(400, "target: expected an object")
    given_run = raw.get("run_id")
    if given_run is not None and given_run != run_id:
        raise MetadataRefused(400, f"target.run_id: {given_run!r} is not the run {run_id}")
    step_id = raw.get("step_id")
    if step_id is not None and (not isinstance(step_id, str) or not step_id):
        raise MetadataRefused(400, "target.step_id: expected a non-empty string")
    index, attempt = _optional_int(raw, "step_index"), _optional_int(raw, "step_attempt")
    span_id = raw.get("span_id")
    if span_id is not None and not isinstance(span_id, str):
        raise MetadataRefused(400, "target.span_id: expected a string")
    if step_id is None:
        for name, given in (("step_index", index), ("step_attempt", attempt), ("span_id", span_id)):
            if given is not None:
                raise MetadataRefused(400, f"target.step_id must be defined if target.{name} is")
    if attempt is not None and attempt < 0:
        attempt = None  # -1: the step's latest attempt, which is the step itself here
    return Target(step_id=step_id, step_index=index or 0, attempt=attempt, span_id=span_id)


def _score_updates(raw: Any) -> tuple[list[tuple[Target, Update]], list[dict[str, Any]]]:
    if not isinstance(raw, list) or not raw:
        raise MetadataRefused(400, "scores: at least one score is required")
    if len(raw) > MAX_SCORES_PER_REQUEST:
        raise MetadataRefused(400, f"scores: at most {MAX_SCORES_PER_REQUEST} scores are allowed")
    updates: list[tuple[Target, Update]] = []
    echoed: list[dict[str, Any]] = []
    for i, score in enumerate(raw):
        where = f"scores[{i}]"
        if not isinstance(score, dict):
            raise MetadataRefused(400, f"{where}: expected an object with name and value")
        name, value = score.get("name"), score.get("value")
        if value is None:
            raise MetadataRefused(400, f"{where}: a score value is required")
        check_score(name, value, where)
        step_id = score.get("step_id")
        if step_id is not None and (not isinstance(step_id, str) or not step_id.strip()):
            raise MetadataRefused(400, f"{where}.step_id: must not be empty")
        target = Target(step_id=step_id)
        experiment = score.get("experiment")
        if experiment is not None:
            if step_id is not None:
                raise MetadataRefused(400, f"{where}: experiment scores must be run-scoped")
            if not isinstance(experiment, dict):
                raise MetadataRefused(400, f"{where}.experiment: expected {{id, variant}}")
            for field in ("id", "variant"):
                text = experiment.get(field)
                if not isinstance(text, str) or not text.strip():
                    raise MetadataRefused(400, f"{where}.experiment.{field}: is required")
                if len(text.encode("utf-8")) > MAX_SCORE_NAME_BYTES:
                    raise MetadataRefused(
                        400,
                        f"{where}.experiment.{field}: at most {MAX_SCORE_NAME_BYTES} UTF-8 bytes",
                    )
            tag = {"name": experiment["id"], "variant": experiment["variant"]}
            updates.append((target, Update(EXPERIMENT_KIND, "merge", tag, values_size(tag))))
        assert isinstance(name, str)
        values = {name: {"value": value}}
        updates.append((target, Update(SCORE_KIND, "merge", values, values_size(values))))
        echoed.append({"name": name, "value": value, "step_id": step_id, "experiment": experiment})
    return updates, echoed


def routes(runtime: ServerRuntime) -> list[Route]:
    metadata = runtime.engine.lifecycle.metadata

    async def add_metadata(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        body = await read_object(request, MAX_SMALL_BODY_BYTES)
        raw = body.get("metadata")
        try:
            target = parse_target(body.get("target"), run_id)
            if not isinstance(raw, list) or not raw:
                raise MetadataRefused(400, "metadata: expected a non-empty array of updates")
            updates = [parse_update(u, f"metadata[{i}]") for i, u in enumerate(raw)]
            size = await metadata.add(run_id, [(target, u) for u in updates])
        except MetadataRefused as exc:
            return error(exc.status, str(exc))
        return json_response({"data": {"run_id": run_id, "metadata_size": size}})

    async def list_metadata(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        if await runtime.engine.get_run(run_id) is None:
            return error(404, f"run {run_id} not found")
        return json_response({"data": await metadata.of_run(run_id)})

    async def add_scores(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        body = await read_object(request, MAX_SMALL_BODY_BYTES)
        try:
            updates, echoed = _score_updates(body.get("scores"))
            await metadata.add(run_id, updates)
        except MetadataRefused as exc:
            return error(exc.status, str(exc))
        fetched = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return json_response(
            {
                "data": [{"run_id": run_id, **score} for score in echoed],
                "metadata": {"fetched_at": fetched},
            }
        )

    return [
        Route("/v1/runs/{run_id}/metadata", add_metadata, methods=["POST"]),
        Route("/v1/runs/{run_id}/metadata", list_metadata, methods=["GET"]),
        Route("/v2/runs/{run_id}/scores", add_scores, methods=["POST"]),
    ]
