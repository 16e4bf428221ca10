"""The worker's broker and database; imported before any actor module so actors bind to it."""

from __future__ import annotations

import os
import sys
import tempfile

import dramatiq

from actors.middleware import LogContext
from core import db
from core.broker import build_broker
from core.config import Settings
from core.logs import configure_logging

#: Settings of the worker process, read once.
settings = Settings.from_env()
configure_logging(settings)
db.configure(settings.database_url)

#: The global broker every actor in this package is declared on.
broker = build_broker(settings, role="worker")
broker.add_middleware(LogContext())
#: True in processes started by the ``dramatiq`` command (not in the scheduler, which only sends).
IS_WORKER = os.path.basename(sys.argv[0]) == "dramatiq"
if settings.worker_metrics_port and IS_WORKER:
    # Dramatiq reads its exposition port and database path from the environment at import;
    # set them from our settings instead (one place reads the environment).
    import dramatiq.middleware.prometheus as prometheus

    prometheus.HTTP_PORT = settings.worker_metrics_port
    prometheus.DB_PATH = os.path.join(tempfile.gettempdir(), f"parley-metrics-{settings.worker_metrics_port}")
    os.makedirs(prometheus.DB_PATH, exist_ok=True)
    broker.add_middleware(prometheus.Prometheus())
dramatiq.set_broker(broker)
