"""What the dashboard's pages work with: the read port, and the server when actions are allowed.

A dashboard served by ``stepwell dev``/``start`` has the whole server runtime: it reads through
``engine.history`` and acts through the engine's public methods, the app catalog and the syncer.
A dashboard over a database another process owns (``stepwell ui`` on a SQLite file) has only
the read port: every action is disabled, and ``read_only_reason`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stepwell.engine.apps import specs_for
from stepwell.engine.engine import Engine
from stepwell.engine.registry import FunctionSpec
from stepwell.ports.history import History
from stepwell.ports.records import AppRecord
from stepwell.ports.store import AppStore
from stepwell.protocol.registration import RegistrationError, parse_registration
from stepwell.server.runtime import ServerRuntime


@dataclass(slots=True)
class DashboardContext:
    history: History
    runtime: ServerRuntime | None = None
    """The server, when this dashboard may act (cancel, rerun, send, sync …)."""
    apps_store: AppStore | None = None
    """Where synced apps are read from when there is no runtime (read-only dashboards)."""
    read_only_reason: str | None = None
    """Why actions are disabled, shown on every page; None when they are allowed."""
    login_key: str | None = None
    """The key a browser must give to log in (production); None: no login (dev)."""
    session_ttl_s: int = 12 * 3600
    secret: bytes = field(default=b"", repr=False)
    function_ids_seen: tuple[float, list[str]] | None = field(default=None, repr=False)
    """The functions that have runs, and when that was read (the runs page reuses it)."""
    """Signs session cookies and action tokens; made at start when not given."""

    @classmethod
    def serving(cls, runtime: ServerRuntime) -> DashboardContext:
        """The dashboard of a running server: reads and acts through it."""
        config = runtime.config
        key = None if config.dev else (config.dashboard_key or config.signing_key)
        return cls(history=runtime.engine.history, runtime=runtime, login_key=key)

    @property
    def engine(self) -> Engine | None:
        return self.runtime.engine if self.runtime is not None else None

    @property
    def can_act(self) -> bool:
        return self.runtime is not None and self.read_only_reason is None

    async def functions(self) -> list[FunctionSpec]:
        """Every known function, by slug: the server's registry, else the stored apps'."""
        if self.runtime is not None:
            return sorted(self.runtime.engine.registry, key=lambda spec: spec.slug)
        specs: list[FunctionSpec] = []
        for app in await self.apps():
            try:
                specs.extend(specs_for(parse_registration(app.payload)))
            except (RegistrationError, ValueError):
                continue  # an app stored by another version that no longer parses
        return sorted(specs, key=lambda spec: spec.slug)

    async def apps(self) -> list[AppRecord]:
        """Synced apps, by name."""
        if self.runtime is not None:
            return sorted(self.runtime.catalog.apps(), key=lambda app: app.name)
        if self.apps_store is not None:
            return sorted(await self.apps_store.list_apps(), key=lambda app: app.name)
        return []
