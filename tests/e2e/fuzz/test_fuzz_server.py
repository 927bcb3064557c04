"""Fuzzing the server: hostile requests to every route of real processes over loopback.

Two servers run for the whole module, each in a fresh directory with its own SQLite file:
``stepwell start`` (production: signing key, event key) and ``stepwell dev``. Both serve the
small app of ``fuzz_app.py`` on their own port (``--app``), so runs happen. A few events are sent
first and their runs waited for; the exact JSON of ``GET /v1/events/{id}`` and
``GET /v1/runs/{id}`` is kept.

Then, for every route of the server's router (enumerated from the Starlette app that
``create_app`` builds, never started) and for each server, hypothesis draws requests from
``strategies.py``, one hostile part at a time (fields, body bytes, path parameters, query
string, headers, method); then the named hostile inputs, lying ``Content-Length`` headers and
raw targets over a socket, junk signatures to the served app, and events for the functions
the fuzzing registered. For every request: the answer is below 500, the process is still
alive, a 4xx has a body that says what was wrong, and a GraphQL 200 carries no error that reads
like a Python exception (a resolver that raised). A 5xx is kept as a finding with the last line
of the traceback the server wrote to its stderr (a file per start) and the innermost stepwell
frame; each route's test fails listing its distinct findings. Examples are not shrunk (every
request counts, not only the first failing one) and the run is derandomized: the module makes
the same requests each time, in bounded time (``STEPWELL_FUZZ_SCALE=8`` makes eight times as
many, for a longer hunt; ``STEPWELL_FUZZ_SRC=<checkout>/src`` fuzzes another checkout's server).

After the fuzzing: the seeded events and runs read back exactly as before (``metadata.
fetched_at`` aside), everything stored reads back below 500 (REST and GraphQL), a new event
still runs to completion, both servers stop on SIGTERM and start again on the same database,
and their stderr holds no traceback that no 5xx explains. The last test prints the counts
(requests, answers by status class), the slowest requests and every distinct finding, and
writes them all to ``fuzz-report.json`` beside the servers' directories.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route

from stepwell.server.app import create_app
from stepwell.server.config import ServerConfig
from stepwell.server.runtime import ServerRuntime
from tests.e2e.fuzz import fuzz_app
from tests.e2e.fuzz import strategies as fz
from tests.e2e.harness import LOOPBACK, free_port, wait_until

ROOT = Path(__file__).resolve().parents[3]
SERVER_SRC = Path(os.environ.get("STEPWELL_FUZZ_SRC") or ROOT / "src")
"""The stepwell the servers run: this checkout, or another one's ``src`` (say, an older commit's,
to see what the fuzzing finds there)."""
APP_SPEC = "tests.e2e.fuzz.fuzz_app:app"
SERVE_PATH = "/api/inngest/"
SIGNING_KEY = "5ac0ffee" * 8
EVENT_KEY = "fuzz-event-key"
BEARER = b"Bearer " + hashlib.sha256(bytes.fromhex(SIGNING_KEY)).hexdigest().encode("ascii")
"""What an SDK sends: the SHA-256 of the hex-decoded signing key (protocol.md §6.3)."""

KINDS: tuple[Literal["dev", "start"], ...] = ("start", "dev")
STARTUP_TIMEOUT = 60.0
RUN_TIMEOUT = 30.0
REQUEST_TIMEOUT = 15.0
TRACEBACK_WAIT = 3.0

RAW_EXAMPLES = 40
SIGNATURE_EXAMPLES = 40
EVENTS_AFTER_REGISTRATION = 30
RICH_BODIES = ("/fn/register", "/v0/gql", "/e/{key}")  # more fields: more examples
SWEEP_LIMIT = 200  # events and runs read back one by one after the fuzzing, per server


SCALE = float(os.environ.get("STEPWELL_FUZZ_SCALE") or 1)
"""More requests for a longer hunt outside CI: every example count is multiplied by it."""


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=max(1, round(examples * SCALE)),
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every request is kept
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


# --------------------------------------------------------------------------------------------
# The routes, from the router of an app that is built and never started


def _find_starlette(app: object, depth: int = 0) -> Starlette:
    """The Starlette app inside ``create_app``'s middleware (each layer keeps the next)."""
    if isinstance(app, Starlette):
        return app
    assert depth < 10, "no Starlette app found inside create_app's answer"
    for value in vars(app).values():
        if callable(value) and not isinstance(value, type):
            try:
                return _find_starlette(value, depth + 1)
            except AssertionError:
                continue
    raise AssertionError(f"no Starlette app inside {app!r}")


