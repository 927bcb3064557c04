"""Real processes for the end-to-end tests: ``stepwell dev`` and an app on an official Inngest SDK.

Plus ``StandIn``, a threaded HTTP server in the test process standing in for the world outside
(a model provider, an HTTP endpoint) that the server calls for ``step.ai.infer``/``step.fetch``.

Everything runs over loopback on free ports. Every wait here is a bounded wait on a condition
(``wait_until``), never a fixed sleep; the only windows are the ones that check that something
does *not* happen (``stays``), which need one by nature.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

E2E_DIR = Path(__file__).resolve().parent
APPS_DIR = E2E_DIR / "apps"
PY_APP = APPS_DIR / "py_fastapi_app.py"
TS_APP_DIR = APPS_DIR / "ts"
TS_APP = TS_APP_DIR / "app.mjs"
TS_SDK_VERSION = "4.24.0"
PY_SDK_VERSION = "0.5.19"
MIN_NODE_MAJOR = 20

APP_ID = "myapp"
SERVE_PATH = "/api/inngest"
LOOPBACK = "127.0.0.1"

ENDED = frozenset({"Completed", "Failed", "Cancelled"})

# How long the stack may take to come up, and the default bound of a wait on a run.
STARTUP_TIMEOUT = 60.0
RUN_TIMEOUT = 30.0

T = TypeVar("T")

# --------------------------------------------------------------------------------------------
# JSON and waiting helpers


def as_obj(value: object, what: str = "value") -> dict[str, object]:
    """``value`` as a JSON object, or an assertion error saying what it was instead."""
    assert isinstance(value, dict), f"{what} should be a JSON object, got {value!r}"
    return {str(key): item for key, item in value.items()}


def as_list(value: object, what: str = "value") -> list[object]:
    """``value`` as a JSON array, or an assertion error saying what it was instead."""
    assert isinstance(value, list), f"{what} should be a JSON array, got {value!r}"
    return list(value)


def as_str(value: object, what: str = "value") -> str:
    assert isinstance(value, str), f"{what} should be a string, got {value!r}"
    return value


def sha1(text: str) -> str:
    """A step's id on the wire: the hex SHA-1 of the id the user gave it (protocol.md §5.5)."""
    return hashlib.sha1(text.encode()).hexdigest()


def nonce() -> str:
    """A value unique to one test, carried in event data to tell its runs and notes apart."""
    return uuid.uuid4().hex[:16]


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    context: Callable[[], str] | None = None,
) -> T:
    """Poll ``check`` until it returns a truthy value and return that; fail after ``timeout`` s.

    ``context`` adds text to the failure (the tail of the processes' logs, the last state seen).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = f"\n{context()}" if context is not None else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(interval)


def stays(
    check: Callable[[], bool],
    *,
    seconds: float,
    what: str,
    interval: float = 0.1,
) -> None:
    """Assert that ``check`` holds at every poll for ``seconds``: that something does NOT happen."""
    deadline = time.monotonic() + seconds
    while True:
        assert check(), f"expected {what} to hold for {seconds:g}s, and it stopped holding"
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------------------------
# Processes


@dataclasses.dataclass
class ManagedProcess:
    """A child process in its own session, its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
    ) -> ManagedProcess:
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name=name, popen=popen, log_path=log_path)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, chars: int = 6000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as err:
            return f"(no log: {err})"
        return text[-chars:]

    def describe(self) -> str:
        state = "running" if self.alive else f"exited with {self.popen.returncode}"
        return f"--- {self.name} ({state}), log {self.log_path}:\n{self.log_tail()}"

    def check_alive(self) -> None:
        if not self.alive:
            raise AssertionError(f"{self.name} exited early\n{self.describe()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it has not exited in ``timeout`` s."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout)


# --------------------------------------------------------------------------------------------
# The server and its APIs


@dataclasses.dataclass(frozen=True)
class Run:
    """A run as ``GET /v1/runs/{id}`` and ``GET /v1/events/{id}/runs`` report it."""

    run_id: str
    status: str
    output: object
    raw: dict[str, object]

    @classmethod
    def from_json(cls, value: object) -> Run:
        raw = as_obj(value, "run")
        return cls(
            run_id=as_str(raw.get("run_id"), "run.run_id"),
            status=as_str(raw.get("status"), "run.status"),
            output=raw.get("output"),
            raw=raw,
        )

    @property
    def ended(self) -> bool:
        return self.status in ENDED


