"""Hypothesis strategies for hostile requests to a Stepwell server.

Everything here builds a ``FuzzRequest``: a method, a raw request target (path and query,
already percent-encoded), raw header bytes and a raw body. Bodies are written by a small JSON
encoder of our own (``encode``) so that they can hold what no JSON library writes: ``NaN`` and
``Infinity`` literals, integers of thousands of digits, arrays nested 10,000 deep, lone
surrogates as ``\\ud800`` escapes, invalid UTF-8.

The strategies know each route's fields (``route_body``): an object is drawn with every field
good but a few (``obj`` and ``F``: a good and a hostile strategy per field), so that the handler
gets past its first checks to the field that is wrong. ``requests_for`` makes one part of a
request hostile (``Focus``: the JSON fields, the body bytes, a path parameter, the query
string, the headers, the method) and keeps the others valid; ``named_requests`` lists the
hostile inputs that must always be sent, whatever hypothesis draws.

The client must never choke on what is drawn: header values are bytes with no control
characters (``header_value``), targets are ASCII (``target_of``) and ``FuzzRequest.__post_init__``
checks both, so a request httpx or h11 would refuse is a bug here, not a skipped example.
What httpx cannot send at all (a ``Content-Length`` that lies, a literal ``..`` or NUL in the
path) is sent over a raw socket (``transport="raw"``).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, TypeAlias

from hypothesis import strategies as st

# --------------------------------------------------------------------------------------------
# What the strategies know of a server


@dataclasses.dataclass(frozen=True)
class RouteInfo:
    """One route of the server's router: its path template, methods and path parameters."""

    path: str
    methods: tuple[str, ...]
    params: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{'|'.join(self.methods)} {self.path}"


@dataclasses.dataclass(frozen=True)
class Target:
    """What the strategies may aim at on one server: its keys and the seeded ids to reuse."""

    kind: Literal["dev", "start"]
    event_key: str
    authorization: bytes | None  # a valid ``Authorization`` value (None: none needed)
    signing_key: str | None
    event_ids: tuple[str, ...]  # seeded events the fuzzer may name (never the pristine ones)
    run_ids: tuple[str, ...]
    function_slugs: tuple[str, ...]  # functions that exist
    idle_slug: str  # a function that exists and that no event triggers (for replays)
    protected_app: str  # the served app: never re-registered or deleted


@dataclasses.dataclass(frozen=True)
class FuzzRequest:
    method: str
    route: str  # the path template it aims at, for the findings
    target: bytes  # the raw request target: a percent-encoded path, then ``?query``
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    what: str  # a short note of what is hostile in it
    transport: Literal["httpx", "raw"] = "httpx"
    declared_length: int | None = None  # raw only: the Content-Length to declare

    def __post_init__(self) -> None:
        if self.transport == "httpx":
            self.target.decode("ascii")  # httpx takes an ASCII target only
            for name, value in self.headers:
                assert is_header_value(value), (name, value)
                assert name.lower() not in (b"content-length", b"transfer-encoding", b"host")

    def describe(self, limit: int = 300) -> str:
        body = self.body if len(self.body) <= limit else self.body[:limit] + b"..."
        headers = {
            n.decode("latin-1"): (v if len(v) <= 120 else v[:120] + b"...").decode("latin-1")
            for n, v in self.headers
            if n.lower() != b"content-type" or v != b"application/json"
        }
        target = self.target if len(self.target) <= 200 else self.target[:200] + b"..."
        lie = f" declared-length={self.declared_length}" if self.declared_length is not None else ""
        return (
            f"{self.method} {target.decode('latin-1')} [{self.what}] "
            f"headers={headers} body({len(self.body)} bytes)={body!r}{lie}"
        )


# --------------------------------------------------------------------------------------------
# JSON with what no encoder writes


@dataclasses.dataclass(frozen=True)
class Raw:
    """Bytes put into a JSON body as they are: ``NaN``, 5,000 digits, ``[[[[...]]]]``."""

    text: bytes

    def __repr__(self) -> str:
        shown = self.text if len(self.text) <= 40 else self.text[:40] + b"..."
        return f"Raw({shown!r}, {len(self.text)} bytes)"


Json: TypeAlias = "bool | int | float | str | Raw | list[Json] | dict[str, Json] | None"


def encode(value: Json) -> bytes:
    """JSON text for ``value``; strings are ASCII with ``\\uXXXX`` escapes, lone surrogates too."""
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return b"null"
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode("ascii")
    if isinstance(value, float):
        return json.dumps(value).encode("ascii")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True).encode("ascii")
    if isinstance(value, list):
        return b"[" + b",".join(encode(item) for item in value) + b"]"
    return b"{" + b",".join(encode(k) + b":" + encode(v) for k, v in value.items()) + b"}"


def deep(depth: int, shape: str) -> Raw:
    """A value nested ``depth`` levels deep."""
    if shape == "array":
        return Raw(b"[" * depth + b"]" * depth)
    if shape == "object":
        return Raw(b'{"a":' * depth + b"0" + b"}" * depth)
    return Raw(b'[{"a":' * (depth // 2) + b"null" + b"}]" * (depth // 2))


DEPTHS = st.one_of(st.integers(1000, 10_000), st.sampled_from([990, 1000, 1001, 2000, 10_000]))
DEEP = st.builds(deep, DEPTHS, st.sampled_from(["array", "object", "mixed"]))

HUGE_NUMBERS = st.sampled_from(
    [
        Raw(b"9223372036854775807"),
        Raw(b"9223372036854775808"),
        Raw(b"-9223372036854775809"),
        Raw(b"18446744073709551616"),
        Raw(b"1" + b"0" * 40),
        Raw(b"9" * 400),
        Raw(b"9" * 4300),
        Raw(b"9" * 4301),
        Raw(b"9" * 5000),
        Raw(b"-" + b"9" * 1000),
    ]
)
ODD_NUMBERS = st.sampled_from(
    [
        Raw(b"NaN"),
        Raw(b"Infinity"),
        Raw(b"-Infinity"),
        Raw(b"1e400"),
        Raw(b"-1e400"),
        Raw(b"1e-400"),
        Raw(b"-0"),
        Raw(b"0.0"),
        Raw(b"1E+2"),
        Raw(b"12345678901234567890.5"),
    ]
)
RAW_STRINGS = st.sampled_from(
    [
        Raw(b'"\\ud800"'),
        Raw(b'"\\udfff\\ud800"'),
        Raw(b'"a\\ud83db"'),
        Raw(b'"\\u0000"'),
        Raw(b'"\xff\xfe"'),  # invalid UTF-8
        Raw(b'"\xed\xa0\x80"'),  # a surrogate encoded as UTF-8: invalid
        Raw(b'"\xc0\xaf"'),  # an overlong encoding
    ]
)

SPECIAL_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "x\ud800y",
    "\ud83d",
    "..",
    "../..",
    "/",
    "%",
    "%00",
    "%ED%A0%80",
    "\u202e",
    "\ufeff",
    "\uffff",
    "𝕏",
    "é",
    "null",
    "true",
    "0",
    "-1",
    "²",
    "٣",
    "1e999",
    "NaN",
    "Infinity",
    "9" * 25,
    "9" * 5000,
    "x" * 300,
    "x" * 70_000,
    "'",
    '"',
    "\\",
    "{}",
    "[]",
    "<script>",
    "${{7*7}}",
    "' OR 1=1 --",
    "\n",
    "\r\n",
    "\t",
)

SURROGATES = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
WITH_SURROGATES = st.builds(
    lambda a, s, b: a + s + b, st.text(max_size=5), SURROGATES, st.text(max_size=5)
)
HOSTILE_TEXT: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(SPECIAL_STRINGS), st.text(max_size=20), SURROGATES, WITH_SURROGATES
)
"""Text for paths and headers (percent-encoded, or as UTF-8 bytes): lone surrogates included."""

SAFE_TEXT: st.SearchStrategy[str] = st.one_of(
    st.sampled_from([t for t in SPECIAL_STRINGS if not any(0xD800 <= ord(c) < 0xE000 for c in t)]),
    st.text(max_size=20),
)
"""Hostile text that is valid JSON text: what gets past the JSON layer to the handler."""

SMALL_JSON: st.SearchStrategy[Json] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        SAFE_TEXT,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(SAFE_TEXT, children, max_size=4)
    ),
    max_leaves=8,
)

WRONG_TYPE: st.SearchStrategy[Json] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, 2**31, 2**63 - 1, -(2**63), 1.5, -0.0, 1e300, -1e-300]),
    SAFE_TEXT,
    st.just([]),
    st.just({}),
    SMALL_JSON,
)
"""Valid JSON of the wrong type or value for a field: what the handler itself must refuse."""


