"""Apps synced over HTTP: validate a registration, swap the app's functions, persist it.

A re-sync with an identical payload changes nothing (``modified: false``); functions missing from
a re-sync are removed. The catalog survives restarts: it is stored with the runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from stepwell.core.backoff import clamp_retries
from stepwell.core.cron import CronError, check_jitter, parse_cron
from stepwell.core.expressions import ExpressionError, compile_expression
from stepwell.core.flow import FlowConfigError
from stepwell.core.limits import DEFAULT_RETRIES
from stepwell.engine.flow_config import read_cancel_on, read_flow
from stepwell.engine.registry import (
    CronTrigger,
    EventTrigger,
    FunctionSpec,
    Registry,
)
from stepwell.ports.clock import Clock
from stepwell.ports.records import AppRecord
from stepwell.ports.store import AppStore
from stepwell.protocol.durations import DurationError, parse_duration, to_ms
from stepwell.protocol.registration import (
    AppRegistration,
    RegistrationError,
    parse_registration,
)

log = logging.getLogger("stepwell.apps")


@dataclass(frozen=True, slots=True)
class SyncResult:
    app_uuid: str
    sync_id: str
    modified: bool
    removed: list[str]


def _checksum(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def specs_for(registration: AppRegistration) -> list[FunctionSpec]:
    """Engine specs for a registration; refuses bad expressions naming the field."""
    specs: list[FunctionSpec] = []
    for index, fn in enumerate(registration.functions):
        triggers: list[EventTrigger] = []
        crons: list[CronTrigger] = []
        for t_index, trigger in enumerate(fn.triggers):
            if trigger.event is not None:
                if trigger.expression:
                    try:
                        compile_expression(trigger.expression)
                    except ExpressionError as exc:
                        raise RegistrationError(
                            f"functions[{index}] ({fn.slug}).triggers[{t_index}].expression: {exc}"
                        ) from None
                triggers.append(EventTrigger(trigger.event, trigger.expression))
            elif trigger.cron is not None:
                where = f"functions[{index}] ({fn.slug}).triggers[{t_index}]"
                try:
                    parse_cron(trigger.cron)
                    if trigger.jitter:
                        check_jitter(to_ms(parse_duration(trigger.jitter)))
                except (CronError, DurationError) as exc:
                    raise RegistrationError(f"{where}: {exc}") from None
                crons.append(CronTrigger(trigger.cron, trigger.jitter))
        where = f"functions[{index}] ({fn.slug})"
        try:
            cancel_on = read_cancel_on(fn.raw.get("cancel"), where=f"{where}.cancel")
            flow = read_flow(fn.raw, where=where)
        except FlowConfigError as exc:
            raise RegistrationError(str(exc)) from None
        prefix = f"{registration.app_name}-"
        local = fn.slug.removeprefix(prefix) if fn.slug.startswith(prefix) else fn.slug
        specs.append(
            FunctionSpec(
                app_id=registration.app_name,
                local_id=local,
                name=fn.name,
                triggers=triggers,
                retries=clamp_retries(fn.retries) if fn.retries is not None else DEFAULT_RETRIES,
                url=fn.url,
                crons=crons,
                cancel_on=cancel_on,
                flow=flow,
                config=fn.raw,
                full_slug=fn.slug,
            )
        )
    return specs


class AppCatalog:
    def __init__(
        self,
        registry: Registry,
        store: AppStore,
        clock: Clock,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._on_change = on_change
        self._registry = registry
        self._store = store
        self._clock = clock
        self._apps: dict[str, AppRecord] = {}
        self._problems: dict[str, str] = {}
        self._local_syncs = 0  # bumped by each sync or removal made through this process

    @property
    def load_problems(self) -> dict[str, str]:
        """Stored apps that no longer parse, by name, with why: skipped, not served."""
        return dict(self._problems)

    def _take_in(self, app: AppRecord) -> bool:
        """Serve a stored app; one that no longer parses (stored by an older version, or by a
        bug) is reported and skipped so that the rest is served. Returns whether it was taken."""
        try:
            specs = specs_for(parse_registration(app.payload))
            self._registry.replace_app(app.name, specs)
        except (RegistrationError, ValueError) as exc:
            if self._problems.get(app.name) != str(exc):
                log.error("stored app %r is skipped: it no longer parses: %s", app.name, exc)
            self._problems[app.name] = str(exc)
            return False
        self._problems.pop(app.name, None)
        self._apps[app.name] = app
        return True

    async def load(self) -> None:
        """Bring back the apps synced before a restart."""
        for app in await self._store.list_apps():
            self._take_in(app)

    async def refresh(self) -> bool:
        """Take in apps other processes synced or removed (several servers, one database);
        returns whether anything changed."""
        synced_before = self._local_syncs
        stored = {app.name: app for app in await self._store.list_apps()}
        if self._local_syncs != synced_before:
            # This process synced or removed an app while the list was read: the list may
            # predate it (and would undo it). The next refresh reads a newer one.
            return False
        changed = False
        for name, app in stored.items():
            known = self._apps.get(name)
            if known is None or known.checksum != app.checksum:
                changed |= self._take_in(app)
        for name in [n for n in self._apps if n not in stored]:
            self._registry.replace_app(name, [])
            del self._apps[name]
            changed = True
        if changed and self._on_change is not None:
            await self._on_change()
        return changed

    def apps(self) -> list[AppRecord]:
        return list(self._apps.values())

    def get(self, name: str) -> AppRecord | None:
        return self._apps.get(name)

    async def sync(self, payload: Any) -> SyncResult:
        registration = parse_registration(payload)
        specs = specs_for(registration)
        checksum = _checksum(registration.raw)
        previous = self._apps.get(registration.app_name)
        sync_id = str(uuid.uuid4())
        if previous is not None and previous.checksum == checksum:
            log.debug("app %r synced again from %s: unchanged", registration.app_name, previous.url)
            return SyncResult(previous.app_uuid, sync_id, modified=False, removed=[])
        try:
            self._registry.check_replace(registration.app_name, specs)
        except ValueError as exc:
            raise RegistrationError(f"functions: {exc}") from None
        record = AppRecord(
            name=registration.app_name,
            url=registration.url,
            checksum=checksum,
            payload=registration.raw,
            # Named after the app, as function ids are after their slugs: processes that
            # sync one new app at once agree on its id, whichever write lands last.
            app_uuid=previous.app_uuid if previous else app_uuid_for(registration.app_name),
            synced_at=self._clock.now_ms(),
        )
        # Fully checked: store first, so a failed write leaves memory as it was too.
        self._local_syncs += 1
        await self._store.save_app(record)
        removed = self._registry.replace_app(registration.app_name, specs)
        self._apps[record.name] = record
        self._problems.pop(record.name, None)
        if self._on_change is not None:
            await self._on_change()
        log.info(
            "synced app %r from %s: %d function%s%s",
            record.name,
            record.url,
            len(specs),
            "" if len(specs) == 1 else "s",
            f"; removed {', '.join(removed)}" if removed else "",
            extra={"app": record.name, "url": record.url},
        )
        return SyncResult(record.app_uuid, sync_id, modified=True, removed=removed)

    async def remove_by_url(self, url: str) -> list[str]:
        """Forget every app served at ``url``; returns their names."""
        gone = [app.name for app in self._apps.values() if app.url == url]
        self._local_syncs += 1
        for name in gone:
            self._registry.replace_app(name, [])
            await self._store.delete_app(name)
            del self._apps[name]
        if gone and self._on_change is not None:
            await self._on_change()
        return gone


def app_uuid_for(app_name: str) -> str:
    """The id a newly synced app gets: the same in every process (``uuid5`` of its name)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stepwell:app:{app_name}"))
