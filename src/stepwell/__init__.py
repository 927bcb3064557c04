"""Stepwell: durable, event-driven workflows for Python, compatible with Inngest's SDKs."""

from stepwell.core.backoff import FixedBackoff, TableBackoff
from stepwell.core.cron import CronError
from stepwell.core.errors import (
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
from stepwell.sdk.client import Client
from stepwell.sdk.context import Context, SyncContext
from stepwell.sdk.determinism import NonDeterminismError
from stepwell.sdk.encryption import DecryptionError, EncryptionMiddleware
from stepwell.sdk.events import EventData, TypedEvent
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
from stepwell.sdk.serve import serve
from stepwell.sdk.triggers import on_cron, on_event

__version__ = "0.1.0"

__all__ = [
    "App",
    "Batch",
    "Cancel",
    "Client",
    "Concurrency",
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