@st.composite
def _wrong_json(draw: st.DrawFn) -> Json:
    value: Json = draw(
        st.one_of(
            HUGE_NUMBERS,
            ODD_NUMBERS,
            RAW_STRINGS,
            DEEP,
            SURROGATES,
            WITH_SURROGATES,
            st.integers(2**63, 2**70),
            st.integers(-(2**70), -(2**63) - 1),
        )
    )
    return value


WRONG_JSON: st.SearchStrategy[Json] = _wrong_json()
"""What the JSON layer should refuse: NaN, huge numbers, 10,000 levels, lone surrogates."""

WRONG: st.SearchStrategy[Json] = st.sampled_from([WRONG_TYPE] * 4 + [WRONG_JSON]).flatmap(
    lambda strategy: strategy
)
"""A value of any type for a field: what every known field gets instead of its own (a wrong
type four times in five, JSON the server should refuse outright the fifth)."""


@dataclasses.dataclass(frozen=True)
class F:
    """One field of a JSON object: values the server should take, and values it should refuse
    (or at least survive)."""

    good: st.SearchStrategy[Json]
    bad: st.SearchStrategy[Json] = WRONG
    optional: bool = False


def obj(spec: Mapping[str, F], *, max_bad: int = 2) -> st.SearchStrategy[Json]:
    """An object with every field of ``spec`` good except a few (none to ``max_bad``), the
    optional ones sometimes left out, and now and then an unknown extra field."""
    names = list(spec)

    @st.composite
    def build(draw: st.DrawFn) -> Json:
        bad = draw(st.sets(st.sampled_from(names), max_size=min(max_bad, len(names))))
        out: dict[str, Json] = {}
        for name, field in spec.items():
            if name in bad:
                out[name] = draw(field.bad)
            elif not field.optional or draw(st.booleans()):
                out[name] = draw(field.good)
        if draw(st.integers(0, 7)) == 7:
            out[draw(SAFE_TEXT)] = draw(WRONG)
        return out

    result: st.SearchStrategy[Json] = build()
    return result


def _json(value: object) -> Json:
    """Narrow a value hypothesis built from JSON parts back to ``Json`` for mypy."""
    assert value is None or isinstance(value, bool | int | float | str | Raw | list | dict)
    return value


def just(*values: Json) -> st.SearchStrategy[Json]:
    return st.sampled_from(values)


def lists(
    of: st.SearchStrategy[Json], min_size: int = 0, max_size: int = 3
) -> st.SearchStrategy[Json]:
    return st.lists(of, min_size=min_size, max_size=max_size).map(_json)


PLAIN_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12)
PLAIN_DATA: st.SearchStrategy[Json] = st.dictionaries(
    st.text("abcdefghij", min_size=1, max_size=5),
    st.one_of(st.integers(-(2**53), 2**53), PLAIN_TEXT, st.booleans(), st.none()),
    max_size=4,
).map(_json)
"""Event data an SDK would send: nothing hostile in it."""

NESTED_OK = st.builds(deep, st.sampled_from([50, 100, 120, 127, 128, 129, 130]), st.just("object"))
"""Nesting near the server's depth limit: kept or refused, never a 500."""

ODD_DATA: st.SearchStrategy[Json] = st.one_of(
    SMALL_JSON.map(lambda v: _json({"v": v})),
    NESTED_OK.map(lambda v: _json({"deep": v})),
    st.just(_json({"n": 2**53 + 1, "f": 1e308, "neg": -(2**63)})),
    st.just(_json({"s": "é𝕏\u202e\ufeff\x00"})),
    st.just(_json({"big": "x" * 100_000})),
    WRONG,
)

# --------------------------------------------------------------------------------------------
# Field values: good ones, and hostile ones


GOOD_TIMES = just("2026-01-01T00:00:00Z", "2030-06-01T12:00:00.123+02:00", 1_700_000_000_000)
BAD_TIMES: st.SearchStrategy[Json] = st.one_of(
    just(
        2**63,
        2**63 - 1,
        -(2**63) - 1,
        2**64,
        2**48,
        -1,
        0,
        253_402_300_800_000,
        1e300,
        -1e300,
        1.5,
        True,
        "9999-12-31T23:59:59.999Z",
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "0000-00-00",
        "2026-13-45",
        "2026-01-01T00:00:00+25:00",
        "2026-01-01T00:00:00+23:59",
        "2026-01-01T00:00:00-23:59",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "1700000000000",
        "9" * 25,
        "-" + "9" * 25,
        "²",
        "",
        " ",
    ),
    WRONG,
)

GOOD_EXPRESSIONS = just("event.data.n > 1", "event.data.n == 2", "has(event.data.n)", "true")
BAD_EXPRESSIONS: st.SearchStrategy[Json] = st.one_of(
    just(
        "event.data.",
        "event.data.n +",
        "size(event.data) > 0",
        "1/0 == 1",
        "int('x') == 1",
        "event.data.n + 'x' == 1",
        "[1,2,3].map(x, x*2) == [2]",
        "event.data.x.matches('(a+)+$')",
        "(" * 5000 + "1" + ")" * 5000,
        "(" * 200 + "1" + ")" * 200,
        "!" * 5000 + "true",
        " && ".join(["event.data.n == 1"] * 500),
        "\ud800 == 1",
        "event.data['\ud800'] == 1",
        "async.data.n == event.data.n",
        "event.data.n == 99999999999999999999999",
        "'x' * 99999999",
        "",
        " ",
    ),
    WRONG,
)

GOOD_CRONS = just("0 * * * *", "*/5 * * * *", "TZ=Europe/Paris 0 9 * * 1", "@daily")
BAD_CRONS: st.SearchStrategy[Json] = st.one_of(
    just(
        "0 0 30 2 *",
        "0 0 31 4 *",
        "0 0 29 2 1",
        "* * * * * * *",
        "61 * * * *",
        "*/0 * * * *",
        "1-0 * * * *",
        "@reboot",
        "TZ=Mars/Olympus * * * * *",
        "CRON_TZ=Europe/Paris 0 * * * *",
        "TZ=\ud800 * * * * *",
        "TZ=../../etc/passwd * * * * *",
        "9" * 5000 + " * * * *",
        "* * * * 8",
        "0 0 L * *",
        "0 0 ? * MON#6",
        "0 0 1 1 * 2099",
        "\ud800",
        "",
        " ",
    ),
    WRONG,
)

GOOD_DURATIONS = just("1s", "5m", "2h", "1d")
BAD_DURATIONS: st.SearchStrategy[Json] = st.one_of(
    just(
        "9999999999999999999h",
        "99999999999999999999999999ms",
        "1e9h",
        "-1s",
        "0s",
        "1.5s",
        "1y",
        "P1D",
        "1h30",
        "s",
        "\ud800",
        "²s",
        "٣s",
        "9" * 5000 + "s",
        "",
    ),
    WRONG,
)

# Where a registered function lives: loopback, on ports nothing listens on, or not a URL.
GOOD_URLS = just("http://127.0.0.1:9/api/inngest", "http://localhost:9/x")
BAD_URLS: st.SearchStrategy[Json] = st.one_of(
    just(
        "http://[::1]:9/",
        "http://127.0.0.1:0/",
        "http://127.0.0.1:99999/",
        "ftp://127.0.0.1:9/",
        "http://",
        "not a url",
        "http://\ud800:9/",
        "http://127.0.0.1:9/" + "x" * 5000,
        "http://127.0.0.1:9/?fnId=\x00",
    ),
    WRONG,
)

GOOD_NAMES = just("fuzz/echo", "fuzz/wake", "fuzz/wake", "fuzz/reg", "fuzz/other", "fuzz/wait")
BAD_NAMES: st.SearchStrategy[Json] = st.one_of(
    just(
        "inngest/function.invoked",
        "inngest/function.failed",
        "inngest/function.finished",
        "inngest/scheduled.timer",
        "x" * 256,
        "x" * 255,
    ),
    WRONG,
)


def step_ids() -> F:
    return F(
        just("double", "step", hashlib.sha1(b"double").hexdigest()), st.one_of(SAFE_TEXT, WRONG)
    )


def slugs(target: Target) -> F:
    return F(st.sampled_from(target.function_slugs).map(_json), st.one_of(SAFE_TEXT, WRONG))


def _not_ours(target: Target) -> Callable[[Json], Json]:
    def fix(name: Json) -> Json:
        if isinstance(name, str) and name.lower().replace("_", "") == target.protected_app:
            return name + "-x"
        return name

    return fix


# --------------------------------------------------------------------------------------------
# The routes' bodies