@dataclasses.dataclass(frozen=True)
class StoredEvent:
    """An event as ``GET /v1/events`` lists it."""

    internal_id: str
    name: str
    data: dict[str, object]
    raw: dict[str, object]

    @classmethod
    def from_json(cls, value: object) -> StoredEvent:
        raw = as_obj(value, "event")
        data = raw.get("data")
        return cls(
            internal_id=as_str(raw.get("internal_id"), "event.internal_id"),
            name=as_str(raw.get("name"), "event.name"),
            data=as_obj(data, "event.data") if data is not None else {},
            raw=raw,
        )


class StepwellDev:
    """A running ``stepwell dev`` and a client for the parts of its HTTP API the tests use."""

    def __init__(self, process: ManagedProcess, url: str) -> None:
        self.process = process
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def _json(self, response: httpx.Response) -> object:
        assert response.status_code == 200, (
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text[:2000]}"
        )
        body: object = response.json()
        return body

    # Events ---------------------------------------------------------------------------------

    def send(self, events: Mapping[str, object] | Sequence[Mapping[str, object]]) -> list[str]:
        """``POST /e/{key}``; returns the internal event ids, one per event, in order."""
        response = self.http.post("/e/test-key", json=events)
        body = as_obj(self._json(response), "event API response")
        assert body.get("status") == 200, f"event API response without status 200: {body}"
        ids = [as_str(item, "event id") for item in as_list(body.get("ids"), "ids")]
        sent = 1 if isinstance(events, Mapping) else len(events)
        assert len(ids) == sent, f"{sent} event(s) sent, ids {ids}"
        return ids

    def send_one(self, name: str, data: Mapping[str, object], **fields: object) -> str:
        [event_id] = self.send({"name": name, "data": dict(data), **fields})
        return event_id

    def events(self, name: str) -> list[StoredEvent]:
        """``GET /v1/events?name=...``: the stored events of that name."""
        response = self.http.get("/v1/events", params={"name": name, "limit": 100})
        body = as_obj(self._json(response), "events response")
        return [StoredEvent.from_json(item) for item in as_list(body.get("data"), "data")]

    def wait_for_event(
        self,
        name: str,
        match: Callable[[StoredEvent], bool],
        *,
        timeout: float = RUN_TIMEOUT,
        what: str | None = None,
    ) -> StoredEvent:
        """Wait until an event named ``name`` for which ``match`` holds is stored; return it."""

        def found() -> StoredEvent | None:
            self.process.check_alive()
            return next((event for event in self.events(name) if match(event)), None)

        return wait_until(
            found, timeout=timeout, what=what or f"a matching {name} event", interval=0.2
        )

    # Runs -----------------------------------------------------------------------------------

    def runs_of_event(self, event_id: str) -> list[Run]:
        """``GET /v1/events/{internalId}/runs``."""
        response = self.http.get(f"/v1/events/{event_id}/runs")
        body = as_obj(self._json(response), "runs response")
        return [Run.from_json(item) for item in as_list(body.get("data"), "data")]

    def get_run(self, run_id: str) -> Run:
        """``GET /v1/runs/{runId}``."""
        body = as_obj(self._json(self.http.get(f"/v1/runs/{run_id}")), "run response")
        return Run.from_json(body.get("data"))

    def cancel_run(self, run_id: str) -> None:
        """``DELETE /v1/runs/{runId}``."""
        response = self.http.delete(f"/v1/runs/{run_id}")
        assert response.status_code < 300, (
            f"DELETE /v1/runs/{run_id} answered {response.status_code}: {response.text[:2000]}"
        )

    def wait_for_runs(
        self, event_id: str, *, count: int = 1, timeout: float = RUN_TIMEOUT
    ) -> list[Run]:
        """Wait until the event has at least ``count`` runs and all of them have ended."""
        last: list[Run] = []

        def ended() -> list[Run] | None:
            nonlocal last
            self.process.check_alive()
            last = self.runs_of_event(event_id)
            if len(last) >= count and all(run.ended for run in last):
                return last
            return None

        return wait_until(
            ended,
            timeout=timeout,
            what=f"{count} ended run(s) of event {event_id}",
            context=lambda: f"last seen: {last}",
        )

    def wait_for_run(self, event_id: str, *, timeout: float = RUN_TIMEOUT) -> Run:
        """The one run of ``event_id``, once it has ended."""
        runs = self.wait_for_runs(event_id, timeout=timeout)
        assert len(runs) == 1, f"expected exactly one run of event {event_id}, got {runs}"
        return runs[0]

    def wait_for_run_end(self, run_id: str, *, timeout: float = RUN_TIMEOUT) -> Run:
        last: Run | None = None

        def ended() -> Run | None:
            nonlocal last
            self.process.check_alive()
            last = self.get_run(run_id)
            return last if last.ended else None

        return wait_until(
            ended,
            timeout=timeout,
            what=f"run {run_id} to end",
            context=lambda: f"last seen: {last}",
        )

    def wait_for_run_started(self, event_id: str, *, timeout: float = RUN_TIMEOUT) -> Run:
        """The first run of ``event_id``, as soon as the server lists it (ended or not)."""

        def listed() -> Run | None:
            self.process.check_alive()
            runs = self.runs_of_event(event_id)
            return runs[0] if runs else None

        return wait_until(listed, timeout=timeout, what=f"a run of event {event_id}")

    # Signals --------------------------------------------------------------------------------

    def signal(self, name: str, data: object) -> httpx.Response:
        """``POST /v1/signals``: ``{"data": {"run_id"}}`` when a run waited for it, else 404."""
        return self.http.post("/v1/signals", json={"signal": name, "data": data})

    # Apps -----------------------------------------------------------------------------------

    def dev_info(self) -> dict[str, object]:
        """``GET /dev``."""
        return as_obj(self._json(self.http.get("/dev")), "GET /dev")

    def function_slugs(self) -> set[str]:
        functions = as_list(self.dev_info().get("functions") or [], "functions")
        return {as_str(as_obj(fn, "function").get("slug"), "slug") for fn in functions}


