"""The HTTP driver: calls functions of apps served over HTTP (protocol.md §5).

One execution is a loop of calls. After each reported ``StepRun`` the result is checkpointed
and the SDK is called again at once, without a trip through the queue; parallel ``StepPlanned``
steps are run as concurrent targeted calls; ``step.fetch`` and ``step.ai.infer`` are performed
here. The loop ends when the function returns, fails, or reports ops the engine must wait on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import jcs

from stepwell.core import json_values, trace_ids
from stepwell.core.attempts import is_final_attempt, may_retry
from stepwell.core.errors import error_payload
from stepwell.core.limits import step_output_problem
from stepwell.drivers.gateway import perform_ai_request, perform_fetch
from stepwell.drivers.http_body import StateTooLarge, call_body
from stepwell.drivers.http_lazy import LAZY_OPS, run_end
from stepwell.drivers.http_response import SdkResponse, classify_response
from stepwell.drivers.http_run import RunView
from stepwell.drivers.http_transport import AppTransport, TransportError, with_step_query
from stepwell.ports.driver import (
    Checkpoint,
    Completed,
    Errored,
    ExecutionRequest,
    Outcome,
    Released,
    Suspended,
)
from stepwell.protocol.ops import Op, Opcode

log = logging.getLogger("stepwell.driver.http")

MAX_CALLS_PER_EXECUTION = 10_000
ASYNC_OPS = frozenset(
    {Opcode.SLEEP, Opcode.WAIT_FOR_EVENT, Opcode.INVOKE_FUNCTION, Opcode.WAIT_FOR_SIGNAL}
)

Signer = Callable[[bytes], str | None]
"""Returns the ``X-Inngest-Signature`` value for a body, or None when not signing."""


class HttpDriver:
    def __init__(
        self,
        *,
        signer: Signer | None = None,
        client: httpx.AsyncClient | None = None,
        request_timeout_s: float = 7200.0,
    ) -> None:
        self._signer = signer or (lambda body: None)
        # Canonical JSON (RFC 8785) only for a signature: the TS SDK checks it over its own
        # canonical re-encoding of the body. jcs is pure Python, ~4x the cost of json.dumps
        # (190 against 43 us for a 20-step memo), and rounds integers past 2**53 as doubles.
        self._canonical = signer is not None
        # httpx for step.fetch and step.ai.infer; the per-step call has its own, leaner
        # transport (drivers/http_transport.py says why).
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(request_timeout_s, connect=10.0)
        )
        self._transport = AppTransport(request_timeout_s=request_timeout_s)
        self._draining = False
        self._active: dict[str, RunView] = {}
        self.on_response: Callable[[int | None], None] = lambda status: None
        """Told the status of every answer (None: none came); telemetry counts them."""
        self.traces_sampled = False
        """Whether the ``traceparent`` sent to apps asks them to record (traces exported)."""

    def drain(self) -> None:
        self._draining = True

    async def aclose(self) -> None:
        await self._transport.aclose()
        await self._client.aclose()

    async def close_transport(self) -> None:
        """Close the per-step connections only (the httpx client may be shared)."""
        await self._transport.aclose()

    # -- TS async checkpointing (§5.11) -----------------------------------------------------------

    async def checkpoint_async(
        self, run_id: str, ops: list[Op], request_id: str | None = None
    ) -> bool:
        """Store steps an SDK reports while its request is still running; each step once
        (one already stored, sent again, is skipped).

        False when no call of ours is running for that run, or none with ``request_id`` (a
        superseded dispatch).
        """
        run = self._active.get(run_id)
        if run is None or (request_id is not None and request_id not in run.calls):
            return False
        await run.record_lazy(ops)
        await run.store_many(await run.unstored(ops))  # one commit for all, then acknowledged
        return True

    # -- the execution loop -----------------------------------------------------------------------

    async def execute(self, request: ExecutionRequest, checkpoint: Checkpoint) -> Outcome:
        assert request.url is not None, "the HTTP driver needs the function's URL"
        run = RunView(request=request, checkpoint=checkpoint, attempt=request.attempt)
        self._active[request.run_id] = run
        try:
            return await self._loop(run)
        finally:
            self._active.pop(request.run_id, None)
            for task in list(run.background):
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await task

    async def _loop(self, run: RunView) -> Outcome:
        force_plan = run.request.force_plan
        for _ in range(MAX_CALLS_PER_EXECUTION):
            if self._draining:
                return Released()
            response = await self._call(run, step_id="step", force_plan=force_plan)
            if response.outcome is not None:
                return _checked(response.outcome)
            await run.record_lazy(response.ops)
            ops = [op for op in response.ops if op.op not in LAZY_OPS]
            ended = run_end(ops, response)
            if ended is not None:
                return ended
            if len(ops) > 1000:
                return Errored(
                    error_payload("Error", "the function exceeded the step limit of 1000 ops"),
                    retriable=False,
                )
            if run.version == -1 and response.version is not None:
                run.version = response.version
            completed = next((op for op in ops if op.op is Opcode.RUN_COMPLETE), None)
            if completed is not None:
                # Each step once: one the SDK checkpointed may be answered too (it saw no ack).
                await run.store_many(await run.unstored(ops))
                return _checked(Completed(completed.data))
            waits = await self._handle_ops(run, ops, response)
            if run.outcome is not None:
                return run.outcome
            if waits or run.step_errors:
                # Inngest keeps planning (its run's ForceStepPlan) after a sleep that was part
                # of parallel work: only a discovery after a step's result resets it (§5.6).
                return Suspended(
                    ops=[*waits, *run.step_errors],
                    retry_after_s=run.retry_after_s,
                    force_plan=force_plan or len(ops) > 1,
                )
            if not ops and run.in_flight:
                # Nothing new to do until a running step reports: do not spin on discovery.
                running = list(run.in_flight.values())
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            # Version 1 keeps planning parallel work step by step; version 2 resets (§5.6).
            force_plan = len(ops) > 1 and run.version < 2
        return Errored(error_payload("Error", "too many calls in one execution"), retriable=True)

    async def _handle_ops(self, run: RunView, ops: list[Op], response: SdkResponse) -> list[Op]:
        """Store what can be stored now; return the ops the engine must wait on."""
        waits = [op for op in ops if op.op in ASYNC_OPS]
        waits.sort(key=lambda op: op.op is not Opcode.WAIT_FOR_EVENT)  # waits first (§5.6)
        planned: list[Op] = []
        # Results answered together (those an SDK checkpointed and saw no ack for come first)
        # are stored together, in one write; each step once.
        lead = _leading_results(ops, run)
        await run.store_many(lead)
        for op in ops[len(lead) :]:
            if op.op in (Opcode.STEP_RUN, Opcode.STEP, Opcode.STEP_FAILED):
                # A race moves on at its first result while the other branches' calls run on;
                # the SDK may then run such a step inline. Its own call stores it: wait for
                # that, and never store one step twice (the second write would conflict).
                in_flight = run.in_flight.get(op.id)
                if in_flight is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(in_flight)
                if op.id not in run.request.memo:
                    await run.store(op)
            elif op.op is Opcode.STEP_ERROR:
                await self._step_error(run, op, response)
            elif op.op is Opcode.STEP_PLANNED:
                planned.append(op)
            elif op.op in (Opcode.GATEWAY, Opcode.AI_GATEWAY):
                await self._gateway(run, op)
        if planned:
            await self._run_planned(run, planned)
        return waits

    async def _step_error(self, run: RunView, op: Op, response: SdkResponse) -> None:
        """A retriable step error, unless the SDK says no or this was the last attempt."""
        if not may_retry(run.attempt, run.request.max_attempts, retriable=not response.no_retry):
            await run.store(replace(op, op=Opcode.STEP_FAILED, data=None))
            return
        run.step_errors.append(op)
        if response.retry_after_s is not None:
            run.retry_after_s = response.retry_after_s

    async def _run_planned(self, run: RunView, planned: list[Op]) -> None:
        """Run each planned step with its own targeted call, concurrently (§5.7).

        A step whose call is still running (planned again after a race moved on) gets no second
        call: it is waited on like the new ones. In a race the first result ends the wait.
        """
        race = any(op.opts.get("parallelMode") == "race" for op in planned)

        async def one(op: Op) -> None:
            began = time.monotonic()
            response = await self._call(run, step_id=op.id, force_plan=True)
            elapsed_ms = int((time.monotonic() - began) * 1000)
            if response.outcome is not None:
                outcome = response.outcome
                if isinstance(outcome, Errored) and may_retry(
                    run.attempt, run.request.max_attempts, retriable=outcome.retriable
                ):
                    run.step_errors.append(
                        Op(Opcode.STEP_ERROR, op.id, op.name, error=outcome.error)
                    )
                elif run.outcome is None:
                    # The SDK answered for the whole function (it returned, e.g. once a race
                    # was decided, or failed for good, as a targeted call that met another
                    # step does on its last attempt): that ends the run, as any call's would.
                    if isinstance(outcome, Errored):
                        outcome = replace(outcome, retriable=False)
                    run.outcome = outcome
                return
            await run.record_lazy(response.ops)
            for result in response.ops:
                # Its own call's time: parallel steps then show side by side in the trace.
                result.duration_ms = elapsed_ms
                if result.op in (Opcode.STEP_RUN, Opcode.STEP, Opcode.STEP_FAILED):
                    if result.id not in run.request.memo:
                        await run.store(result)
                elif result.op is Opcode.STEP_ERROR:
                    await self._step_error(run, result, response)
                elif result.op in (Opcode.GATEWAY, Opcode.AI_GATEWAY):
                    await self._gateway(run, result)

        def start(op: Op) -> asyncio.Task[None]:
            task = asyncio.ensure_future(one(op))
            run.in_flight[op.id] = task
            run.background.add(task)  # awaited when the execution ends, whatever happens

            def finished(done: asyncio.Task[None]) -> None:
                if run.in_flight.get(op.id) is done:
                    del run.in_flight[op.id]

            task.add_done_callback(finished)
            return task

        tasks = [run.in_flight.get(op.id) or start(op) for op in planned]
        if race:
            # The first result decides; the others go on in the background and are stored.
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # what it raised (the run was cancelled meanwhile) goes on up
        else:
            await asyncio.gather(*tasks)

    async def _gateway(self, run: RunView, op: Op) -> None:
        last = is_final_attempt(run.attempt, run.request.max_attempts)
        if op.op is Opcode.GATEWAY:
            memo = await perform_fetch(self._client, op.opts)
        else:
            memo = await perform_ai_request(self._client, op.opts)
        if "data" in memo:
            await run.store(Op(Opcode.STEP_RUN, op.id, op.name, op.display_name, data=memo["data"]))
        elif last:
            await run.store(
                Op(Opcode.STEP_FAILED, op.id, op.name, op.display_name, error=memo["error"])
            )
        else:
            run.step_errors.append(Op(Opcode.STEP_ERROR, op.id, op.name, error=memo["error"]))

    # -- one call ------------------------------------------------------------------------

    async def _call(self, run: RunView, *, step_id: str, force_plan: bool) -> SdkResponse:
        try:
            body, run.events_bytes = call_body(
                run.request,
                attempt=run.attempt,
                version=run.version,
                events_bytes=run.events_bytes,
                step_id=step_id,
                force_plan=force_plan,
                memo_size=run.memo_size,
            )
        except StateTooLarge as exc:
            return SdkResponse(
                outcome=Errored(error_payload("StateTooLargeError", str(exc)), retriable=False)
            )
        request_id = body["ctx"]["request_id"]
        run.calls.add(request_id)
        try:
            return await self.deliver(run.request, body, step_id=step_id, version=run.version)
        finally:
            run.calls.discard(request_id)

    async def deliver(
        self, request: ExecutionRequest, body: dict[str, Any], *, step_id: str, version: int
    ) -> SdkResponse:
        """Make one call with ``body`` and read its answer: the transport, which the Connect
        driver replaces (everything else about an execution is the same for both)."""
        raw = jcs.canonicalize(body) if self._canonical else json_values.dumps_wire(body)
        headers = {
            "Content-Type": "application/json",
            "X-Run-ID": request.run_id,
            "x-request-id": body["ctx"]["request_id"],
            "x-inngest-job-id": request.item_id,
            "x-inngest-req-version": str(version),
            "X-Inngest-Step-ID": step_id,
            "traceparent": self._traceparent(request.run_id, step_id, body),
        }
        # Present even when not signing (dev), as Inngest's dev server sends it: a durable
        # endpoint tells a call of ours from a new request by this header and ``X-Run-ID``.
        headers["X-Inngest-Signature"] = self._signer(raw) or ""
        url = with_step_query(str(request.url), step_id)
        try:
            status, answer_headers, content = await self._transport.post(url, raw, headers)
        except TransportError as exc:
            self.on_response(None)
            return SdkResponse(
                outcome=Errored(
                    error_payload("HTTPError", f"calling {url} failed: {exc.kind}: {exc}"),
                    retriable=True,
                )
            )
        self.on_response(status)
        return classify_response(status, answer_headers, content)

    def _traceparent(self, run_id: str, step_id: str, body: dict[str, Any]) -> str:
        """The run's trace; the parent is the step's span for a call that targets a step,
        else the run's."""
        if step_id == "step":
            return _run_traceparent(run_id, self.traces_sampled)
        span = trace_ids.step_span_id(run_id, step_id, int(body["ctx"].get("attempt", 0)))
        return trace_ids.traceparent(trace_ids.trace_id(run_id), span, sampled=self.traces_sampled)


@functools.lru_cache(maxsize=1024)
def _run_traceparent(run_id: str, sampled: bool) -> str:
    """The ``traceparent`` of a call that targets no step: the same for every call of a run
    (two blake2b digests, ~2 % of the server's CPU per step when made on each call)."""
    return trace_ids.traceparent(
        trace_ids.trace_id(run_id), trace_ids.run_span_id(run_id), sampled=sampled
    )


def _leading_results(ops: list[Op], run: RunView) -> list[Op]:
    """The results ``ops`` start with, none stored yet nor a step whose call still runs."""
    lead: dict[str, Op] = {}
    for op in ops:
        if (
            op.op not in (Opcode.STEP_RUN, Opcode.STEP, Opcode.STEP_FAILED)
            or op.id in run.in_flight
            or op.id in run.request.memo
            or op.id in lead
        ):
            break
        lead[op.id] = op
    return list(lead.values())


def _checked(outcome: Outcome) -> Outcome:
    """A function's result is held to the rule of a step's."""
    if isinstance(outcome, Completed):
        problem = step_output_problem("(function result)", outcome.output)
        if problem is not None:
            return Errored(error_payload("StepOutputError", problem), retriable=False)
    return outcome