def event_object() -> st.SearchStrategy[Json]:
    return obj(
        {
            "name": F(GOOD_NAMES, BAD_NAMES),
            "data": F(
                st.one_of(
                    st.integers(-100, 100).map(lambda n: _json({"n": n})),
                    PLAIN_DATA,
                ),
                ODD_DATA,
                optional=True,
            ),
            "id": F(st.text("abcdef0123", min_size=1, max_size=12).map(_json), optional=True),
            "ts": F(st.integers(1_600_000_000_000, 1_900_000_000_000).map(_json), BAD_TIMES, True),
            "user": F(PLAIN_DATA, optional=True),
            "v": F(just("2024-01-01.1"), optional=True),
        }
    )


BIG_DATA = st.sampled_from([3 * 1024 * 1024 - 1000, 3 * 1024 * 1024 + 1]).map(
    lambda size: _json({"name": "fuzz/other", "data": {"blob": Raw(b'"' + b"x" * size + b'"')}})
)


def events_body() -> st.SearchStrategy[Json]:
    one = event_object()
    return st.one_of(
        one,
        lists(one, min_size=1, max_size=6),
        st.just(_json([])),
        st.just(_json([{"name": "fuzz/other"}] * 5001)),
        st.just(_json([{"name": "fuzz/other", "id": "same"}] * 3)),
        BIG_DATA,
    )


def invoke_body() -> st.SearchStrategy[Json]:
    return obj({"data": F(PLAIN_DATA, ODD_DATA, True), "user": F(PLAIN_DATA, optional=True)})


def rerun_body() -> st.SearchStrategy[Json]:
    ids = step_ids()
    return obj(
        {
            "from_step": F(ids.good, ids.bad, optional=True),
            "fromStep": F(ids.good, ids.bad, optional=True),
        }
    )


def cancellations_body(target: Target) -> st.SearchStrategy[Json]:
    return obj(
        {
            "function_id": slugs(target),
            "function_slug": F(slugs(target).good, slugs(target).bad, optional=True),
            "app_id": F(just(target.protected_app), optional=True),
            "if": F(GOOD_EXPRESSIONS, BAD_EXPRESSIONS, optional=True),
            "started_after": F(GOOD_TIMES, BAD_TIMES, optional=True),
            "started_before": F(GOOD_TIMES, BAD_TIMES, optional=True),
        }
    )


def replay_body() -> st.SearchStrategy[Json]:
    return obj(
        {
            "received_after": F(GOOD_TIMES, BAD_TIMES),
            "received_before": F(GOOD_TIMES, BAD_TIMES, optional=True),
        }
    )


def signal_body() -> st.SearchStrategy[Json]:
    return obj(
        {
            "signal": F(st.text("abcdef-", min_size=1, max_size=10).map(_json)),
            "data": F(PLAIN_DATA, ODD_DATA, optional=True),
        }
    )


OPCODES = just(
    *("StepRun", "Step", "StepError", "StepFailed", "Sleep", "WaitForEvent", "InvokeFunction"),
    *("AIGateway", "WaitForSignal", "RunComplete", "StepPlanned", "DeferAdd", "steprun"),
)


def checkpoint_body() -> st.SearchStrategy[Json]:
    op = obj(
        {
            "op": F(OPCODES, st.one_of(just("Nope", ""), WRONG)),
            "id": F(st.text("0123456789abcdef", min_size=40, max_size=40).map(_json)),
            "name": F(st.text(max_size=8).map(_json), optional=True),
            "displayName": F(st.text(max_size=8).map(_json), optional=True),
            "opts": F(just({}, {"timeout": "1s"}), optional=True),
            "data": F(PLAIN_DATA, ODD_DATA, optional=True),
            "error": F(just({"name": "Error", "message": "x"}), optional=True),
            "timing": F(just({"start": 1, "end": 2}), optional=True),
        }
    )
    return obj({"steps": F(lists(op, max_size=4))})


def trigger() -> st.SearchStrategy[Json]:
    return st.one_of(
        obj(
            {
                "event": F(just("fuzz/reg", "fuzz/reg-2"), BAD_NAMES),
                "expression": F(GOOD_EXPRESSIONS, BAD_EXPRESSIONS, optional=True),
            }
        ),
        obj(
            {
                "cron": F(GOOD_CRONS, BAD_CRONS),
                "jitter": F(GOOD_DURATIONS, BAD_DURATIONS, optional=True),
            }
        ),
        just({"event": "fuzz/reg", "cron": "0 * * * *"}, {}, None, "fuzz/reg"),
    )


def flow_control() -> dict[str, F]:
    """The flow-control keys of a function config: each optional, good or hostile."""
    limit = F(st.integers(1, 10).map(_json), st.one_of(HUGE_NUMBERS, just(0, -1, 2**63), WRONG))
    expression = F(just("event.data.n", "event.data.user"), BAD_EXPRESSIONS)
    period = F(GOOD_DURATIONS, BAD_DURATIONS)
    keyed = obj({"limit": limit, "period": period, "key": F(expression.good, expression.bad, True)})
    return {
        "concurrency": F(
            st.one_of(
                limit.good,
                lists(obj({"limit": limit, "key": expression, "scope": F(just("fn", "env"))})),
            ),
            optional=True,
        ),
        "throttle": F(st.one_of(keyed, lists(keyed, max_size=2)), optional=True),
        "rateLimit": F(keyed, optional=True),
        "debounce": F(
            obj({"period": period, "key": expression, "timeout": F(GOOD_DURATIONS, BAD_DURATIONS)}),
            optional=True,
        ),
        "batchEvents": F(
            obj({"maxSize": limit, "timeout": period, "key": expression, "if": expression}),
            optional=True,
        ),
        "idempotency": F(expression.good, expression.bad, optional=True),
        "singleton": F(obj({"mode": F(just("skip", "cancel")), "key": expression}), optional=True),
        "priority": F(obj({"run": F(just("event.data.n"), BAD_EXPRESSIONS)}), optional=True),
        "timeouts": F(obj({"start": period, "finish": period}), optional=True),
        "cancel": F(
            lists(
                obj(
                    {
                        "event": F(just("fuzz/reg"), BAD_NAMES),
                        "if": F(just("event.data.n == async.data.n"), BAD_EXPRESSIONS, True),
                        "timeout": F(GOOD_DURATIONS, BAD_DURATIONS, True),
                    }
                ),
                max_size=6,
            ),
            optional=True,
        ),
    }


def function_config() -> st.SearchStrategy[Json]:
    step = obj(
        {
            "id": F(just("step")),
            "name": F(just("step"), optional=True),
            "runtime": F(obj({"type": F(just("http")), "url": F(GOOD_URLS, BAD_URLS)})),
            "retries": F(obj({"attempts": F(st.integers(0, 5).map(_json))}), optional=True),
        }
    )
    return obj(
        {
            "id": F(just("fz-fn", "fz-fn-2", "fz-app-fn"), st.one_of(SAFE_TEXT, WRONG)),
            "name": F(PLAIN_TEXT.map(_json), optional=True),
            "triggers": F(lists(trigger(), min_size=1, max_size=3)),
            "steps": F(obj({"step": F(step)})),
            **flow_control(),
        },
        max_bad=2,
    )


def register_body(target: Target) -> st.SearchStrategy[Json]:
    return obj(
        {
            "appName": F(
                just("fz-app", "fz-other"), st.one_of(SAFE_TEXT, WRONG).map(_not_ours(target))
            ),
            "url": F(GOOD_URLS, BAD_URLS),
            "framework": F(just("fuzz"), optional=True),
            "sdk": F(just("fuzz:0.0.1"), optional=True),
            "v": F(just("0.1"), optional=True),
            "deployType": F(just("ping"), optional=True),
            "functions": F(lists(function_config(), min_size=1, max_size=3)),
        },
        max_bad=1,
    )


