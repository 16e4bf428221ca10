"""The worker's Prometheus middleware, whose exposition server listens on loopback unless told otherwise."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http.server import HTTPServer

from dramatiq.middleware import prometheus
from dramatiq.middleware.prometheus import Prometheus

from core.config import Settings

logger = logging.getLogger(__name__)


def run_exposition_server() -> int:
    """Serve Dramatiq's metrics on ``dramatiq_prom_host`` (127.0.0.1 by default) and ``dramatiq_prom_port``.

    Dramatiq's own fork function binds 0.0.0.0 unless ``dramatiq_prom_host`` is set, so anyone who can reach
    the host could read the worker's metrics; this one binds loopback unless the operator asks for more.
    """
    host, port = Settings.from_env().worker_metrics_host, prometheus.HTTP_PORT
    server = HTTPServer((host, port), prometheus._metrics_handler)
    logger.info("Worker metrics on http://%s:%d/", host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
    return 0


class LoopbackPrometheus(Prometheus):
    """Dramatiq's Prometheus middleware with :func:`run_exposition_server` as its fork function."""

    @property
    def forks(self) -> list[Callable[[], int]]:
        """Return the fork functions Dramatiq's main process starts: Parley's exposition server."""
        return [run_exposition_server]