def server_routes() -> tuple[fz.RouteInfo, ...]:
    runtime = ServerRuntime(ServerConfig(dev=True, database="sqlite://:memory:", discovery=False))
    starlette = _find_starlette(create_app(runtime))
    methods: dict[str, list[str]] = {}
    params: dict[str, tuple[str, ...]] = {}
    for route in starlette.routes:
        assert isinstance(route, Route), f"a route of an unexpected kind: {route!r}"
        found = methods.setdefault(route.path, [])
        found += sorted(m for m in route.methods or ("GET",) if m not in found)
        params[route.path] = tuple(route.param_convertors)
    return tuple(fz.RouteInfo(path, tuple(methods[path]), params[path]) for path in methods)


ROUTES = server_routes()


# --------------------------------------------------------------------------------------------
# The servers


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INNGEST_", "STEPWELL_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(SERVER_SRC), str(ROOT)])
    env["STEPWELL_CONNECT_PORT"] = "0"  # the gateway on any free port, not port + 1
    return env


@dataclasses.dataclass
class Seeded:
    """What was sent before the fuzzing, and the exact JSON it read back as."""

    events: dict[str, object] = dataclasses.field(default_factory=dict)  # id -> GET JSON
    runs: dict[str, object] = dataclasses.field(default_factory=dict)
    pristine_events: list[str] = dataclasses.field(default_factory=list)  # never fuzzed
    pristine_runs: list[str] = dataclasses.field(default_factory=list)
    target_events: list[str] = dataclasses.field(default_factory=list)  # fuzz input may name
    target_runs: list[str] = dataclasses.field(default_factory=list)
    waiting_runs: list[str] = dataclasses.field(default_factory=list)  # not compared: may end


