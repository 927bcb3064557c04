"""How a server runs: ``stepwell dev`` (permissive) or ``stepwell start`` (keys, signing)."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_PORT = 8288
DEFAULT_DISCOVERY_PORTS = (
    80,
    443,
    *range(3000, 3011),
    4321,
    5000,
    5173,
    8000,
    8080,
    8081,
    8888,
    *range(8910, 8916),
    8787,
)
DISCOVERY_PATHS = (
    "/api/inngest",
    "/x/inngest",
    "/.netlify/functions/inngest",
    "/.redwood/functions/inngest",
)


@dataclass(slots=True)
class ServerConfig:
    dev: bool = True
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    database: str = "sqlite:///.stepwell/dev.db"
    sdk_urls: list[str] = field(default_factory=list)
    retry_interval_s: float | None = None
    poll_interval_s: float = 5.0
    lease_s: float = 30.0
    """How long a process holds work it claimed without renewing: after it dies, that long
    until another takes the work over."""
    discovery: bool = True
    signing_key: str | None = None
    signing_key_fallback: str | None = None
    dashboard_key: str | None = None
    """What the dashboard asks for in production instead of the signing key, when set."""
    dashboard_session_ttl_s: int = 12 * 3600
    """How long a dashboard login lasts (production)."""
    """A second accepted key, so keys rotate with no downtime (calls signed with either pass)."""
    event_keys: list[str] = field(default_factory=list)
    max_event_bytes: int = 3 * 1024 * 1024
    """Inngest's absolute maximum for one event in server mode."""
    retention_ms: int | None = None
    """Ended runs and unneeded events older than this are deleted in small batches; None keeps
    everything."""
    apps: list[str] = field(default_factory=list)
    connect_port: int | None = None
    """The Connect gateway's port (workers' WebSockets); None: ``port + 1``, as Inngest's."""
    connect_lease_s: float = 20.0
    """How long a Connect worker holds a request without extending its lease: after it dies,
    that long until the request is sent to another worker."""
    connect_heartbeat_s: float = 10.0
    """The heartbeat interval Connect workers are told; silent for 3 of them, one is dropped."""
    """``MODULE:ATTR`` of apps on our SDK to serve at ``/api/inngest`` on this port (``--app``)."""
    log_level: str = "info"
    log_format: str = "text"
    """``text`` or ``json`` (one object a line, with run id, function, step and attempt)."""
    metrics_public: bool = False
    """``/metrics`` answers without the signing key in production (``--metrics-public``)."""

    @property
    def signing_keys(self) -> list[str]:
        """Every signing key a caller may authenticate with: the current one, then the fallback."""
        return [k for k in (self.signing_key, self.signing_key_fallback) if k]

    @property
    def gateway_port(self) -> int:
        return self.connect_port if self.connect_port is not None else self.port + 1

    @property
    def server_kind(self) -> str:
        return "dev" if self.dev else "cloud"

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"
