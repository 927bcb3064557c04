"""Stepwell: durable, event-driven workflows for Python, compatible with Inngest's SDKs.

``import stepwell`` loads the engine and the SDK, not the optional heavy parts: ``EventData``
(Pydantic), ``Client`` (httpx) and ``serve`` (Starlette) are imported the first time they are
asked for, so an embedded app that uses none of them starts without them.
"""

import importlib
from typing import TYPE_CHECKING, Any

from stepwell.core.backoff import FixedBackoff, TableBackoff
from stepwell.core.cron import CronError
from stepwell.core.errors import (
    ConfigError,
    NestedStepError,
    NonRetriableError,
    RetryAfterError,
    StepError,
    StepOutputError,
    StepwellError,
)
from stepwell.core.expressions import ExpressionError
from stepwell.core.flow import FlowConfigError
from stepwell.core.runs import RunStatus
from stepwell.engine.engine import Engine
from stepwell.engine.ingest import InvalidEventError
from stepwell.engine.invocation import InvocationError
from stepwell.ports.records import RunRecord as Run
from stepwell.protocol.events import Event
from stepwell.sdk import ai
from stepwell.sdk.app import App
from stepwell.sdk.context import Context, SyncContext
from stepwell.sdk.determinism import NonDeterminismError
from stepwell.sdk.encryption import DecryptionError, EncryptionMiddleware
from stepwell.sdk.events import TypedEvent
from stepwell.sdk.fetch import FetchResponse
from stepwell.sdk.flow_types import (
    Batch,
    Cancel,
    Concurrency,
    Debounce,
    DurationError,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
)
from stepwell.sdk.function import Function
from stepwell.sdk.middleware import Middleware
from stepwell.sdk.triggers import on_cron, on_event

if TYPE_CHECKING:
    from stepwell.sdk.client import Client
    from stepwell.sdk.event_data import EventData
    from stepwell.sdk.serve.asgi import serve

# Public names whose modules import a heavy library, by the module that defines them.
_LAZY = {
    "Client": "stepwell.sdk.client",
    "EventData": "stepwell.sdk.event_data",
    "serve": "stepwell.sdk.serve.asgi",
}


def __getattr__(name: str) -> Any:
    if name == "metrics":  # the module itself (it imports prometheus_client)
        return importlib.import_module("stepwell.metrics")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stepwell' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

__all__ = [
    "App",
    "Batch",
    "Cancel",
    "Client",
    "Concurrency",
    "ConfigError",
    "Context",
    "CronError",
    "Debounce",
    "DecryptionError",
    "DurationError",
    "EncryptionMiddleware",
    "Engine",
    "Event",
    "EventData",
    "ExpressionError",
    "FetchResponse",
    "FixedBackoff",
    "FlowConfigError",
    "Function",
    "InvalidEventError",
    "InvocationError",
    "Middleware",
    "NestedStepError",
    "NonDeterminismError",
    "NonRetriableError",
    "Priority",
    "RateLimit",
    "RetryAfterError",
    "Run",
    "RunStatus",
    "Singleton",
    "StepError",
    "StepOutputError",
    "StepwellError",
    "SyncContext",
    "TableBackoff",
    "Throttle",
    "Timeouts",
    "TypedEvent",
    "__version__",
    "ai",
    "on_cron",
    "on_event",
    "serve",
]