# --------------------------------------------------------------------------------------------
# The apps


@dataclasses.dataclass(frozen=True)
class Note:
    """One line of an app's ``GET /e2e/log``: a function request, or a step body that ran."""

    fn: str
    run_id: str
    what: str
    attempt: int
    t: float
    nonce: str | None

    @classmethod
    def from_json(cls, value: object) -> Note:
        raw = as_obj(value, "note")
        attempt, t, note_nonce = raw.get("attempt"), raw.get("t"), raw.get("nonce")
        assert isinstance(attempt, int), raw
        assert isinstance(t, int | float), raw
        assert note_nonce is None or isinstance(note_nonce, str), raw
        return cls(
            fn=as_str(raw.get("fn")),
            run_id=as_str(raw.get("run_id")),
            what=as_str(raw.get("what")),
            attempt=attempt,
            t=float(t),
            nonce=note_nonce,
        )


@dataclasses.dataclass(frozen=True)
class SdkCall:
    """One call the server made to the SDK's endpoint, as the app summarises it (``/e2e/wire``)."""

    fn_id: str | None
    step_id: str | None
    run_id: str | None
    use_api: object
    ctx_use_api: object
    steps: int | None  # how many memos the body carried in ``steps``
    events: int | None  # how many events it carried in ``events``
    status: int | None  # what the SDK answered (201: a stream)

    @classmethod
    def from_json(cls, value: object) -> SdkCall:
        raw = as_obj(value, "call")
        steps, events, status = raw.get("steps"), raw.get("events"), raw.get("status")
        assert steps is None or isinstance(steps, int), raw
        assert events is None or isinstance(events, int), raw
        assert status is None or isinstance(status, int), raw
        fn_id, step_id, run_id = raw.get("fn_id"), raw.get("step_id"), raw.get("run_id")
        return cls(
            fn_id=None if fn_id is None else as_str(fn_id),
            step_id=None if step_id is None else as_str(step_id),
            run_id=None if run_id is None else as_str(run_id),
            use_api=raw.get("use_api"),
            ctx_use_api=raw.get("ctx_use_api"),
            steps=steps,
            events=events,
            status=status,
        )


@dataclasses.dataclass(frozen=True)
class Wire:
    """The app's ``GET /e2e/wire``: the server's calls to the SDK and the SDK's own API calls."""

    calls: list[SdkCall]
    api_paths: list[str]  # "GET /v0/runs/<id>/actions", in order

    def calls_of(self, run_id: str) -> list[SdkCall]:
        return [call for call in self.calls if call.run_id == run_id]