def ids_of(values: Sequence[str]) -> F:
    good = st.sampled_from(values).map(_json) if values else just("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    return F(good, st.one_of(SAFE_TEXT, WRONG))


GQL_OPERATIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "query Q($id: ID!) { event(query: {eventId: $id}) "
        "{ id name payload raw status totalRuns pendingRuns functionRuns { id status output } } }",
        (("id", "event_id"),),
    ),
    (
        "query Q($q: EventsQuery!) { events(query: $q) { id name createdAt payload } }",
        (("q", "events"),),
    ),
    (
        "query Q($id: ULID!) { eventV2(id: $id) { id name raw receivedAt runs { id } } }",
        (("id", "event_id"),),
    ),
    (
        "query Q($q: StreamQuery!) { stream(query: $q) "
        "{ id trigger type createdAt inBatch runs { id status } } }",
        (("q", "stream"),),
    ),
    (
        "query Q($q: FunctionRunQuery!) { functionRun(query: $q) "
        "{ id status output startedAt event { id } events { id } function { slug } } }",
        (("q", "function_run"),),
    ),
    (
        "query Q($id: String!) { run(runID: $id) { id status output queuedAt triggerIDs "
        "trace { name status outputID childrenSpans { name outputID stepOp } } } }",
        (("id", "run_id"),),
    ),
    (
        "query Q($f: RunsFilterV2!, $first: Int!, $after: String, $o: [RunsV2OrderBy!]!) "
        "{ runs(filter: $f, first: $first, after: $after, orderBy: $o) "
        "{ totalCount edges { cursor node { id status output } } pageInfo { endCursor } } }",
        (("f", "filter"), ("first", "first"), ("after", "after"), ("o", "order")),
    ),
    (
        "query Q($id: String!) { runTrigger(runID: $id) { eventName IDs payloads timestamp } }",
        (("id", "run_id"),),
    ),
    (
        "query Q($id: String!) { runTrace(runID: $id) "
        "{ name status outputID duration childrenSpans { name outputID stepOp attempts } } }",
        (("id", "run_id"),),
    ),
    (
        "query Q($id: String!) { runTraceSpanOutputByID(outputID: $id) "
        "{ input data error { message name stack cause } } }",
        (("id", "output_id"),),
    ),
    (
        "query Q($q: FunctionQuery!) { functionBySlug(query: $q) "
        "{ id slug config concurrency triggers { type value condition } app { id name } } }",
        (("q", "function_query"),),
    ),
    (
        "query Q($id: UUID!) { app(id: $id) { id name error functions { slug } } }",
        (("id", "uuid"),),
    ),
    (
        "query Q { apps { id name url error functionCount method functions { slug config } } "
        "functions { slug triggers { value } } }",
        (),
    ),
    (
        "mutation Q($slug: String!, $data: Map, $user: Map) "
        "{ invokeFunction(functionSlug: $slug, data: $data, user: $user) }",
        (("slug", "slug"), ("data", "data"), ("user", "user")),
    ),
    ("mutation Q($id: ULID!) { cancelRun(runID: $id) { id status } }", (("id", "run_id"),)),
    (
        "mutation Q($id: ULID!, $step: RerunFromStepInput) { rerun(runID: $id, fromStep: $step) }",
        (("id", "run_id"), ("step", "from_step")),
    ),
    (
        "mutation Q($url: String!) { createApp(input: {url: $url}) { id name error } }",
        (("url", "url"),),
    ),
    ("mutation Q($name: String!) { deleteAppByName(name: $name) }", (("name", "app_name"),)),
    ("mutation Q($id: String!) { deleteApp(id: $id) }", (("id", "app_id"),)),
)


WRONG_ITEMS: st.SearchStrategy[Json] = st.one_of(lists(WRONG_TYPE, min_size=1), WRONG)
"""A list whose items are of the wrong type, or no list at all."""


def gql_variable(kind: str, target: Target) -> F:
    events, runs = ids_of(target.event_ids), ids_of(target.run_ids)
    ints = F(st.integers(1, 50).map(_json), st.one_of(just(0, -1, 2**31, -(2**31) - 1), WRONG))
    by_kind: dict[str, F] = {
        "event_id": events,
        "events": F(obj({"lastEventId": F(events.good, events.bad, optional=True)})),
        "stream": F(
            obj(
                {
                    "limit": ints,
                    "after": F(events.good, events.bad, optional=True),
                    "before": F(events.good, events.bad, optional=True),
                    "includeInternalEvents": F(st.booleans().map(_json), optional=True),
                }
            )
        ),
        "function_run": F(obj({"functionRunId": runs})),
        "run_id": runs,
        "filter": F(
            obj(
                {
                    "from": F(just("2026-01-01T00:00:00Z"), BAD_TIMES),
                    "until": F(just("2099-01-01T00:00:00Z"), BAD_TIMES, optional=True),
                    "timeField": F(just("QUEUED_AT", "ENDED_AT", "STARTED_AT"), optional=True),
                    "status": F(lists(just("COMPLETED", "FAILED", "RUNNING")), optional=True),
                    "functionIDs": F(lists(st.uuids().map(str)), WRONG_ITEMS, optional=True),
                    "appIDs": F(lists(st.uuids().map(str)), WRONG_ITEMS, optional=True),
                    "query": F(st.none(), optional=True),
                }
            )
        ),
        "first": ints,
        "after": F(st.none(), st.one_of(st.text(max_size=30), WRONG)),
        "order": F(
            lists(
                obj(
                    {"field": F(just("QUEUED_AT", "ENDED_AT")), "direction": F(just("ASC", "DESC"))}
                )
            )
        ),
        "output_id": F(st.text("0123456789abcdef:", max_size=40).map(_json)),
        "function_query": F(obj({"functionSlug": slugs(target)})),
        "uuid": F(st.uuids().map(str)),
        "slug": slugs(target),
        "data": F(PLAIN_DATA, ODD_DATA),
        "user": F(PLAIN_DATA, optional=True),
        "from_step": F(obj({"stepID": step_ids(), "input": F(st.none(), optional=True)})),
        "url": F(GOOD_URLS, BAD_URLS),
        "app_name": F(just("fz-none"), st.one_of(SAFE_TEXT, WRONG).map(_not_ours(target))),
        "app_id": F(st.uuids().map(str), SAFE_TEXT),
    }
    return by_kind[kind]


def deep_query(depth: int, shape: str) -> str:
    if shape == "braces":
        return "{" * depth + "}" * depth
    if shape == "selection":
        inner = "app { functions { " * depth + "slug" + " } }" * depth
        return "{ apps { functions { " + inner + " } } }"
    if shape == "list":
        return "query($v: Map) { apps { id } } " + "[" * depth
    if shape == "value":
        return '{ event(query: {eventId: "x", w: ' + "[" * depth + "]" * depth + "}) { id } }"
    return "{ " + "a: apps { id } " * depth + "}"


HOSTILE_QUERIES: st.SearchStrategy[Json] = st.one_of(
    st.builds(
        deep_query,
        just(10, 100, 1000, 5000),
        just("braces", "selection", "list", "value", "aliases"),
    ),
    just(
        "{ __schema { types { name fields { name type { name ofType { name } } } } } }",
        "{ apps { id } } { apps { id } }",
        "query A { apps { id } } query A { apps { id } }",
        '{ event(query: {eventId: "\\ud800"}) { id } }',
        '{ eventV2(id: "' + "9" * 5000 + '") { id } }',
        "{ stream(query: {limit: 99999999999}) { id } }",
        "{ stream(query: {limit: 2147483647}) { id } }",
        "{ stream(query: {limit: -2147483648}) { id } }",
        '{ runs(filter: {from: "9999-99-99"}) { totalCount } }',
        '{ runs(first: -1, filter: {from: "2020-01-01T00:00:00Z"}) { totalCount } }',
        '{ runs(first: 2147483647, filter: {from: "0001-01-01T00:00:00Z"}) { totalCount } }',
        '{ runs(after: "\\ud800", filter: {from: "2020-01-01T00:00:00Z"}) { totalCount } }',
        '{ runTraceSpanOutputByID(outputID: "::::") { data } }',
        "subscription { apps { id } }",
        "{ apps { id } ",
        "#",
        "\ud800",
        "x" * 70_000,
        "{ " + " ".join(f"a{i}: apps {{ id }}" for i in range(2000)) + " }",
        "fragment F on Query { ...F } { ...F }",
        "mutation { rerun(runID: {a: 1}) }",
        "mutation { cancelRun(runID: 5) { id } }",
        "{ eventV2(id: [1]) { id } }",
        "{ app(id: {x: 1}) { id } }",
        "{ runs(filter: {from: {a: 1}, until: [1]}) { totalCount } }",
        '{ runs(filter: {from: "2026-01-01T00:00:00Z", functionIDs: [{a: 1}]}) { totalCount } }',
        '{ runTrace(runID: "x") { name } runTrigger(runID: "x") { IDs } }',
    ),
    SAFE_TEXT.map(_json),
)


def gql_body(target: Target) -> st.SearchStrategy[Json]:
    @st.composite
    def operation(draw: st.DrawFn) -> Json:
        query, variables = draw(st.sampled_from(GQL_OPERATIONS))
        spec = {name: gql_variable(kind, target) for name, kind in variables}
        body = draw(
            obj(
                {
                    "query": F(st.just(_json(query)), st.one_of(HOSTILE_QUERIES, WRONG)),
                    "variables": F(obj(spec), WRONG, optional=not variables),
                    "operationName": F(just("Q"), optional=True),
                },
                max_bad=1,
            )
        )
        return body

    result: st.SearchStrategy[Json] = operation()
    return result


