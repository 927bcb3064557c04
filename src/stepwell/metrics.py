"""Stepwell's Prometheus metrics, for an embedded app to expose (needs ``prometheus-client``,
e.g. ``pip install 'stepwell[observability]'``).

Start the engine with ``app.embedded(..., metrics=True)``, then either serve them yourself::

    body, content_type = await stepwell.metrics.exposition(engine)

(which reads the gauges of ``engine`` first), or add them to the registry you already expose::

    prometheus_client.REGISTRY.register(stepwell.metrics.registry)

and call ``await stepwell.metrics.refresh(engine)`` before each scrape for current gauges.
A server (``stepwell dev``/``start``) serves the same metrics at ``/metrics``.
"""

from stepwell.telemetry.prometheus import exposition, refresh, registry

__all__ = ["exposition", "refresh", "registry"]