@dataclasses.dataclass(frozen=True)
class Sdk:
    """What differs between the two official SDKs, as far as the tests are concerned."""

    name: str  # "py" or "ts"
    header: str  # X-Inngest-SDK on every SDK response
    # The error name a step's memoised error carries for a plain thrown error.
    thrown_error_name: str
    # introspection function_count: PY counts user functions, TS every config (+ -failure).
    counts_failure_handlers: bool
    script: Path | None = None  # a TS app other than the main one (see ``ts_app``)

    def command(self, port: int) -> list[str]:
        if self.name == "py":
            return [sys.executable, str(PY_APP), "--host", LOOPBACK, "--port", str(port)]
        node = shutil.which("node")
        assert node is not None, "node is not on PATH"
        return [node, str(self.script or TS_APP)]

    def env(self, port: int) -> dict[str, str]:
        return {"PORT": str(port), "HOST": LOOPBACK} if self.name == "ts" else {}

    @property
    def cwd(self) -> Path:
        return TS_APP_DIR if self.name == "ts" else APPS_DIR


PY = Sdk(
    name="py",
    header=f"inngest-py:v{PY_SDK_VERSION}",
    thrown_error_name="ValueError",
    counts_failure_handlers=False,
)
TS = Sdk(
    name="ts",
    header=f"inngest-js:v{TS_SDK_VERSION}",
    thrown_error_name="Error",
    counts_failure_handlers=True,
)


def ts_app(script: str) -> Sdk:
    """The official TS SDK serving ``script``, a file of tests/e2e/apps/ts."""
    return dataclasses.replace(TS, script=TS_APP_DIR / script)