def route_body(path: str, target: Target) -> st.SearchStrategy[Json] | None:
    """The JSON body strategy for a route that takes one; None for a route that takes none."""
    bodies: dict[str, Callable[[], st.SearchStrategy[Json]]] = {
        "/e/{key}": events_body,
        "/e/": events_body,
        "/invoke/{slug}": invoke_body,
        "/fn/register": lambda: register_body(target),
        "/v1/signals": signal_body,
        "/v1/checkpoint/{run_id}/async": checkpoint_body,
        "/v1/cancellations": lambda: cancellations_body(target),
        "/v1/runs/{run_id}/rerun": rerun_body,
        "/v2/runs/{run_id}/rerun": rerun_body,
        "/v1/functions/{function_id}/replay": replay_body,
        "/v0/gql": lambda: gql_body(target),
    }
    make = bodies.get(path)
    return make() if make is not None else None


# --------------------------------------------------------------------------------------------
# Bodies as bytes


def _truncate(body: bytes, cut: int) -> bytes:
    return body[: cut % len(body)] if body else body


_SURROGATE_ESCAPE = re.compile(rb"\\u(d[89a-f][0-9a-f]{2})", re.IGNORECASE)


def _invalid_utf8(body: bytes) -> bytes:
    """Lone surrogates written as raw (invalid) UTF-8 instead of escapes; else a stray 0xff."""

    def raw(match: re.Match[bytes]) -> bytes:
        return chr(int(match.group(1), 16)).encode("utf-8", "surrogatepass")

    replaced = _SURROGATE_ESCAPE.sub(raw, body)
    if replaced != body:
        return replaced
    return body.replace(b'"', b'"\xff', 1) if b'"' in body else body + b"\xff"


def mutate(body: bytes, mutation: str, cut: int) -> bytes:
    if mutation == "truncate":
        return _truncate(body, cut)
    if mutation == "bom":
        return b"\xef\xbb\xbf" + body
    if mutation == "utf16":
        return body.decode("latin-1").encode("utf-16")
    if mutation == "utf32":
        return body.decode("latin-1").encode("utf-32-le")
    if mutation == "invalid-utf8":
        return _invalid_utf8(body)
    if mutation == "trailing":
        return body + b" }"
    if mutation == "nul":
        return body + b"\x00"
    return body


MUTATIONS = just("truncate", "bom", "utf16", "utf32", "invalid-utf8", "trailing", "nul")

RAW_BODIES: st.SearchStrategy[bytes] = st.one_of(
    st.sampled_from(
        [
            b"",
            b" ",
            b"null",
            b"[]",
            b"{}",
            b'""',
            b"0",
            b"NaN",
            b"-Infinity",
            b"\xef\xbb\xbf",
            b"\x00",
            b"\xff\xfe\xfd",
            b"{" * 50_000,
            b"[" * 100_000,
            b'{"a":1,"a":2}',
            b'{"\\ud800": "\\udfff"}',
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00",  # the start of a gzip stream
        ]
    ),
    st.binary(max_size=64),
    DEEP.map(encode),
    HUGE_NUMBERS.map(encode),
    WRONG.map(encode),
)


def structured_body(path: str, target: Target) -> st.SearchStrategy[bytes]:
    """The route's own JSON fields, some of them hostile (``SMALL_JSON`` for a bodiless one)."""
    own = route_body(path, target)
    return (own if own is not None else SMALL_JSON).map(encode)


def raw_body(path: str, target: Target) -> st.SearchStrategy[bytes]:
    """Bytes that are not quite JSON: the route's body mangled, or hostile bytes of any kind."""
    mangled = st.builds(mutate, structured_body(path, target), MUTATIONS, st.integers(0, 2**16))
    return st.one_of(mangled, RAW_BODIES)


# --------------------------------------------------------------------------------------------
# Headers


_CTL = bytes(range(32)) + b"\x7f"


def header_value(raw: bytes) -> bytes:
    """``raw`` as a header value h11 sends: control bytes become ``?``, no edge whitespace."""
    cleaned = bytes(b if b not in _CTL else 0x3F for b in raw)
    return cleaned.strip(b" \t")


def is_header_value(value: bytes) -> bool:
    return not any(b in _CTL for b in value) and value == value.strip(b" \t")


def _text_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


HOSTILE_HEADER_BYTES: st.SearchStrategy[bytes] = st.one_of(
    HOSTILE_TEXT.map(_text_bytes),
    st.binary(max_size=40),
    st.sampled_from([b"\xff\xfe", b"\xc3\xa9", b"9" * 5000, b"x" * 60_000, "é".encode("latin-1")]),
).map(header_value)


def authorization(target: Target) -> st.SearchStrategy[bytes | None]:
    good: list[bytes | None] = [target.authorization] if target.authorization else [None]
    hostile = st.one_of(
        HOSTILE_HEADER_BYTES.map(lambda v: b"Bearer " + v),
        HOSTILE_HEADER_BYTES,
        st.sampled_from(
            [
                b"Bearer",
                b"Bearer ",
                b"bearer " + (target.authorization or b"x")[7:],
                b"Basic YWxhZGRpbjpvcGVuc2VzYW1l",
                b"Bearer signkey-test-",
                b"Bearer signkey-prod-\xc3\xa9",
                b"Bearer " + b"0" * 5000,
                b"Bearer \xff" * 3,
                b"Bearer " + (target.authorization or b"x")[7:] + b"\xc3\xa9",
            ]
        ),
    ).map(header_value)
    return st.one_of(*[st.just(g) for g in good * 3], hostile, st.none())


def _seed(millis: str, entropy: str) -> bytes:
    return header_value(_text_bytes(f"{millis},{entropy}"))


SEEDS: st.SearchStrategy[bytes] = (
    st.builds(
        _seed,
        st.one_of(
            st.sampled_from(["-1", "-9223372036854775808", str(2**48), str(2**48 - 1), str(2**63)]),
            st.sampled_from([str(10**30), "٣", "²", "", " 1", "1.5", "0x10", "1_000", "9" * 5000]),
            st.integers(0, 2**48).map(str),
        ),
        st.one_of(
            st.binary(min_size=10, max_size=10).map(lambda b: base64.b64encode(b).decode()),
            st.sampled_from(
                [
                    base64.b64encode(b"123456789").decode(),
                    base64.b64encode(b"12345678901").decode(),
                    "",
                    "!!!",
                    "====",
                    "a",
                    "é",
                    "A" * 5000,
                    "AAAAAAAAAAAAAA==,x",
                ]
            ),
        ),
    )
    | HOSTILE_HEADER_BYTES
)

SIGNATURES: st.SearchStrategy[bytes] = st.one_of(
    st.sampled_from(
        [
            b"t=abc&s=..",
            b"t=&s=",
            b"t=1&s=" + b"0" * 64,
            b"t=" + b"9" * 5000 + b"&s=00",
            b"t=\xc2\xb2&s=00",
            b"t=\xd9\xa3&s=00",
            b"t=-1&s=\xc3\xa9",
            b"t=1700000000&s=\xff",
            b"s=1&t=2&t=3&s=4",
            b"%",
            b"t=1&&&&s=" + b"a" * 10_000,
        ]
    ),
    HOSTILE_HEADER_BYTES,
).map(header_value)

CONTENT_TYPES = st.sampled_from(
    [
        b"application/json",
        b"application/json",
        b"application/json",
        b"application/json; charset=utf-16",
        b'application/json; charset="\xff"',
        b"text/plain",
        b"multipart/form-data; boundary=",
        b"application/x-www-form-urlencoded",
        b"",
        b"\xff",
        b"*/*",
    ]
)

OTHER_HEADERS: tuple[bytes, ...] = (
    b"X-Inngest-Expected-Server-Kind",
    b"X-Inngest-Server-Kind",
    b"X-Inngest-Env",
    b"X-Inngest-SDK",
    b"X-Inngest-Framework",
    b"X-Inngest-Sync-Kind",
    b"Content-Encoding",
    b"Accept",
    b"Accept-Encoding",
    b"Cookie",
    b"Origin",
    b"X-Forwarded-For",
)


