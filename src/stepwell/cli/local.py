"""The run commands' target straight on a database (``--database``): see ``cli.target``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from stepwell.cli.remote import TargetError
from stepwell.core.runs import RunStatus
from stepwell.ports.history import RunQuery, UnknownCursor
from stepwell.server.rest_shapes import app_v2, iso, run_v2, span_v2

if TYPE_CHECKING:
    from stepwell.server.runtime import ServerRuntime
    from stepwell.store.reads import SqlReads

STATUSES = {status.value.lower(): status for status in RunStatus}
OWNED = (
    "another process owns this SQLite file, and one SQLite file has one writer: "
    "act through that process's server (--url) instead"
)


def _event_json(stored: Any) -> dict[str, Any]:
    event = stored.event
    return {
        "internal_id": stored.internal_id,
        "id": event.id or stored.internal_id,
        "name": event.name,
        "data": event.data,
        "user": event.user,
        "ts": event.ts,
        "received_at": iso(stored.received_at),
    }


def _is_file(path: str) -> bool:
    return os.path.isfile(path)


class Local:
    def __init__(self, database: str) -> None:
        self.database = database
        self.where = database
        self._reads: SqlReads | None = None
        self._runtime: ServerRuntime | None = None

    async def __aenter__(self) -> Local:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runtime is not None:
            await self._runtime.engine.stop()
            await self._runtime.client.aclose()
        elif self._reads is not None:
            await self._reads.close()  # type: ignore[attr-defined]

    async def reads(self) -> SqlReads:
        """History and apps, read-only on SQLite."""
        if self._runtime is not None:
            return self._runtime.engine.history  # type: ignore[return-value]
        if self._reads is None:
            if self.database.startswith("sqlite:"):
                from stepwell.store.sqlite.readonly import ReadOnlySqliteHistory
                from stepwell.store.sqlite.store import sqlite_path_from_url

                path = sqlite_path_from_url(self.database)
                if not _is_file(path):
                    raise TargetError(f"{path}: no such SQLite file")
                store: Any = ReadOnlySqliteHistory(path)
            else:
                from stepwell.store import open_store

                store = open_store(self.database)
            try:
                await store.open()
            except Exception as exc:  # unreachable, not a Stepwell database
                raise TargetError(f"cannot open {self.database}: {exc}") from None
            self._reads = store
        return self._reads

    async def runtime(self) -> ServerRuntime:
        """An engine that executes nothing, with the synced apps loaded, to act through."""
        if self._runtime is None:
            from stepwell.core.extras import MissingExtraError, require_extra

            try:
                require_extra("server", "acting on a database")
            except MissingExtraError as exc:
                raise TargetError(str(exc)) from None
            from stepwell.server.config import ServerConfig
            from stepwell.server.runtime import ServerRuntime

            if self.database.startswith("sqlite:"):
                from stepwell.store.sqlite.readonly import is_locked
                from stepwell.store.sqlite.store import sqlite_path_from_url

                path = sqlite_path_from_url(self.database)
                if not _is_file(path):
                    raise TargetError(f"{path}: no such SQLite file")
                if is_locked(path):
                    raise TargetError(OWNED)
            if self._reads is not None:
                await self._reads.close()  # type: ignore[attr-defined]
                self._reads = None
            config = ServerConfig(dev=True, database=self.database, discovery=False)
            runtime = ServerRuntime(config, executes=False)
            try:
                await runtime.engine.start(on_open=runtime.catalog.load)
            except Exception as exc:
                await runtime.client.aclose()
                raise TargetError(f"cannot open {self.database}: {exc}") from None
            self._runtime = runtime
        return self._runtime

    # -- runs ------------------------------------------------------------------------------

    async def runs(
        self,
        *,
        functions: list[str],
        statuses: list[str],
        since: int | None,
        limit: int,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        query = RunQuery(
            since=since,
            function_ids=tuple(functions) or None,
            statuses=tuple(STATUSES[s.lower()] for s in statuses) or None,
            first=limit,
            after=cursor,
        )
        try:
            page = await (await self.reads()).query_runs(query)
        except UnknownCursor:
            raise TargetError(f"--cursor {cursor!r} is not a cursor of this list") from None
        return [run_v2(r) for r in page.runs], page.end_cursor if page.has_more else None

    async def trace(self, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        reads = await self.reads()
        run = await reads.get_run(run_id)
        if run is None:
            raise TargetError(f"no run with id {run_id!r} in {self.database}")
        return run_v2(run), [span_v2(s) for s in await reads.run_trace(run_id)]

    async def cancel(self, run_id: str) -> dict[str, Any]:
        engine = (await self.runtime()).engine
        try:
            cancelled = await engine.cancel(run_id)
        except LookupError:
            raise TargetError(f"no run with id {run_id!r} in {self.database}") from None
        run = await engine.get_run(run_id)
        assert run is not None
        return {**run_v2(run), "cancelled": cancelled}

    async def cancel_many(
        self, function: str, since: int | None, until: int | None, condition: str | None
    ) -> list[str]:
        engine = (await self.runtime()).engine
        try:
            return await engine.cancel_runs(
                function, started_after=since, started_before=until, if_=condition
            )
        except LookupError as exc:
            raise TargetError(str(exc)) from None

    async def rerun(self, run_id: str, from_step: str | None) -> str:
        engine = (await self.runtime()).engine
        try:
            return await engine.rerun(run_id, from_step=from_step)
        except (LookupError, RuntimeError) as exc:
            raise TargetError(str(exc)) from None

    # -- events ----------------------------------------------------------------------------

    async def events(self, *, name: str | None, limit: int) -> list[dict[str, Any]]:
        found = await (await self.reads()).list_events(name=name, limit=limit)
        return [_event_json(e) for e in found]

    async def event(self, event_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        reads = await self.reads()
        found = await reads.get_events([event_id])
        if not found:
            raise TargetError(f"no event with id {event_id!r} in {self.database}")
        runs = await reads.list_runs(event_id=event_id)
        return _event_json(found[0]), [run_v2(r) for r in sorted(runs, key=lambda r: r.run_id)]

    async def replay_event(self, event: dict[str, Any], event_key: str) -> list[str]:
        engine = (await self.runtime()).engine
        from stepwell.protocol.events import Event

        again = Event(name=event["name"], data=dict(event.get("data") or {}))
        return await engine.send(again)

    # -- functions and apps ----------------------------------------------------------------

    async def apps(self) -> list[dict[str, Any]]:
        from stepwell.engine.apps import specs_for
        from stepwell.protocol.registration import parse_registration

        shown = []
        for app in await (await self.reads()).list_apps():
            try:
                count = len(specs_for(parse_registration(app.payload)))
            except ValueError:
                count = 0
            shown.append(app_v2(app, functions=count))
        return shown

    async def functions(self) -> list[dict[str, Any]]:
        from stepwell.engine.apps import specs_for
        from stepwell.engine.keys import paused_key
        from stepwell.protocol.registration import parse_registration
        from stepwell.server.apps_v2_api import function_v2

        reads = await self.reads()
        specs = []
        for app in await reads.list_apps():
            try:
                specs += specs_for(parse_registration(app.payload))
            except ValueError:
                continue
        states = await reads.get_states([paused_key(s.slug) for s in specs])
        for spec in specs:
            entry = states.get(paused_key(spec.slug))
            spec.paused = bool(entry and entry[0].get("paused"))
        return [function_v2(spec) for spec in sorted(specs, key=lambda s: s.slug)]

    async def set_paused(self, slug: str, paused: bool) -> None:
        engine = (await self.runtime()).engine
        try:
            await (engine.pause_function(slug) if paused else engine.resume_function(slug))
        except LookupError as exc:
            raise TargetError(str(exc)) from None

    async def invoke(
        self, app: str, function: str, data: dict[str, Any], wait: float | None
    ) -> dict[str, Any]:
        from stepwell.server.events_api import invoke_function

        runtime = await self.runtime()
        slug = function if function.startswith(f"{app}-") else f"{app}-{function}"
        try:
            event_id = await invoke_function(runtime, slug, data)
        except LookupError as exc:
            raise TargetError(str(exc)) from None
        if not wait:
            runs = await runtime.engine.list_runs(event_id=event_id)
            return {"eventId": event_id, "runId": runs[0].run_id if runs else None}
        try:
            [run, *_] = await runtime.engine.wait_for_runs(event_id, timeout=wait)
        except TimeoutError:
            runs = await runtime.engine.list_runs(event_id=event_id)
            return {"eventId": event_id, "run": run_v2(runs[0]) if runs else None}
        return {"eventId": event_id, "run": run_v2(run)}

    async def sync(self, url: str) -> dict[str, Any]:
        runtime = await self.runtime()
        problem = await runtime.syncer.ping(url)
        if problem is not None:
            raise TargetError(f"{url}: {problem}")
        synced = [a for a in runtime.catalog.apps() if a.url.rstrip("/") == url.rstrip("/")]
        return app_v2(synced[0], functions=0) if synced else {"url": url}

    async def remove(self, name: str) -> None:
        runtime = await self.runtime()
        app = runtime.catalog.get(name)
        if app is None:
            raise TargetError(f"no app named {name!r}")
        await runtime.syncer.forget(app.url)