@dataclasses.dataclass
class Server:
    kind: Literal["dev", "start"]
    workdir: Path
    port: int = dataclasses.field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    seeded: Seeded = dataclasses.field(default_factory=Seeded)
    client: httpx.Client = dataclasses.field(init=False)
    stderr_paths: list[Path] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.url, timeout=REQUEST_TIMEOUT, headers=self.auth_headers
        )

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def database(self) -> str:
        return f"sqlite:///{self.workdir / 'x.db'}"

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": BEARER.decode()} if self.kind == "start" else {}

    @property
    def event_path(self) -> str:
        return f"/e/{EVENT_KEY}"

    def argv(self) -> list[str]:
        common = ["--database", self.database, "--port", str(self.port), "--no-discovery"]
        common += ["--app", APP_SPEC]
        if self.kind == "start":
            keys = ["--signing-key", SIGNING_KEY, "--event-key", EVENT_KEY]
            return [sys.executable, "-m", "stepwell", "start", *keys, *common]
        return [sys.executable, "-m", "stepwell", "dev", *common]

    @property
    def stderr_path(self) -> Path:
        return self.stderr_paths[-1]

    def launch(self) -> None:
        self.starts += 1
        stderr_path = self.workdir / f"stderr-{self.starts}.log"
        self.stderr_paths.append(stderr_path)
        with (
            (self.workdir / f"stdout-{self.starts}.log").open("wb") as out,
            stderr_path.open("wb") as err,
        ):
            self.popen = subprocess.Popen(
                self.argv(),
                cwd=self.workdir,
                env=_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        wait_until(self._ready, timeout=STARTUP_TIMEOUT, what=f"{self} ready", context=self.tail)

    def _ready(self) -> bool:
        self.check_alive()
        try:
            health = self.client.get("/health")
            synced = self.client.get(f"/v1/apps/{fuzz_app.APP_ID}/functions")
        except httpx.TransportError:
            return False
        return health.status_code == 200 and synced.status_code == 200

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive:
            code = self.popen.returncode if self.popen is not None else None
            raise AssertionError(f"{self} is not running (exit code {code})\n{self.tail()}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited after ``timeout`` s; the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
                raise AssertionError(f"{self} did not stop within {timeout}s of SIGTERM") from None
        return self.popen.returncode

    def ensure_running(self) -> None:
        """Start the server again if a request killed it, so one crash masks nothing else."""
        if not self.alive:
            self.launch()

    def stderr_size(self) -> int:
        try:
            return self.stderr_path.stat().st_size
        except OSError:
            return 0

    def stderr_since(self, offset: int) -> str:
        with self.stderr_path.open("rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def tail(self, chars: int = 4000) -> str:
        text = self.stderr_since(max(0, self.stderr_size() - chars)) if self.stderr_paths else ""
        return f"--- {self} stderr ({self.stderr_path if self.stderr_paths else '-'}):\n{text}"

    def __str__(self) -> str:
        return f"stepwell {self.kind} on port {self.port}"

    # -- seeding and reading back -------------------------------------------------------------

    def send_event(self, name: str, data: dict[str, object]) -> str:
        response = self.client.post(self.event_path, json={"name": name, "data": data})
        assert response.status_code == 200, response.text
        [event_id] = response.json()["ids"]
        assert isinstance(event_id, str), response.text
        return event_id

    def read(self, path: str) -> object:
        """The JSON of a GET, without ``metadata.fetched_at`` (the one field that moves)."""
        response = self.client.get(path)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
            body["metadata"].pop("fetched_at", None)
        result: object = body
        return result

    def wait_for_run(self, event_id: str) -> str:
        """The id of the one run of the fuzz app's function for ``event_id``, once it completed."""

        def completed() -> str | None:
            self.check_alive()
            runs = self.client.get(f"/v1/events/{event_id}/runs").json()["data"]
            ours = [r for r in runs if r["function_slug"] == fuzz_app.FUNCTION_SLUG]
            if len(ours) == 1 and ours[0]["status"] == "Completed":
                run_id = ours[0]["run_id"]
                assert isinstance(run_id, str)
                return run_id
            assert all(r["status"] in ("Queued", "Running", "Completed") for r in ours), runs
            return None

        return wait_until(
            completed, timeout=RUN_TIMEOUT, what=f"the run of {event_id} on {self}", interval=0.05
        )

    def seed(self) -> None:
        sent = [self.send_event(fuzz_app.EVENT, {"n": n, "seed": True}) for n in range(5)]
        quiet = self.send_event("fuzz/quiet", {"no": "function"})
        for index, event_id in enumerate(sent):
            run_id = self.wait_for_run(event_id)
            self.seeded.events[event_id] = self.read(f"/v1/events/{event_id}")
            self.seeded.runs[run_id] = self.read(f"/v1/runs/{run_id}")
            pristine = index < 3
            (self.seeded.pristine_events if pristine else self.seeded.target_events).append(
                event_id
            )
            (self.seeded.pristine_runs if pristine else self.seeded.target_runs).append(run_id)
        self.seeded.events[quiet] = self.read(f"/v1/events/{quiet}")
        self.seeded.pristine_events.append(quiet)
        for n in range(3):
            waiting = self.send_event(fuzz_app.WAIT_EVENT, {"key": f"seed-{n}", "n": n})
            self.seeded.waiting_runs.append(self.wait_for_waiting_run(waiting))

    def wait_for_waiting_run(self, event_id: str) -> str:
        """The run of ``wait`` for ``event_id``, once the server has stored its wait."""

        def waiting() -> str | None:
            self.check_alive()
            runs = self.client.get(f"/v1/events/{event_id}/runs").json()["data"]
            ours = [r for r in runs if r["function_slug"] == fuzz_app.WAIT_SLUG]
            if len(ours) != 1:
                return None
            run_id = ours[0]["run_id"]
            assert isinstance(run_id, str)
            memo = self.client.get(f"/v0/runs/{run_id}/actions")
            return run_id if ours[0]["status"] == "Running" and memo.status_code == 200 else None

        return wait_until(
            waiting, timeout=RUN_TIMEOUT, what=f"the wait of {event_id} on {self}", interval=0.05
        )

    def changed_reads(self) -> list[str]:
        """Every seeded event and run that does not read back exactly as it did."""
        changed: list[str] = []
        reads = [(f"/v1/events/{i}", v) for i, v in self.seeded.events.items()]
        reads += [(f"/v1/runs/{i}", v) for i, v in self.seeded.runs.items()]
        for path, before in reads:
            try:
                now = self.read(path)
            except AssertionError as exc:
                changed.append(f"{path}: {exc}")
                continue
            if now != before:
                changed.append(f"{path}: was {before!r}, now {now!r}")
        return changed

    def target(self) -> fz.Target:
        return fz.Target(
            kind=self.kind,
            event_key=EVENT_KEY,
            authorization=BEARER if self.kind == "start" else None,
            signing_key=SIGNING_KEY if self.kind == "start" else None,
            event_ids=tuple(self.seeded.target_events),
            run_ids=(*self.seeded.target_runs, *self.seeded.waiting_runs),
            function_slugs=(fuzz_app.FUNCTION_SLUG, fuzz_app.WAIT_SLUG),
            idle_slug=fuzz_app.IDLE_SLUG,
            protected_app=fuzz_app.APP_ID,
        )


# --------------------------------------------------------------------------------------------
# Sending, checking, recording


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (the error says why)
    body: bytes
    error: str = ""


def send_httpx(server: Server, request: fz.FuzzRequest) -> Answer:
    url = httpx.URL(scheme="http", host=LOOPBACK, port=server.port, raw_path=request.target)
    outgoing = httpx.Request(
        request.method, url, headers=list(request.headers), content=request.body
    )
    try:
        response = server.client.send(outgoing)
    except httpx.LocalProtocolError:
        raise  # the client refused what the strategies built: a bug of theirs, not a finding
    except httpx.TransportError as exc:
        return Answer(None, b"", f"{type(exc).__name__}: {exc}")
    return Answer(response.status_code, response.content)


def send_raw(server: Server, request: fz.FuzzRequest) -> Answer:
    """One request written by hand on a socket: a Content-Length that lies, raw path bytes."""
    lines = [request.method.encode("ascii") + b" " + request.target + b" HTTP/1.1"]
    lines += [f"Host: {LOOPBACK}:{server.port}".encode("ascii"), b"Connection: close"]
    lines += [name + b": " + value for name, value in request.headers]
    if request.declared_length is not None:
        lines.append(b"Content-Length: " + str(request.declared_length).encode("ascii"))
    data = b"\r\n".join(lines) + b"\r\n\r\n" + request.body
    # A body shorter than declared: the server must not wait forever, so say it ended.
    ends_early = request.declared_length is not None and request.declared_length > len(request.body)
    received = bytearray()
    deadline = time.monotonic() + REQUEST_TIMEOUT
    try:
        with socket.create_connection((LOOPBACK, server.port), timeout=REQUEST_TIMEOUT) as sock:
            try:
                sock.sendall(data)
                if ends_early:
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server may answer and close before reading everything: read on
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
    except OSError as exc:
        if not received:
            return Answer(None, b"", f"{type(exc).__name__}: {exc}")
    match = re.match(rb"HTTP/1\.[01] (\d{3})", bytes(received))
    if match is None:
        return Answer(None, b"", f"no HTTP answer ({bytes(received[:80])!r})")
    _, _, body = bytes(received).partition(b"\r\n\r\n")
    return Answer(int(match.group(1)), body)


_INTERNAL = re.compile(
    r"object has no attribute|object is not (subscriptable|iterable|callable)"
    r"|unsupported operand type|can only concatenate|int too large|Python int"
    r"|codec can't (en|de)code|invalid literal for int\(\)|maximum recursion depth"
    r"|index out of range|unhashable type|is not JSON serializable|Traceback \(most recent"
    r"|Exceeds the limit \(\d+ digits\)|argument of type|positional argument"
    r"|sqlite3|OperationalError|IntegrityError|psycopg|RecursionError|AttributeError"
    r"|Error binding parameter|type .\w+. is not supported|ProgrammingError"
    r"|TypeError|KeyError|OverflowError|UnicodeEncodeError|ZeroDivisionError"
)


def _messages(body: object, *, with_path: bool = False) -> list[str]:
    """The error messages of a JSON answer: REST's ``error``, GraphQL's ``errors[].message``
    (after the field it came from, ``with_path``)."""
    if not isinstance(body, dict):
        return []
    found = [body["error"]] if isinstance(body.get("error"), str) else []
    errors = body.get("errors")
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            path = error.get("path")
            where = ".".join(map(str, path)) if with_path and isinstance(path, list) else ""
            found.append(f"{where}: {error['message']}" if where else error["message"])
    return found


def error_messages(body: bytes, *, with_path: bool = False) -> list[str]:
    try:
        return _messages(json.loads(body), with_path=with_path)
    except ValueError:
        return []


def leaked_internal_error(body: bytes) -> str | None:
    """A message that reads like a Python exception the server did not mean to answer with:
    a GraphQL resolver that raised comes back as a 200 with its message in ``errors``."""
    found = error_messages(body, with_path=True)
    return next((m for m in found if _INTERNAL.search(m)), None)


def status_class(answer: Answer) -> str:
    return "no answer" if answer.status is None else f"{answer.status // 100}xx"


_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<fn>.+)$')


@dataclasses.dataclass(frozen=True)
class Traceback:
    exception: str  # the exception's line: "ValueError: invalid literal ..."
    frame: str  # the innermost frame in stepwell: "stepwell/server/runs_api.py:74 in _int"

    @property
    def kind(self) -> str:
        return self.exception.split(":", 1)[0]


_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")


def parse_tracebacks(text: str) -> list[Traceback]:
    """Each traceback in a stderr text; chained ones as one (the exception that got out, and
    the one it came from)."""
    lines = text.splitlines()
    groups: list[list[tuple[str, str]]] = []  # per traceback: (exception, frame) per link
    chained = False
    index = 0
    while index < len(lines):
        stripped = lines[index].lstrip(" |+")
        index += 1
        if stripped.startswith(_CHAINED):
            chained = True
            continue
        if not stripped.startswith("Traceback (most recent call last)"):
            continue
        frame, exception = "", "(no exception line)"
        while index < len(lines):
            line = lines[index]
            hit = _FRAME.match(line.lstrip(" |"))
            if hit is not None:
                path = hit["file"]
                if "/stepwell/" in path and "site-packages" not in path:
                    short = path[path.rindex("/stepwell/") + 1 :]
                    frame = f"{short}:{hit['line']} in {hit['fn']}"
            elif line.strip() and not line.startswith((" ", "\t", "|", "+")):
                exception = line.strip()
                break
            index += 1
        if chained and groups:
            groups[-1].append((exception, frame))
        else:
            groups.append([(exception, frame)])
        chained = False
    found: list[Traceback] = []
    for group in groups:
        last, first = group[-1][0], group[0][0]
        exception = last if first == last else f"{last} (from {first})"
        frame = next((f for _, f in reversed(group) if f), "(no stepwell frame)")
        found.append(Traceback(exception[:300], frame))
    return found


@dataclasses.dataclass
class Finding:
    servers: set[str]
    route: str
    method: str
    problem: str  # "status 500", "no answer", "crash", "empty 4xx body"
    request: str
    response: str
    traceback: Traceback | None
    count: int = 1

    def key(self) -> tuple[str, str, str, str]:
        """What makes two findings the same: the route, the problem (its wording, digits
        aside, when there is no traceback to tell them apart) and where the server failed."""
        if self.traceback is not None:
            return (
                self.route,
                self.problem.split(" ")[0],
                self.traceback.kind,
                self.traceback.frame,
            )
        return (self.route, re.sub(r"\d+", "N", self.problem)[:100], "", "")

    def describe(self) -> str:
        tb = (
            f"\n    server: {self.traceback.exception}\n    at: {self.traceback.frame}"
            if self.traceback
            else ""
        )
        return (
            f"[{'/'.join(sorted(self.servers))}] {self.method} {self.route}: {self.problem} "
            f"(x{self.count})\n    request: {self.request}\n    answer: {self.response}{tb}"
        )


@dataclasses.dataclass
class Recorder:
    """Counts every request and answer; keeps one finding per distinct problem."""

    requests: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    classes: collections.Counter[tuple[str, str]] = dataclasses.field(
        default_factory=collections.Counter
    )
    non_json_4xx: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    by_route: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    messages: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    findings: dict[tuple[str, str, str, str], Finding] = dataclasses.field(default_factory=dict)
    tracebacks_seen: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    started: float = dataclasses.field(default_factory=time.monotonic)
    slowest: list[tuple[float, str]] = dataclasses.field(default_factory=list)
    routes_fuzzed: set[tuple[str, str]] = dataclasses.field(default_factory=set)

    def timed(self, seconds: float, server: str, request: fz.FuzzRequest, status: str) -> None:
        """Keep the ten slowest requests (a slow answer to a small request is worth a look)."""
        self.slowest.append((seconds, f"[{server}] {status}: {request.describe(120)}"))
        self.slowest.sort(key=lambda item: -item[0])
        del self.slowest[10:]

    def record(self, finding: Finding) -> Finding:
        if finding.traceback is not None:
            self.tracebacks_seen.add((finding.traceback.kind, finding.traceback.frame))
        known = self.findings.get(finding.key())
        if known is None:
            self.findings[finding.key()] = finding
            return finding
        known.count += 1
        known.servers |= finding.servers
        return known

    def total(self) -> int:
        return sum(self.requests.values())

    def report(self) -> dict[str, Any]:
        by_class: dict[str, dict[str, int]] = {}
        for (kind, cls), count in sorted(self.classes.items()):
            by_class.setdefault(kind, {})[cls] = count
        return {
            "seconds": round(time.monotonic() - self.started, 1),
            "requests": dict(self.requests),
            "total_requests": self.total(),
            "answers_by_status_class": by_class,
            "non_json_4xx_by_route": dict(self.non_json_4xx),
            "answers_by_route": dict(sorted(self.by_route.items())),
            "error_messages": dict(sorted(self.messages.items())[:2000]),
            "findings": [f.describe() for f in self.findings.values()],
            "slowest_requests": [f"{t:.2f}s {what}" for t, what in self.slowest],
        }


RECORDER = Recorder()


def check(server: Server, request: fz.FuzzRequest) -> list[Finding]:
    """Send one request; the findings it makes (none when every property holds)."""
    return exchange(server, request)[1]


def exchange(server: Server, request: fz.FuzzRequest) -> tuple[Answer, list[Finding]]:
    """Send one request and check every property of its answer: the answer, the findings."""
    server.check_alive()
    offset = server.stderr_size()
    began = time.monotonic()
    answer = (
        send_raw(server, request) if request.transport == "raw" else send_httpx(server, request)
    )
    RECORDER.timed(time.monotonic() - began, server.kind, request, status_class(answer))
    RECORDER.requests[server.kind] += 1
    RECORDER.classes[(server.kind, status_class(answer))] += 1
    RECORDER.by_route[f"{server.kind} {request.route} {status_class(answer)}"] += 1
    problems: list[str] = []
    if not server.alive:
        problems.append(f"crash (exit code {server.popen.returncode if server.popen else None})")
    if answer.status is None:
        # A body cut short of its Content-Length may go unanswered: the client said it ended.
        ended = request.declared_length is not None and request.declared_length > len(request.body)
        if not ended:
            problems.append(f"no answer ({answer.error[:200]})")
    elif answer.status >= 500:
        problems.append(f"status {answer.status}")
    elif 400 <= answer.status < 500:
        if request.method != "HEAD" and not answer.body.strip():
            problems.append(f"empty {answer.status} body")
        else:
            try:
                json.loads(answer.body)
            except ValueError:
                RECORDER.non_json_4xx[f"{answer.status} {request.route}"] += 1
    for message in error_messages(answer.body)[:3]:
        RECORDER.messages[f"{answer.status} {request.route}: {message[:140]}"] += 1
    if answer.status == 200 and request.route == "/v0/gql":
        leaked = leaked_internal_error(answer.body)
        if leaked:
            problems.append(f"a resolver raised (200 with errors): {leaked[:160]}")
    if not problems:
        return answer, []
    traceback: Traceback | None = None
    if answer.status is None or answer.status >= 500 or not server.alive:

        def written() -> list[Traceback] | None:
            return parse_tracebacks(server.stderr_since(offset)) or None

        try:
            traceback = wait_until(
                written, timeout=TRACEBACK_WAIT, what="a traceback", interval=0.02
            )[-1]
        except AssertionError:
            traceback = None
    shown = answer.body[:300].decode("utf-8", "replace") if answer.status is not None else ""
    return answer, [
        RECORDER.record(
            Finding(
                servers={server.kind},
                route=request.route,
                method=request.method,
                problem=problem,
                request=request.describe(),
                response=f"{answer.status} {shown}" if answer.status is not None else answer.error,
                traceback=traceback,
            )
        )
        for problem in problems
    ]


def fuzz(
    server: Server, strategy: st.SearchStrategy[fz.FuzzRequest], examples: int
) -> list[Finding]:
    """Run ``examples`` drawn requests against ``server``; the distinct findings they made."""
    server.ensure_running()
    made: dict[tuple[str, str, str, str], Finding] = {}

    @fuzz_settings(examples)
    @given(strategy)
    def one(request: fz.FuzzRequest) -> None:
        for finding in check(server, request):
            made[finding.key()] = finding
        if not server.alive:
            server.launch()  # start it again (same database), so the rest is still fuzzed

    one()
    return list(made.values())


def fail_on(findings: list[Finding], server: Server) -> None:
    if findings:
        listing = "\n".join(f.describe() for f in findings)
        pytest.fail(f"{len(findings)} distinct problem(s) on {server}:\n{listing}", pytrace=False)


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    started: dict[str, Server] = {
        kind: Server(kind, tmp_path_factory.mktemp(f"fuzz-{kind}")) for kind in KINDS
    }
    try:
        for server in started.values():
            server.launch()
        for server in started.values():
            server.seed()
        yield started
    finally:
        for server in started.values():
            try:
                server.stop()
            finally:
                server.client.close()


# --------------------------------------------------------------------------------------------
# The fuzzing


def examples_by_focus(route: fz.RouteInfo) -> dict[fz.Focus, int]:
    """How many requests of each kind a route gets: mostly hostile fields where it reads a
    JSON body, else mostly hostile path parameters and headers."""
    if fz.route_body(route.path, TARGET_SHAPE) is not None:
        body = 40 if route.path in RICH_BODIES else 24
        weights: dict[fz.Focus, int] = {"body": body, "raw-body": 8, "path": 6, "query": 3}
        weights |= {"headers": 6, "method": 2, "all": 3}
    else:
        weights = {"raw-body": 3, "path": 12, "query": 6, "headers": 10, "method": 3, "all": 4}
    if not route.params:
        weights["query"] += weights.pop("path") // 2
        weights["headers"] += weights["query"] // 2
    return weights


TARGET_SHAPE = fz.Target(
    kind="dev",
    event_key=EVENT_KEY,
    authorization=None,
    signing_key=None,
    event_ids=(),
    run_ids=(),
    function_slugs=(fuzz_app.FUNCTION_SLUG,),
    idle_slug=fuzz_app.IDLE_SLUG,
    protected_app=fuzz_app.APP_ID,
)
"""Enough of a target to ask the strategies which routes read a body."""


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.path)
@pytest.mark.parametrize("kind", KINDS)
def test_route_answers_hostile_requests_below_500(
    servers: dict[str, Server], kind: str, route: fz.RouteInfo
) -> None:
    server = servers[kind]
    target = server.target()
    findings: dict[tuple[str, str, str, str], Finding] = {}
    for focus, examples in examples_by_focus(route).items():
        for finding in fuzz(server, fz.requests_for(route, target, focus), examples):
            findings[finding.key()] = finding
    RECORDER.routes_fuzzed.add((kind, route.path))
    fail_on(list(findings.values()), server)


@pytest.mark.parametrize("kind", KINDS)
def test_named_hostile_inputs_answer_below_500(servers: dict[str, Server], kind: str) -> None:
    """Each hostile input the fuzzing is meant to cover, sent once whatever hypothesis draws."""
    server = servers[kind]
    server.ensure_running()
    findings: dict[tuple[str, str, str, str], Finding] = {}
    for request in fz.named_requests(server.target()):
        findings.update((f.key(), f) for f in check(server, request))
        server.ensure_running()
    fail_on(list(findings.values()), server)


@pytest.mark.parametrize("kind", KINDS)
def test_every_graphql_variable_of_the_wrong_type(servers: dict[str, Server], kind: str) -> None:
    """Each variable of each GraphQL operation, one at a time, of each wrong type: refused
    (400, or an error naming it), never a resolver that raised on what a scalar let through."""
    server = servers[kind]
    server.ensure_running()
    findings: dict[tuple[str, str, str, str], Finding] = {}
    for request in fz.gql_matrix(server.target()):
        findings.update((f.key(), f) for f in check(server, request))
        server.ensure_running()
    fail_on(list(findings.values()), server)


@pytest.mark.parametrize("kind", KINDS)
def test_lying_content_length_and_raw_targets(servers: dict[str, Server], kind: str) -> None:
    server = servers[kind]
    fail_on(fuzz(server, fz.raw_requests(ROUTES, server.target()), RAW_EXAMPLES), server)


def test_served_app_refuses_junk_signatures_below_500(servers: dict[str, Server]) -> None:
    """In production the served app checks ``X-Inngest-Signature``: junk is refused, not a 500."""
    server = servers["start"]
    strategy = fz.signature_requests(server.target(), SERVE_PATH)
    fail_on(fuzz(server, strategy, SIGNATURE_EXAMPLES), server)


# --------------------------------------------------------------------------------------------
# After the fuzzing


@pytest.mark.parametrize("kind", KINDS)
def test_events_for_the_functions_registered_by_the_fuzzing(
    servers: dict[str, Server], kind: str
) -> None:
    """Events for the functions the fuzzing registered (hostile flow control, expressions,
    crons, URLs): accepted or refused, never a 500; their runs are what the stderr check and
    the read-back sweep look at."""
    server = servers[kind]
    [route] = [r for r in ROUTES if r.path == "/e/{key}"]
    strategy = fz.requests_for(route, server.target(), "body")
    fail_on(fuzz(server, strategy, EVENTS_AFTER_REGISTRATION), server)


@pytest.mark.parametrize("kind", KINDS)
def test_seeded_events_and_runs_read_back_unchanged(servers: dict[str, Server], kind: str) -> None:
    server = servers[kind]
    server.ensure_running()
    changed = server.changed_reads()
    assert not changed, "\n".join(changed)


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_event_still_runs_to_completion(servers: dict[str, Server], kind: str) -> None:
    server = servers[kind]
    server.ensure_running()
    event_id = server.send_event(fuzz_app.EVENT, {"n": 21})
    run_id = server.wait_for_run(event_id)
    run = server.read(f"/v1/runs/{run_id}")
    assert isinstance(run, dict)
    assert run["data"]["output"] == {"n": 21, "doubled": 42}


def read_back(server: Server) -> list[Finding]:
    """Read back what the fuzzing got stored: every page of events, then each event, its runs
    and each run (up to ``SWEEP_LIMIT``), over REST and GraphQL. All of it answers below 500."""
    made: dict[tuple[str, str, str, str], Finding] = {}
    target = server.target()

    def ask(route: str, path: str, body: bytes = b"") -> object:
        method = "POST" if body else "GET"
        request = fz.FuzzRequest(
            method, route, path.encode("ascii"), fz.valid_headers(target), body, "read back"
        )
        answer, findings = exchange(server, request)
        made.update((f.key(), f) for f in findings)
        if answer.status != 200:
            return None
        try:
            parsed: object = json.loads(answer.body)
        except ValueError:
            return None
        return parsed

    def gql(query: str, **variables: object) -> None:
        body = json.dumps({"query": query, "variables": variables}).encode()
        ask("/v0/gql", "/v0/gql", body)

    event_ids: list[str] = []
    cursor = ""
    for _ in range(10):
        page = ask("/v1/events", f"/v1/events?limit=1000{cursor}")
        found = page.get("data") if isinstance(page, dict) else None
        if not isinstance(found, list) or not found:
            break
        event_ids += [e["internal_id"] for e in found if isinstance(e, dict)]
        cursor = f"&cursor={fz.quote(event_ids[-1])}"
    run_ids: list[str] = []
    for event_id in event_ids[:SWEEP_LIMIT]:
        ask("/v1/events/{event_id}", f"/v1/events/{fz.quote(event_id)}")
        runs = ask("/v1/events/{event_id}/runs", f"/v1/events/{fz.quote(event_id)}/runs")
        listed = runs.get("data") if isinstance(runs, dict) else None
        run_ids += [r["run_id"] for r in listed or [] if isinstance(r, dict)]
    for run_id in run_ids[:SWEEP_LIMIT]:
        ask("/v1/runs/{run_id}", f"/v1/runs/{fz.quote(run_id)}")
    for run_id in run_ids[: SWEEP_LIMIT // 4]:
        gql(
            "query($id: String!) { run(runID: $id) { id status output "
            "trace { name status outputID childrenSpans { name outputID } } } "
            "runTrigger(runID: $id) { eventName payloads } }",
            id=run_id,
        )
    for event_id in event_ids[: SWEEP_LIMIT // 4]:
        gql(
            "query($id: ID!, $u: ULID!) { event(query: {eventId: $id}) "
            "{ name payload raw functionRuns { status output } } eventV2(id: $u) { raw } }",
            id=event_id,
            u=event_id,
        )
    gql("{ stream(query: {limit: 1000, includeInternalEvents: true}) { id trigger runs { id } } }")
    gql(
        '{ runs(first: 1000, filter: {from: "2000-01-01T00:00:00Z"}) '
        "{ edges { node { output } } } }"
    )
    gql("{ events(query: {}) { id name payload raw } }")
    gql("{ apps { name error functions { slug config triggers { value condition } } } }")
    return list(made.values())


@pytest.mark.parametrize("kind", KINDS)
def test_everything_stored_reads_back_below_500(servers: dict[str, Server], kind: str) -> None:
    server = servers[kind]
    server.ensure_running()
    fail_on(read_back(server), server)


@pytest.mark.parametrize("kind", KINDS)
def test_stops_on_sigterm_and_starts_again_on_the_same_database(
    servers: dict[str, Server], kind: str
) -> None:
    server = servers[kind]
    server.ensure_running()
    code = server.stop()
    # uvicorn shuts down gracefully, then re-raises SIGTERM: either is a clean exit.
    assert code in (0, -signal.SIGTERM), f"exit code {code}\n{server.tail()}"
    server.launch()
    assert server.client.get("/health").status_code == 200
    changed = server.changed_reads()
    assert not changed, "\n".join(changed)


def unexplained_tracebacks(server: Server) -> list[str]:
    """Tracebacks in the server's stderr (every start) that no 5xx finding accounts for:
    background work that failed, or a request that failed after its answer."""
    found: dict[tuple[str, str], set[str]] = {}
    for path in server.stderr_paths:
        for tb in parse_tracebacks(path.read_text("utf-8", "replace")):
            if (tb.kind, tb.frame) not in RECORDER.tracebacks_seen:
                found.setdefault((tb.exception, tb.frame), set()).add(path.name)
    return [
        f"[{server.kind}] {exception}\n    at: {frame} ({', '.join(sorted(files))})"
        for (exception, frame), files in sorted(found.items())
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_no_traceback_in_stderr_that_no_5xx_explains(servers: dict[str, Server], kind: str) -> None:
    found = unexplained_tracebacks(servers[kind])
    if found:
        pytest.fail(f"{len(found)} distinct traceback(s):\n" + "\n".join(found), pytrace=False)


def test_zz_report(servers: dict[str, Server], capsys: pytest.CaptureFixture[str]) -> None:
    """The figures of the run, printed (whatever the capture mode) and written to a file."""
    report = RECORDER.report()
    background = [line for server in servers.values() for line in unexplained_tracebacks(server)]
    report["tracebacks_without_a_5xx"] = background
    out = servers["dev"].workdir.parent / "fuzz-report.json"
    out.write_text(json.dumps(report, indent=2))
    lines = [
        f"fuzz: {report['total_requests']} requests in {report['seconds']} s "
        f"({report['requests']}); report in {out}",
        f"answers by status class: {report['answers_by_status_class']}",
        f"non-JSON 4xx by route: {report['non_json_4xx_by_route']}",
        "slowest requests:",
        *report["slowest_requests"][:5],
        f"{len(report['findings'])} distinct finding(s):",
        *report["findings"],
        f"{len(background)} traceback(s) in stderr without a 5xx:",
        *report["tracebacks_without_a_5xx"],
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    if len(RECORDER.routes_fuzzed) == len(ROUTES) * len(KINDS):  # the whole module ran
        assert report["total_requests"] >= 2000, "the fuzzing made too few requests to mean much"