def headers(target: Target, path: str) -> st.SearchStrategy[tuple[tuple[bytes, bytes], ...]]:
    @st.composite
    def build(draw: st.DrawFn) -> tuple[tuple[bytes, bytes], ...]:
        out: list[tuple[bytes, bytes]] = [(b"Content-Type", draw(CONTENT_TYPES))]
        auth = draw(authorization(target))
        if auth is not None:
            out.append((b"Authorization", auth))
        if path.startswith("/e/") and draw(st.integers(0, 2)) == 0:
            out.append((b"X-Inngest-Event-Id-Seed", draw(SEEDS)))
        if draw(st.integers(0, 5)) == 0:
            out.append((b"X-Inngest-Signature", draw(SIGNATURES)))
        if draw(st.integers(0, 5)) == 0:
            value = draw(
                st.one_of(st.sampled_from([b"dev", b"cloud", b"gzip", b"*"]), HOSTILE_HEADER_BYTES)
            )
            out.append((draw(st.sampled_from(OTHER_HEADERS)), value))
        return tuple(out)

    result: st.SearchStrategy[tuple[tuple[bytes, bytes], ...]] = build()
    return result


# --------------------------------------------------------------------------------------------
# Paths and query strings


def quote(text: str) -> str:
    """Percent-encode everything but unreserved characters; lone surrogates as their bytes."""
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


PATH_JUNK: st.SearchStrategy[str] = st.one_of(
    HOSTILE_TEXT.map(quote),
    st.sampled_from(
        [
            "%ED%A0%80",
            "%ED%BF%BF",
            "%F0%9D%95%8F",
            "%2E%2E",
            "%2E",
            "%00",
            "a%00b",
            "%2F",
            "%ff",
            "%zz",
            "%",
            "x" * 10_000,
            "9" * 5000,
            "%20",
            "%E2%80%AE",
        ]
    ),
)


def known_values(name: str, path: str, target: Target) -> list[str]:
    """Values of ``{name}`` that name something that exists (seeded ids, the key)."""
    if name == "key":
        return [target.event_key]
    if name == "event_id":
        return list(target.event_ids)
    if name == "run_id":
        return list(target.run_ids)
    if name == "function_id" and path.endswith(("/replay", "/pause", "/resume")):
        # A replay of a busy function reruns every event it had; a paused one runs nothing.
        return [target.idle_slug]
    if name in ("slug", "function_id"):
        return list(target.function_slugs)
    if name == "app":
        # ``DELETE /v2/apps/{app}`` removes the app, a valid and authorised request: the one
        # route that gets only unknown names, or the seeded runs would lose their function.
        return [] if path == "/v2/apps/{app}" else [target.protected_app]
    return []


def path_param(name: str, path: str, target: Target) -> st.SearchStrategy[tuple[str, str]]:
    """A value for ``{name}`` as it goes on the wire, and a note of what it was."""
    real = known_values(name, path, target)
    hostile = PATH_JUNK.map(lambda v: (v, f"{name}={v[:40]}"))
    if not real:
        return hostile
    known = st.sampled_from(real).map(lambda v: (quote(v), f"{name}=<known>"))
    return st.one_of(known, known, hostile)


def valid_param(name: str, path: str, target: Target) -> st.SearchStrategy[str]:
    real = known_values(name, path, target) or ["fz-none"]
    return st.sampled_from(real).map(quote)


def _query(pairs: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)


QUERY_VALUES: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(["²", "٣", "9" * 5000, "9" * 25, "-1", "0", "1", "1.5", "1e3", " 5", "+5"]),
    st.sampled_from(["2026-01-01T00:00:00Z", "0001-01-01", "9999-12-31T23:59:59Z", "-" + "9" * 25]),
    HOSTILE_TEXT,
)

JUNK_QUERIES = st.sampled_from(["", "&&&", "=", "limit", "%", "%zz", "%ff=%ff", "a=1&a=2", "?"])


def query_string(path: str, target: Target) -> st.SearchStrategy[str]:
    names: tuple[str, ...] = {
        "/v1/events": ("name", "limit", "cursor", "received_after", "received_before"),
        "/fn/remove": ("url",),
    }.get(path, ("limit", "cursor"))
    pairs = st.lists(
        st.tuples(
            st.sampled_from(names), QUERY_VALUES | st.sampled_from(target.event_ids or ("",))
        ),
        max_size=4,
    ).map(_query)
    if path in ("/v1/events", "/fn/remove"):
        return st.one_of(pairs, pairs, pairs, JUNK_QUERIES)
    return st.one_of(st.just(""), st.just(""), st.just(""), pairs, JUNK_QUERIES)


def target_of(path: str) -> bytes:
    return path.encode("ascii")


# --------------------------------------------------------------------------------------------
# Whole requests


def valid_body(path: str, target: Target) -> bytes:
    """A body the route accepts, for requests whose hostile part is elsewhere."""
    slug = target.function_slugs[0] if target.function_slugs else "fz-none"
    bodies: dict[str, Json] = {
        "/e/{key}": {"name": "fuzz/echo", "data": {"n": 1}},
        "/e/": {"name": "fuzz/echo", "data": {"n": 1}},
        "/invoke/{slug}": {"data": {"n": 2}},
        "/fn/register": {
            "appName": "fz-app",
            "url": "http://127.0.0.1:9/api/inngest",
            "functions": [
                {
                    "id": "fz-app-fn",
                    "name": "fn",
                    "triggers": [{"event": "fuzz/reg"}],
                    "steps": {"step": {"id": "step", "runtime": {"url": "http://127.0.0.1:9/x"}}},
                }
            ],
        },
        "/v1/signals": {"signal": "fz-signal", "data": {}},
        "/v1/checkpoint/{run_id}/async": {"steps": []},
        "/v1/cancellations": {"function_id": slug, "started_after": "2026-01-01T00:00:00Z"},
        "/v1/runs/{run_id}/rerun": {},
        "/v2/runs/{run_id}/rerun": {},
        "/v1/functions/{function_id}/replay": {"received_after": "2026-01-01T00:00:00Z"},
        "/v0/gql": {"query": "{ apps { id name functions { slug } } }"},
    }
    return encode(bodies[path]) if path in bodies else b""


def valid_query(path: str) -> str:
    return {"/v1/events": "limit=5", "/fn/remove": "url=http%3A%2F%2F127.0.0.1%3A9%2Fnone"}.get(
        path, ""
    )


def valid_headers(target: Target) -> tuple[tuple[bytes, bytes], ...]:
    auth = ((b"Authorization", target.authorization),) if target.authorization else ()
    return ((b"Content-Type", b"application/json"), *auth)


Focus = Literal["body", "raw-body", "path", "query", "headers", "method", "all"]
FOCI: tuple[Focus, ...] = ("body", "raw-body", "path", "query", "headers", "method", "all")


def requests_for(route: RouteInfo, target: Target, focus: Focus) -> st.SearchStrategy[FuzzRequest]:
    """Requests aimed at one route with one part hostile (``focus``: its JSON fields, its body
    bytes, a path parameter, the query string, the headers, the method) and the others valid,
    so that the handler gets as far as that part; or everything hostile at once."""
    methods = [m for m in route.methods if m != "HEAD"] or list(route.methods)
    everything: set[str] = {"body", "path", "query", "headers", "method"}
    hostile = everything if focus == "all" else {focus}

    @st.composite
    def build(draw: st.DrawFn) -> FuzzRequest:
        method = draw(st.sampled_from(methods))
        if "method" in hostile:
            method = draw(
                st.sampled_from(
                    [*route.methods, "PATCH", "OPTIONS", "PUT", "GET", "DELETE", "POST", "HEAD"]
                )
            )
        path = route.path
        notes: list[str] = [f"hostile {focus}"]
        for name in route.params:
            if "path" in hostile:
                value, note = draw(path_param(name, route.path, target))
                notes.append(note)
            else:
                value = draw(valid_param(name, route.path, target))
            path = path.replace("{" + name + "}", value)
        query = draw(query_string(route.path, target)) if "query" in hostile else valid_query(path)
        if "body" in hostile:
            body = draw(structured_body(route.path, target))
        elif "raw-body" in hostile:
            body = draw(raw_body(route.path, target))
        else:
            body = valid_body(route.path, target)
        return FuzzRequest(
            method=method,
            route=route.path,
            target=target_of(path + ("?" + query if query else "")),
            headers=draw(headers(target, route.path))
            if "headers" in hostile
            else valid_headers(target),
            body=body,
            what=", ".join(notes),
        )

    result: st.SearchStrategy[FuzzRequest] = build()
    return result


RAW_TARGETS = st.sampled_from(
    [
        b"/v1/events/../runs/x",
        b"/v1/events/\xff\xfe",
        b"/v1/events/\xed\xa0\x80",
        b"/v1/runs/a\x00b",
        b"/v1/events?limit=\xc2\xb2",
        b"/v1/events?limit=" + b"9" * 5000,
        b"/e/" + b"k" * 10_000,
        b"//e//",
        b"/e/../e/x",
        b"*",
        b"http://127.0.0.1/e/x",
        b"/v0/gql#frag",
        b"/%",
    ]
)


