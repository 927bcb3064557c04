"""Fresh PostgreSQL databases for tests, made ahead of time and dropped behind.

``CREATE DATABASE`` costs about half a second here (it waits for a checkpoint), and hundreds of
tests each want a new one. A background thread keeps a few ready and another drops used ones,
so that cost overlaps the tests' own work instead of adding to it. Each test still gets its own
uniquely named, empty database, and every one is dropped by the end of the session.
"""

from __future__ import annotations

import queue
import secrets
import threading
from urllib.parse import urlsplit, urlunsplit

import psycopg

READY_AHEAD = 3
"""Databases kept ready: enough for the tests that take two at once, few enough to be cheap."""
TAKE_TIMEOUT_S = 60.0


class DatabaseSupply:
    def __init__(self, admin_url: str) -> None:
        self._admin_url = admin_url
        self._ready: queue.Queue[str] = queue.Queue(maxsize=READY_AHEAD)
        self._used: queue.Queue[str | None] = queue.Queue()
        self._created: set[str] = set()
        self._closing = threading.Event()
        self._error: BaseException | None = None
        self._maker = threading.Thread(target=self._make, name="pg-maker", daemon=True)
        self._dropper = threading.Thread(target=self._drop, name="pg-dropper", daemon=True)
        self._maker.start()
        self._dropper.start()

    def url(self, name: str) -> str:
        return urlunsplit(urlsplit(self._admin_url)._replace(path=f"/{name}"))

    def take(self) -> str:
        """The name of a new, empty database (made now if none is ready)."""
        try:
            return self._ready.get(timeout=TAKE_TIMEOUT_S)
        except queue.Empty:
            raise RuntimeError(
                f"no test database was made within {TAKE_TIMEOUT_S:g}s: {self._error!r}"
            ) from None

    def give_back(self, name: str) -> None:
        """Drop it, in the background (its connections are ended first)."""
        self._used.put(name)

    def close(self) -> None:
        """Stop making databases and drop every one made, used or not."""
        self._closing.set()
        while True:
            try:
                self._used.put(self._ready.get_nowait())
            except queue.Empty:
                break
        self._used.put(None)
        self._dropper.join(timeout=120)
        self._maker.join(timeout=30)
        with psycopg.connect(self._admin_url, autocommit=True, connect_timeout=5) as admin:
            for name in sorted(self._created):
                _drop(admin, name)

    def _make(self) -> None:
        try:
            with psycopg.connect(self._admin_url, autocommit=True, connect_timeout=5) as admin:
                while not self._closing.is_set():
                    name = f"stepwell_test_{secrets.token_hex(6)}"
                    admin.execute(f"CREATE DATABASE {name}".encode())
                    self._created.add(name)
                    while not self._closing.is_set():
                        try:
                            self._ready.put(name, timeout=0.2)
                            break
                        except queue.Full:
                            continue
        except BaseException as exc:  # reported by take(), which then times out saying why
            self._error = exc

    def _drop(self) -> None:
        with psycopg.connect(self._admin_url, autocommit=True, connect_timeout=5) as admin:
            while (name := self._used.get()) is not None:
                _drop(admin, name)
                self._created.discard(name)


def _drop(admin: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )
    admin.execute(f"DROP DATABASE IF EXISTS {name}".encode())
