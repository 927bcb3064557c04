"""What the rules know about the standard library and common packages: which calls give a
different value each time, which do I/O, which sleep, which log. Names are fully qualified, as
``names.qualname`` resolves them through the module's imports (bare builtins as ``builtins.x``).
"""

from __future__ import annotations

NON_DETERMINISTIC = frozenset(
    {
        "uuid.uuid1",
        "uuid.uuid4",
        "uuid.uuid6",
        "uuid.uuid7",
        "os.urandom",
        "os.getrandom",
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "pendulum.now",
        "arrow.now",
        "arrow.utcnow",
    }
)
NON_DETERMINISTIC_MODULES = ("random.", "secrets.", "numpy.random.")
# Deterministic members of those modules: seeding, and a generator built from a seed.
SEEDED = frozenset(
    {"random.seed", "random.Random", "numpy.random.seed", "numpy.random.default_rng"}
)
# Stable within one process only (hash randomisation, addresses): harmless as values, not as ids.
PROCESS_LOCAL = frozenset({"builtins.hash", "builtins.id"})


def non_deterministic(qualname: str, n_args: int) -> bool:
    if qualname in NON_DETERMINISTIC:
        return True
    if qualname in SEEDED:
        return n_args == 0 and qualname != "random.seed" and qualname != "numpy.random.seed"
    return qualname.startswith(NON_DETERMINISTIC_MODULES)


# Calls that make an HTTP request themselves.
HTTP_CALLS = frozenset(
    {
        *(f"httpx.{m}" for m in ("get", "post", "put", "patch", "delete", "head", "options")),
        "httpx.request",
        "httpx.stream",
        *(f"requests.{m}" for m in ("get", "post", "put", "patch", "delete", "head", "options")),
        "requests.request",
        "aiohttp.request",
        "urllib.request.urlopen",
        "urllib.request.urlretrieve",
        "urllib3.request",
    }
)
# Constructors of objects whose methods make requests (building one is not I/O by itself).
HTTP_CLIENTS = frozenset(
    {
        "httpx.Client",
        "httpx.AsyncClient",
        "requests.Session",
        "requests.session",
        "aiohttp.ClientSession",
        "urllib3.PoolManager",
        "http.client.HTTPConnection",
        "http.client.HTTPSConnection",
    }
)
# Connecting is already I/O; the object's methods are too.
DATABASE_CONNECTS = frozenset(
    {
        "sqlite3.connect",
        "aiosqlite.connect",
        "psycopg.connect",
        "psycopg.AsyncConnection.connect",
        "psycopg2.connect",
        "asyncpg.connect",
        "asyncpg.create_pool",
        "pymysql.connect",
        "MySQLdb.connect",
        "aiomysql.connect",
        "redis.Redis",
        "redis.StrictRedis",
        "redis.from_url",
        "redis.asyncio.Redis",
        "redis.asyncio.from_url",
        "pymongo.MongoClient",
        "motor.motor_asyncio.AsyncIOMotorClient",
        "sqlalchemy.create_engine",
        "sqlalchemy.ext.asyncio.create_async_engine",
        "sqlalchemy.orm.Session",
        "boto3.client",
        "boto3.resource",
    }
)
# Method calls on a receiver with one of these names are taken for database work.
DATABASE_RECEIVERS = frozenset({"session", "db", "conn", "connection", "cursor", "cur", "pool"})
DATABASE_METHODS = frozenset(
    {
        "execute",
        "executemany",
        "executescript",
        "commit",
        "rollback",
        "query",
        "add",
        "add_all",
        "flush",
        "merge",
        "refresh",
        "scalar",
        "scalars",
        "fetch",
        "fetchrow",
        "fetchval",
        "fetchone",
        "fetchall",
        "fetchmany",
        "insert_one",
        "insert_many",
        "find_one",
        "update_one",
        "delete_one",
    }
)
PROCESS_CALLS = frozenset(
    {
        "os.system",
        "os.popen",
        "asyncio.create_subprocess_exec",
        "asyncio.create_subprocess_shell",
    }
)
FILE_WRITES = frozenset(
    {
        "shutil.copy",
        "shutil.copy2",
        "shutil.copyfile",
        "shutil.copytree",
        "shutil.move",
        "shutil.rmtree",
        "os.remove",
        "os.unlink",
        "os.rename",
        "os.replace",
        "os.mkdir",
        "os.makedirs",
        "os.rmdir",
    }
)
OPENERS = frozenset({"builtins.open", "io.open", "aiofiles.open", "codecs.open"})
WRITE_METHODS = frozenset({"write_text", "write_bytes"})
HTTP_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "stream", "send"}
)

SLEEPS = frozenset({"time.sleep", "asyncio.sleep", "anyio.sleep", "trio.sleep", "gevent.sleep"})
PRINTS = frozenset({"builtins.print", "sys.stdout.write", "sys.stderr.write", "pprint.pprint"})
LOGGER_FACTORIES = frozenset(
    {"logging.getLogger", "structlog.get_logger", "structlog.getLogger", "loguru.logger"}
)
LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)

# Step methods of both SDKs, called on ``ctx.step`` (or ``step``, ``ctx.group``).
STEP_METHODS = frozenset(
    {
        "run",
        "sleep",
        "sleep_until",
        "wait_for_event",
        "wait_for_signal",
        "send_signal",
        "invoke",
        "invoke_by_id",
        "send_event",
        "fetch",
        "parallel",
        "infer",
        "ai.infer",
        "group.parallel",
    }
)
# Steps that reach an external service through the engine.
EXTERNAL_STEPS = frozenset({"fetch", "infer", "ai.infer"})

# Return annotations JSON cannot hold (matched on the last part of the name).
NOT_JSON_TYPES = frozenset(
    {
        "set",
        "frozenset",
        "Set",
        "FrozenSet",
        "AbstractSet",
        "MutableSet",
        "complex",
        "IO",
        "TextIO",
        "BinaryIO",
        "TextIOWrapper",
        "BufferedReader",
        "BufferedWriter",
        "FileIO",
        "socket",
        "Connection",
        "AsyncConnection",
        "Cursor",
        "Session",
        "AsyncSession",
        "Client",
        "AsyncClient",
        "ClientSession",
        "Engine",
        "Generator",
        "AsyncGenerator",
        "Iterator",
        "AsyncIterator",
        "Lock",
        "Thread",
    }
)