def raw_requests(routes: Sequence[RouteInfo], target: Target) -> st.SearchStrategy[FuzzRequest]:
    """What only a raw socket sends: a Content-Length that lies, bytes httpx would encode."""

    @st.composite
    def build(draw: st.DrawFn) -> FuzzRequest:
        route = draw(st.sampled_from(list(routes)))
        body = draw(st.one_of(structured_body(route.path, target), raw_body(route.path, target)))
        if not body:
            body = b'{"name": "fuzz/echo", "data": {}}'
        kind = draw(st.sampled_from(["short", "long", "zero", "huge", "garbage", "target"]))
        declared: int | None = {
            "short": len(body) + draw(st.integers(1, 1000)),
            "long": max(0, len(body) - draw(st.integers(1, max(1, len(body))))),
            "zero": 0,
            "huge": 10**30,
            "garbage": None,
            "target": len(body),
        }[kind]
        path = route.path
        for name in route.params:
            path = path.replace("{" + name + "}", "x")
        raw_target = draw(RAW_TARGETS) if kind == "target" else path.encode("ascii")
        auth = target.authorization
        hdrs: list[tuple[bytes, bytes]] = [(b"Content-Type", b"application/json")]
        if auth is not None:
            hdrs.append((b"Authorization", auth))
        if kind == "garbage":
            garbage = draw(
                st.sampled_from([b"-5", b"abc", b"1, 2", b"\xff", b"9" * 5000, b"0x10", b"+5"])
            )
            hdrs.append((b"Content-Length", garbage))
        method = draw(st.sampled_from(route.methods))
        return FuzzRequest(
            method=method,
            route=route.path if kind != "target" else "<raw target>",
            target=raw_target,
            headers=tuple(hdrs),
            body=body,
            what=f"raw/{kind}",
            transport="raw",
            declared_length=declared,
        )

    result: st.SearchStrategy[FuzzRequest] = build()
    return result


def signature_requests(target: Target, serve_path: str) -> st.SearchStrategy[FuzzRequest]:
    """Calls to the served app with junk ``X-Inngest-Signature`` headers (start only)."""

    @st.composite
    def build(draw: st.DrawFn) -> FuzzRequest:
        method = draw(st.sampled_from(["GET", "POST", "PUT"]))
        query = draw(
            st.sampled_from(
                ["", "fnId=fuzzapp-echo&stepId=step", "probe=trust", "fnId=%ED%A0%80", "fnId="]
            )
        )
        body = draw(st.one_of(structured_body("/v1/signals", target), RAW_BODIES))
        hdrs: list[tuple[bytes, bytes]] = [(b"Content-Type", b"application/json")]
        if draw(st.integers(0, 9)):
            hdrs.append((b"X-Inngest-Signature", draw(SIGNATURES)))
        if draw(st.booleans()):
            hdrs.append((b"X-Inngest-Sync-Kind", draw(st.sampled_from([b"in_band", b"x"]))))
        if draw(st.booleans()):
            hdrs.append((b"X-Inngest-Server-Kind", draw(st.sampled_from([b"cloud", b"dev"]))))
        return FuzzRequest(
            method=method,
            route=serve_path,
            target=target_of(serve_path + ("?" + query if query else "")),
            headers=tuple(hdrs),
            body=body,
            what="signature junk",
        )

    result: st.SearchStrategy[FuzzRequest] = build()
    return result


# --------------------------------------------------------------------------------------------
# Named inputs: the hostile values the fuzzing must always include, whatever hypothesis draws