class SdkApp:
    """A running app on an official SDK."""

    def __init__(self, sdk: Sdk, process: ManagedProcess, port: int) -> None:
        self.sdk = sdk
        self.process = process
        self.port = port
        self.origin = f"http://{LOOPBACK}:{port}"
        self.url = f"{self.origin}{SERVE_PATH}"
        self.http = httpx.Client(timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def introspect(self) -> httpx.Response:
        """``GET /api/inngest``: the SDK's introspection (protocol.md §4)."""
        return self.http.get(self.url)

    def notes(
        self,
        fn: str | None = None,
        *,
        run_id: str | None = None,
        what: str | None = None,
        nonce: str | None = None,
    ) -> list[Note]:
        """The app's log of requests and step bodies, filtered."""
        response = self.http.get(f"{self.origin}/e2e/log")
        assert response.status_code == 200, response.text
        notes = [
            Note.from_json(item) for item in as_list(as_obj(response.json()).get("notes"), "notes")
        ]
        return [
            note
            for note in notes
            if (fn is None or note.fn == fn)
            and (run_id is None or note.run_id == run_id)
            and (what is None or note.what == what)
            and (nonce is None or note.nonce == nonce)
        ]

    def wire(self) -> Wire:
        """``GET /e2e/wire``."""
        response = self.http.get(f"{self.origin}/e2e/wire")
        assert response.status_code == 200, response.text
        body = as_obj(response.json(), "GET /e2e/wire")
        api_paths = []
        for item in as_list(body.get("api_calls"), "api_calls"):
            call = as_obj(item, "api call")
            api_paths.append(f"{as_str(call.get('method'))} {as_str(call.get('path'))}")
        return Wire(
            calls=[SdkCall.from_json(item) for item in as_list(body.get("requests"), "requests")],
            api_paths=api_paths,
        )

    def wait_for_note(
        self,
        fn: str,
        *,
        run_id: str | None = None,
        what: str = "call",
        nonce: str | None = None,
        timeout: float = RUN_TIMEOUT,
    ) -> Note:
        """Wait until the app has logged a matching note; return the first one."""

        def logged() -> Note | None:
            self.process.check_alive()
            found = self.notes(fn, run_id=run_id, what=what, nonce=nonce)
            return found[0] if found else None

        return wait_until(
            logged, timeout=timeout, what=f"{fn} to log {what!r} (run {run_id}, nonce {nonce})"
        )


# --------------------------------------------------------------------------------------------
# The stack: app + server


@dataclasses.dataclass
class Stack:
    """``stepwell dev`` syncing one app on an official SDK."""

    sdk: Sdk
    app: SdkApp
    server: StepwellDev

    def diagnostics(self) -> str:
        return f"{self.server.process.describe()}\n{self.app.process.describe()}"


def _sdk_env(server_url: str) -> dict[str, str]:
    """The environment of an app process: the dev server at ``server_url``, nothing else Inngest."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("INNGEST_")}
    env.update(
        {
            "INNGEST_DEV": "1",
            "INNGEST_BASE_URL": server_url,
            "PYTHONUNBUFFERED": "1",
            # A proxy configured on the machine must not see loopback traffic.
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env


def _server_argv(port: int, database: str, app_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "stepwell",
        "dev",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--database",
        database,
        "-u",
        app_url,
        "--retry-interval",
        "1",
        "--poll-interval",
        "1",
        "--no-discovery",
    ]


@contextlib.contextmanager
def start_stack(
    sdk: Sdk,
    workdir: Path,
    expected_functions: Sequence[str],
    *,
    app_env: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """Start the app, then ``stepwell dev`` pointed at it; yield once every function is synced.

    ``app_env`` adds to the app's environment (e.g. ``INNGEST_STREAMING``). Both processes are
    stopped on the way out (terminate, then kill; bounded).
    """
    app_port = free_port()
    server_port = free_port()
    while server_port == app_port:
        server_port = free_port()
    server_url = f"http://{LOOPBACK}:{server_port}"

    with contextlib.ExitStack() as cleanup:
        env = {**_sdk_env(server_url), **sdk.env(app_port), **(app_env or {})}
        app_process = ManagedProcess.start(
            f"{sdk.name} app",
            sdk.command(app_port),
            env=env,
            cwd=sdk.cwd,
            log_path=workdir / f"{sdk.name}-app.log",
        )
        cleanup.callback(app_process.stop)
        app = SdkApp(sdk, app_process, app_port)
        cleanup.callback(app.close)

        def introspects() -> bool:
            app_process.check_alive()
            try:
                response = app.introspect()
            except httpx.TransportError:
                return False
            return response.status_code == 200 and "x-inngest-sdk" in response.headers

        wait_until(
            introspects,
            timeout=STARTUP_TIMEOUT,
            what=f"the {sdk.name} app to answer GET {app.url}",
            context=app_process.describe,
        )

        server_env = {
            key: value for key, value in os.environ.items() if not key.startswith("INNGEST_")
        }
        server_env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"})
        server_process = ManagedProcess.start(
            "stepwell dev",
            _server_argv(server_port, f"sqlite:///{workdir / 'dev.db'}", app.url),
            env=server_env,
            cwd=workdir,
            log_path=workdir / "stepwell-dev.log",
        )
        # Registered after the app's, so it runs first: the server stops before the app.
        cleanup.callback(server_process.stop)
        server = StepwellDev(server_process, server_url)
        cleanup.callback(server.close)
        stack = Stack(sdk=sdk, app=app, server=server)

        def healthy() -> bool:
            server_process.check_alive()
            try:
                response = server.http.get("/health")
            except httpx.TransportError:
                return False
            return response.status_code == 200

        wait_until(
            healthy,
            timeout=STARTUP_TIMEOUT,
            what=f"stepwell dev to answer GET {server_url}/health",
            context=stack.diagnostics,
        )

        missing: set[str] = set(expected_functions)

        def synced() -> bool:
            nonlocal missing
            server_process.check_alive()
            app_process.check_alive()
            missing = set(expected_functions) - server.function_slugs()
            return not missing

        wait_until(
            synced,
            timeout=STARTUP_TIMEOUT,
            what="every function of the app to be listed by GET /dev",
            interval=0.2,
            context=lambda: f"missing: {sorted(missing)}\n{stack.diagnostics()}",
        )
        yield stack


# --------------------------------------------------------------------------------------------
# The outside world: a stand-in model provider and HTTP endpoint, on loopback


@dataclasses.dataclass(frozen=True)
class Recorded:
    """One request the stand-in server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lowercased
    body: bytes

    def json(self) -> object:
        value: object = json.loads(self.body)
        return value


def chat_completion(tag: str, request: Mapping[str, object]) -> dict[str, object]:
    """The stand-in provider's answer to an OpenAI chat-completions request."""
    messages = as_list(request.get("messages"), "messages")
    last = as_obj(messages[-1], "message").get("content")
    return {
        "id": f"chatcmpl-{tag}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": request.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"stand-in says: {last}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


PROVIDER_OUTAGE = {"error": {"message": "stand-in outage", "type": "server_error"}}


class StandIn:
    """A threaded HTTP server on loopback that records every request. Routes:

    * ``POST /ai/ok/<tag>/v1/chat/completions``: 200 with ``chat_completion(tag, body)``;
    * ``POST /ai/fail/<tag>/v1/chat/completions``: 500 with ``PROVIDER_OUTAGE``;
    * ``<any> /fetch/<tag>?status=N``: status N (default 200), header ``x-stand-in: <tag>``,
      text body ``"<METHOD> <request body>"``;
    * anything else: 404.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._server = http.server.ThreadingHTTPServer((LOOPBACK, 0), self._handler_class())
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.url = f"http://{LOOPBACK}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stand-in", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def requests(self, path_prefix: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self._requests if r.path.startswith(path_prefix)]

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                request = Recorded(
                    method=self.command,
                    path=url.path,
                    query=dict(urllib.parse.parse_qsl(url.query)),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                stand_in._record(request)
                status, headers, body = stand_in._answer(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the tests look at the recorded requests instead

        return Handler

    @staticmethod
    def _answer(request: Recorded) -> tuple[int, dict[str, str], bytes]:
        parts = request.path.strip("/").split("/")
        as_json = {"content-type": "application/json"}
        if parts[0] == "ai" and len(parts) >= 3 and request.method == "POST":
            if parts[1] == "ok":
                answer = chat_completion(parts[2], as_obj(request.json(), "chat request"))
                return 200, as_json, json.dumps(answer).encode()
            return 500, as_json, json.dumps(PROVIDER_OUTAGE).encode()
        if parts[0] == "fetch" and len(parts) >= 2:
            status = int(request.query.get("status", "200"))
            text = f"{request.method} {request.body.decode()}"
            return status, {"content-type": "text/plain", "x-stand-in": parts[1]}, text.encode()
        return 404, as_json, b'{"error": "not found"}'


@contextlib.contextmanager
def stand_in_server() -> Iterator[StandIn]:
    server = StandIn()
    server.start()
    try:
        yield server
    finally:
        server.close()


# --------------------------------------------------------------------------------------------
# Node and the TS app's dependencies


def node_problem() -> str | None:
    """Why the TS app cannot run here (no node/npm, or too old a node), or None."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node and npm are needed for the TypeScript SDK app, and are not on PATH"
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        return f"could not read node's version from {version!r}"
    if major < MIN_NODE_MAJOR:
        return f"node {version} is too old for inngest {TS_SDK_VERSION} (needs >= {MIN_NODE_MAJOR})"
    return None


def installed_ts_sdk_version() -> str | None:
    package = TS_APP_DIR / "node_modules" / "inngest" / "package.json"
    try:
        version = json.loads(package.read_text()).get("version")
    except (OSError, ValueError):
        return None
    return version if isinstance(version, str) else None


def _lockfile_digest() -> str:
    return hashlib.sha256((TS_APP_DIR / "package-lock.json").read_bytes()).hexdigest()


# Written into node_modules after a successful `npm ci`: the digest of the lockfile installed.
_INSTALL_STAMP = TS_APP_DIR / "node_modules" / ".stepwell-lockfile-sha256"


def ts_app_up_to_date() -> bool:
    """node_modules holds what package-lock.json pins (the pinned SDK, from this lockfile)."""
    try:
        stamp = _INSTALL_STAMP.read_text().strip()
    except OSError:
        return False
    return stamp == _lockfile_digest() and installed_ts_sdk_version() == TS_SDK_VERSION


def install_ts_app(timeout: float = 240.0) -> None:
    """``npm ci`` the TS app from its lockfile, unless node_modules already matches it. A
    lock file keeps the suite's worker processes (pytest-xdist) from installing at once."""
    with open(TS_APP_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not ts_app_up_to_date():
            _npm_ci(timeout)


def _npm_ci(timeout: float) -> None:
    npm = shutil.which("npm")
    assert npm is not None, "npm is not on PATH"
    done = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=TS_APP_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"npm ci in {TS_APP_DIR} failed ({done.returncode}):\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    installed = installed_ts_sdk_version()
    if installed != TS_SDK_VERSION:
        raise RuntimeError(f"npm ci installed inngest {installed}, not {TS_SDK_VERSION}")
    _INSTALL_STAMP.write_text(_lockfile_digest() + "\n")
