"""``POST`` calls (protocol.md §5): read the server's call request, run the function for one
call, and answer the way the Python SDK does.

* ``200`` + the raw JSON return value when the function finished;
* ``206`` + a list of ops when it reached steps (``StepRun``, ``StepPlanned``, ``Sleep``, …);
* ``500`` + ``{"code", "message", "name", "stack"}`` when it raised, with
  ``X-Inngest-No-Retry: true`` if retrying cannot help and ``Retry-After`` if it asked for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from stepwell.core import json_values
from stepwell.core.errors import (
    NestedStepError,
    NonRetriableError,
    RetryAfterError,
    StepError,
    StepOutputError,
    error_from_exception,
)
from stepwell.ports.driver import ExecutionRequest
from stepwell.protocol.durations import format_instant
from stepwell.protocol.ops import Op, Opcode
from stepwell.sdk.function import Function
from stepwell.sdk.runtime import Interrupt, encode_output
from stepwell.sdk.serve.checkpointer import CallIds, Checkpointer
from stepwell.sdk.serve.client import ApiClient
from stepwell.sdk.serve.messages import HttpResponse, error_response, json_response
from stepwell.sdk.serve.runner import CallResult, HttpCall

log = logging.getLogger("stepwell.serve")

NO_RETRY = {"X-Inngest-No-Retry": "true"}


class BodyInvalid(ValueError):
    """A call request we cannot read."""


@dataclass(frozen=True, slots=True)
class CallRequest:
    run_id: str
    attempt: int
    max_attempts: int | None
    disable_immediate_execution: bool
    use_api: bool
    events: list[dict[str, Any]]
    steps: dict[str, Any]
    fn_id: str | None = None
    """The server's id of the function and of the queue item: with both, steps may be
    checkpointed (protocol.md §5.11)."""
    qi_id: str | None = None
    request_id: str | None = None


def parse_call(body: bytes) -> CallRequest:
    try:
        raw = json_values.loads(body)
    except json_values.JsonValueError as exc:
        raise BodyInvalid(f"the body is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise BodyInvalid("the body must be a JSON object")
    ctx = raw.get("ctx") or {}
    if not isinstance(ctx, dict):
        raise BodyInvalid("ctx: expected an object")
    run_id = ctx.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise BodyInvalid("ctx.run_id: expected a string")
    attempt = _int(ctx.get("attempt", 0), "ctx.attempt")
    max_attempts = ctx.get("max_attempts")
    if max_attempts is not None:
        max_attempts = _int(max_attempts, "ctx.max_attempts")
    use_api = raw.get("use_api", ctx.get("use_api", False))
    steps = raw.get("steps") or {}
    if not isinstance(steps, dict):
        raise BodyInvalid("steps: expected an object")
    stack = (ctx.get("stack") or {}).get("stack") if isinstance(ctx.get("stack"), dict) else None
    if isinstance(stack, list):
        # The memo in the order it was stored (a race's winner depends on it), not as the
        # JSON object's keys happen to come (a canonical encoding sorts them).
        steps = {k: steps[k] for k in stack if isinstance(k, str) and k in steps} | steps
    events = raw.get("events") or []
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise BodyInvalid("events: expected an array of objects")
    event = raw.get("event")
    if not events and isinstance(event, dict):
        events = [event]
    if not use_api:
        for index, item in enumerate(events):
            if not isinstance(item.get("name"), str):
                raise BodyInvalid(f"events[{index}].name: expected a string")
        if not events:
            raise BodyInvalid("event: the triggering event is required")
    return CallRequest(
        run_id=run_id,
        attempt=attempt,
        max_attempts=max_attempts,
        disable_immediate_execution=ctx.get("disable_immediate_execution") is True,
        use_api=use_api is True,
        events=events,
        steps=steps,
        fn_id=_text(ctx.get("fn_id")),
        qi_id=_text(ctx.get("qi_id")),
        request_id=_text(ctx.get("request_id")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BodyInvalid(f"{where}: expected an integer")
    return value


async def execute(
    fn: Function[Any],
    call: CallRequest,
    target: str | None,
    client: ApiClient,
    *,
    checkpoint: bool = False,
    caller_gone: Callable[[], bool] | None = None,
) -> HttpResponse:
    events, steps = call.events, call.steps
    if call.use_api:
        # The request was too large to carry the run's state: fetch it (§5.9).
        events, steps = await client.run_state(call.run_id)
    request = ExecutionRequest(
        run_id=call.run_id,
        function_id=fn.slug,
        attempt=call.attempt,
        max_attempts=call.max_attempts or fn.spec.max_attempts,
        events=events,
        memo=dict(steps),
    )
    checkpointer = None
    # As the TS SDK decides: only a call that may run steps inline, from a server that names
    # the function and the queue item (the route needs both). A retry (attempt > 0) answers
    # its step as before: the steps after it get a call of their own, at attempt 0.
    inline = target is None and not call.disable_immediate_execution and call.attempt == 0
    if checkpoint and inline and call.fn_id is not None and call.qi_id is not None:
        ids = CallIds(call.run_id, call.fn_id, call.qi_id, call.request_id)
        checkpointer = Checkpointer(client, ids, caller_gone=caller_gone)
    runner = HttpCall(
        fn,
        request,
        target=target,
        plan_only=call.disable_immediate_execution,
        send_events=client.send_events,
        checkpointer=checkpointer,
    )
    return respond(await runner.run())


def respond(result: CallResult) -> HttpResponse:
    if result.ops:
        headers = {}
        if result.retry_after_s is not None:
            headers["Retry-After"] = _retry_at(result.retry_after_s)
        return json_response(206, [_wire(op) for op in result.ops], headers)
    if result.returned:
        try:
            return json_response(200, encode_output("(function result)", result.output))
        except StepOutputError as exc:
            return _error("output_unserializable", exc, NO_RETRY)
    assert result.error is not None
    return function_error(result.error, result.skipped)


def _wire(op: Op) -> dict[str, Any]:
    wire = op.to_wire()
    if op.op is Opcode.SLEEP and op.opts.get("duration"):
        # Servers read opts.duration, older ones only `name` (as TS sends it): give both.
        wire["name"] = op.opts["duration"]
    return wire


def function_error(exc: BaseException, skipped: list[str]) -> HttpResponse:
    if isinstance(exc, Interrupt):
        # A targeted step that this call never reached (the function is not deterministic).
        message = (
            f'found step "{skipped[0]}" when targeting a different step'
            if skipped
            else "the function stopped without reaching the targeted step"
        )
        return error_response("step_unexpected", message, name="StepUnexpectedError")
    if isinstance(exc, StepError):
        # A step that failed for good and was not caught fails the run (§5.4).
        stack = exc.error.get("stack")
        return error_response(
            "step_errored",
            exc.error_message,
            name=exc.error_name,
            stack=stack if isinstance(stack, str) else None,
            headers=NO_RETRY,
        )
    if isinstance(exc, StepOutputError):
        return _error("output_unserializable", exc, NO_RETRY)
    if isinstance(exc, NestedStepError):
        return _error("step_nested", exc, NO_RETRY)
    if isinstance(exc, NonRetriableError):
        return _error("non_retriable_error", exc, NO_RETRY)
    if isinstance(exc, RetryAfterError):
        delay = exc.delay_seconds(datetime.now(UTC))
        return _error("retry_after_error", exc, {"Retry-After": _retry_at(delay)})
    if isinstance(exc, Exception):
        log.warning("function raised %s: %s", type(exc).__name__, exc)
        return _error("unknown", exc, {})
    raise exc  # not an error of the function's (e.g. KeyboardInterrupt)


def _error(code: str, exc: BaseException, headers: dict[str, str]) -> HttpResponse:
    payload = error_from_exception(exc)
    return error_response(
        code, payload["message"], name=payload["name"], stack=payload["stack"], headers=headers
    )


def _retry_at(delay_s: float) -> str:
    """``Retry-After`` as the Python SDK writes it: a UTC instant with milliseconds."""
    return format_instant(datetime.now(UTC) + timedelta(seconds=max(0.0, delay_s)))
