"""Adapters of the observability port (``stepwell.ports.telemetry``): logs (``logs``),
Prometheus metrics (``prometheus``), OpenTelemetry traces (``otel``), and ``setup``, which picks
them from the settings and the environment.

Nothing here is imported by ``import stepwell``; ``prometheus`` and ``otel`` import their
libraries, so they are only loaded when metrics or traces are wanted.
"""