def named_requests(target: Target) -> list[FuzzRequest]:
    """One request per named hostile input, around otherwise valid requests."""
    run = target.run_ids[0] if target.run_ids else "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    event = target.event_ids[0] if target.event_ids else "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    key = target.event_key
    ok = valid_headers(target)
    cases: list[FuzzRequest] = []

    def add(
        route: str,
        path: str,
        body: Json | bytes = b"",
        what: str = "",
        *,
        method: str = "POST",
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        raw = body if isinstance(body, bytes) else encode(body)
        extra = {name.lower() for name, _ in headers}
        merged = tuple(h for h in ok if h[0].lower() not in extra) + tuple(headers)
        cases.append(FuzzRequest(method, route, target_of(path), merged, raw, what))

    echo: dict[str, Json] = {"name": "fuzz/echo", "data": {"n": 1}}
    events = ("/e/{key}", f"/e/{key}")
    add(*events, deep(10_000, "array"), "body: arrays 10,000 deep")
    add(*events, deep(1000, "object"), "body: objects 1,000 deep")
    add(*events, {"name": "fuzz/echo", "data": deep(5000, "mixed")}, "data 5,000 deep")
    add(*events, {"name": "fuzz/echo", "data": {"x": Raw(b"NaN")}}, "data NaN")
    add(*events, {"name": "fuzz/echo", "ts": Raw(b"Infinity")}, "ts Infinity")
    add(*events, {"name": "fuzz/echo", "ts": Raw(b"-Infinity")}, "ts -Infinity")
    add(*events, {"name": "\ud800"}, "name: a lone surrogate escape")
    add(*events, {"name": "fuzz/echo", "data": {"\udfff": "\ud800"}}, "data: lone surrogates")
    add(*events, b'{"name": "fuzz/\xff\xfe"}', "invalid UTF-8")
    add(*events, b'{"name": "fuzz/\xed\xa0\x80"}', "a surrogate as UTF-8 bytes")
    add(*events, encode(echo)[:17], "truncated JSON")
    add(*events, {"name": "fuzz/echo", "ts": Raw(b"9" * 5000)}, "ts: 5,000 digits")
    add(*events, {"name": "fuzz/echo", "ts": Raw(b"9" * 4300)}, "ts: 4,300 digits")
    add(*events, {"name": "fuzz/echo", "ts": 2**63}, "ts: 2**63")
    add(*events, {"name": "fuzz/echo", "data": {"n": Raw(b"9" * 4000)}}, "data.n: 4,000 digits")
    typed: tuple[tuple[str, Json], ...] = (
        ("name", 5),
        ("id", []),
        ("data", "x"),
        ("ts", "x"),
        ("user", 5),
        ("v", {}),
    )
    for field, wrong_type in typed:
        add(*events, {**echo, field: wrong_type}, f"{field}: wrong type")
    for seed in (b"-1,AAAAAAAAAAAAAA==", b"281474976710656,AAAAAAAAAAAAAA==", b"1,!!!", b"1,AA=="):
        add(*events, echo, f"seed {seed!r}", headers=[(b"X-Inngest-Event-Id-Seed", seed)])
    rerun = ("/v1/runs/{run_id}/rerun", f"/v1/runs/{run}/rerun")
    wrong: tuple[Json, ...] = ({}, [], 5, "\ud800", 2**63, Raw(b"NaN"))
    for value in wrong:
        add(*rerun, {"from_step": value}, f"from_step {value!r}")
    cancel = ("/v1/cancellations", "/v1/cancellations")
    slug = target.function_slugs[0] if target.function_slugs else "fz-none"
    add(*cancel, {"function_id": 5}, "function_id: int")
    add(*cancel, {"function_id": ["x"]}, "function_id: list")
    add(*cancel, {"function_id": slug, "if": "((("}, "if: bad expression")
    add(*cancel, {"function_id": slug, "if": 5}, "if: int")
    afters: tuple[Json, ...] = ("x", 2**63, "9" * 25, Raw(b"1e400"))
    for after in afters:
        add(*cancel, {"function_id": slug, "started_after": after}, f"started_after {after!r}")
    replay = ("/v1/functions/{function_id}/replay", f"/v1/functions/{target.idle_slug}/replay")
    windows: tuple[Json, ...] = (2**63, -1, "x", "9" * 25, 1e300, Raw(b"9" * 5000))
    for after in windows:
        add(*replay, {"received_after": after}, f"received_after {after!r}")
    names: tuple[Json, ...] = (5, [], "", "\ud800")
    for name in names:
        add("/v1/signals", "/v1/signals", {"signal": name, "data": {}}, f"signal {name!r}")
    add("/v1/signals", "/v1/signals", {"signal": "s", "data": deep(3000, "object")}, "deep data")
    checkpoint = ("/v1/checkpoint/{run_id}/async", f"/v1/checkpoint/{run}/async")
    steps: list[Json] = [
        5,
        [1],
        [{"op": 5}],
        [{"op": "StepRun", "id": "a", "opts": [1]}],
        [{"op": "StepRun", "id": 5}],
        [{"op": "StepRun", "id": "a", "error": "x"}],
    ]
    for value in steps:
        add(*checkpoint, {"steps": value}, f"steps {value!r}")
    gql = ("/v0/gql", "/v0/gql")
    add(*gql, {"query": 5}, "query: int")
    add(*gql, {"query": "{ apps { id } }", "variables": []}, "variables: list")
    add(*gql, {"query": "{ apps { id } }", "operationName": 5}, "operationName: int")
    add(*gql, {"query": "{" * 5000}, "query: 5,000 braces")
    add(*gql, {"query": deep_query(1000, "selection")}, "query: selections 1,000 deep")
    add(
        *gql,
        {
            "query": "query($q: StreamQuery!) { stream(query: $q) { id } }",
            "variables": {"q": {"limit": 2**63}},
        },
        "Int variable 2**63",
    )
    add(*gql, {"query": '{ event(query: {eventId: "\\ud800"}) { id } }'}, "surrogate literal")
    add(
        *gql,
        {"query": "mutation($id: ULID!) { rerun(runID: $id) }", "variables": {"id": {}}},
        "ULID variable: an object",
    )
    add(
        *gql,
        {"query": "query($id: ULID!) { eventV2(id: $id) { id } }", "variables": {"id": [1]}},
        "ULID variable: a list",
    )
    add(*gql, {"query": "mutation { cancelRun(runID: {a: 1}) { id } }"}, "ULID literal: object")
    add(
        *gql,
        {
            "query": "query($f: RunsFilterV2!) { runs(filter: $f) { totalCount } }",
            "variables": {"f": {"from": "2026-01-01T00:00:00Z", "functionIDs": [{"a": 1}]}},
        },
        "UUID list item: an object",
    )
    register = ("/fn/register", "/fn/register")

    def registration(trigger: Json = None, **function: Json) -> Json:
        config: dict[str, Json] = {
            "id": "fz-named",
            "triggers": [trigger or {"event": "fuzz/reg"}],
            "steps": {"step": {"id": "step", "runtime": {"url": "http://127.0.0.1:9/x"}}},
            **function,
        }
        return {"appName": "fz-named", "url": "http://127.0.0.1:9/x", "functions": [config]}

    never: Json = {"step": {"runtime": {"url": "x"}, "retries": {"attempts": 2**63}}}
    named: list[tuple[Json, str]] = [
        (registration({"cron": "0 0 30 2 *"}), "cron 0 0 30 2 *"),
        (registration({"cron": "0 0 31 4 *"}), "cron 0 0 31 4 *"),
        (registration({"cron": "0 * * * *", "jitter": "9999999999999999999h"}), "jitter"),
        (registration({"event": "fuzz/reg", "expression": "event.data."}), "bad expression"),
        (registration(id="\ud800"), "function id: a lone surrogate"),
        (registration(steps=never), "retries 2**63"),
        (registration(concurrency=[{"limit": 2**63, "key": "((("}]), "concurrency"),
        (registration(throttle={"limit": 1, "period": "9999999999999999999h"}), "throttle"),
        (registration(batchEvents={"maxSize": 10**30, "timeout": "1s"}), "batchEvents"),
        (registration(debounce={"period": "-1s"}), "debounce -1s"),
        (registration(cancel=[{"event": "fuzz/reg", "if": "((("}]), "cancel if"),
    ]
    for body, what in named:
        add(*register, body, what)
    health = ("/health", "/health")
    for auth in ("Bearer é".encode(), b"Bearer " + b"9" * 5000, b"Bearer " + b"x" * 60_000):
        add(*health, method="GET", headers=[(b"Authorization", auth)], what=f"auth {auth[:12]!r}")
    listing = ("/v1/events", "/v1/events")
    for auth in ("Bearer é".encode(), b"Bearer \xff\xfe", b"Bearer " + b"9" * 5000):
        add(*listing, method="GET", headers=[(b"Authorization", auth)], what=f"auth {auth[:12]!r}")
    for signature in (b"t=abc&s=..", b"t=" + b"9" * 5000 + b"&s=0", b"t=\xc2\xb2&s=\xc3\xa9"):
        add(
            *events,
            echo,
            f"signature {signature[:12]!r}",
            headers=[(b"X-Inngest-Signature", signature)],
        )
    for content_type in (b"\xff", b"text/plain", b"application/json; charset=utf-16"):
        add(
            *events,
            echo,
            f"content type {content_type!r}",
            headers=[(b"Content-Type", content_type)],
        )
    for query in ("limit=%C2%B2", "limit=" + "9" * 5000, "limit=-1", "received_after=" + "9" * 25):
        add("/v1/events", f"/v1/events?{query}", method="GET", what=f"query {query[:30]}")
    add("/v1/events", "/v1/events?cursor=%ED%A0%80", method="GET", what="cursor: a surrogate")
    add("/v1/events", "/v1/events?cursor=" + "x" * 10_000, method="GET", what="cursor: 10,000 x")
    for param in ("%ED%A0%80", "%00", "%2E%2E", "x" * 10_000, "a%00b"):
        add(
            "/v1/events/{event_id}",
            f"/v1/events/{param}",
            method="GET",
            what=f"event id {param[:12]}",
        )
        add("/v1/runs/{run_id}", f"/v1/runs/{param}", method="GET", what=f"run id {param[:12]}")
        add("/v1/runs/{run_id}", f"/v1/runs/{param}", method="DELETE", what=f"cancel {param[:12]}")
    add(
        "/v1/events/{event_id}/runs",
        f"/v1/events/{event}/runs?limit=%C2%B2",
        method="GET",
        what="²",
    )
    return cases


GQL_WRONG_VALUES: tuple[Json, ...] = (
    {},
    {"a": 1},
    [],
    [1],
    [{}],
    5,
    -1,
    2**63 - 1,
    1.5,
    True,
    "",
    " ",
    "x" * 5000,
)
"""Every variable of every GraphQL operation gets each of these in turn (``gql_matrix``)."""


def gql_matrix(target: Target) -> list[FuzzRequest]:
    """Each operation of ``GQL_OPERATIONS`` with one variable replaced by each wrong value,
    the others good, inside objects too (``q.limit``, ``f.functionIDs``): what a resolver gets
    when a scalar lets a wrong type through."""
    ok = valid_headers(target)
    good: dict[str, Json] = {
        "event_id": target.event_ids[0] if target.event_ids else "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "run_id": target.run_ids[0] if target.run_ids else "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "events": {"lastEventId": target.event_ids[0] if target.event_ids else None},
        "stream": {"limit": 5, "after": None, "includeInternalEvents": True},
        "function_run": {"functionRunId": target.run_ids[0] if target.run_ids else "x"},
        "filter": {"from": "2026-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z"},
        "first": 5,
        "after": None,
        "order": [{"field": "QUEUED_AT", "direction": "DESC"}],
        "output_id": "x",
        "function_query": {
            "functionSlug": target.function_slugs[0] if target.function_slugs else "x"
        },
        "uuid": "00000000-0000-0000-0000-000000000000",
        "slug": "fz-none",
        "data": {"n": 1},
        "user": {},
        "from_step": {"stepID": "double"},
        "url": "http://127.0.0.1:9/x",
        "app_name": "fz-none",
        "app_id": "00000000-0000-0000-0000-000000000000",
    }
    nested: dict[str, tuple[str, ...]] = {
        "events": ("lastEventId",),
        "stream": ("limit", "after", "before", "includeInternalEvents"),
        "function_run": ("functionRunId",),
        "filter": ("from", "until", "timeField", "status", "functionIDs", "appIDs", "query"),
        "order": (),
        "function_query": ("functionSlug",),
        "from_step": ("stepID", "input"),
    }
    cases: list[FuzzRequest] = []
    for query, variables in GQL_OPERATIONS:
        base = {name: good[kind] for name, kind in variables}
        for name, kind in variables:
            spots: list[tuple[str, str | None]] = [(name, None)]
            spots += [(name, inner) for inner in nested.get(kind, ())]
            for variable, inner in spots:
                for wrong in GQL_WRONG_VALUES:
                    values = dict(base)
                    if inner is None:
                        values[variable] = wrong
                    else:
                        holder = values[variable]
                        values[variable] = {
                            **(holder if isinstance(holder, dict) else {}),
                            inner: wrong,
                        }
                    body = encode({"query": query, "variables": values})
                    where = f"${variable}" + (f".{inner}" if inner else "")
                    cases.append(
                        FuzzRequest(
                            "POST", "/v0/gql", b"/v0/gql", ok, body, f"{where} = {wrong!r:.20}"
                        )
                    )
    return cases
