"""The worker's broker and database; imported before any actor module so actors bind to it."""

from __future__ import annotations

import os
import sys

import dramatiq

from actors.envelope import CheckedJSONEncoder
from actors.middleware import LogContext, RedeliveryLane
from core.config import Settings
from core.logs import configure_logging
from core.messaging.broker import build_broker
from core.messaging.dispatch import Dispatcher
from core.storage import db

#: Settings of the worker process, read once.
settings = Settings.from_env()
configure_logging(settings)
#: True in processes started by the ``dramatiq`` command (not in the scheduler, which only sends).
IS_WORKER = os.path.basename(sys.argv[0]) == "dramatiq"
# No pre-ping in the worker: a connection that died with the database fails the claim before it counts an attempt;
# SQLAlchemy then drops the pool and Dramatiq retries the message after its backoff. A ping per
# checkout costs a round trip per statement here (a quarter of a check's time, docs/BENCHMARKS.md).
db.configure(settings.database_url, pre_ping=not IS_WORKER, prepared=settings.database_prepared)

#: The global broker every actor in this package is declared on.
broker = build_broker(settings, role="worker")
broker.add_middleware(LogContext())
broker.add_middleware(RedeliveryLane())
if settings.worker_metrics and IS_WORKER:
    # The exposition server runs in a process forked from Dramatiq's main process, which never
    # imports this module: its port and database path can only come from Dramatiq's own
    # environment variables (dramatiq_prom_port, default 9191; dramatiq_prom_db). Parley's
    # fork function binds it to dramatiq_prom_host or, unlike Dramatiq's 0.0.0.0, to loopback.
    from core.messaging.prometheus import LoopbackPrometheus

    broker.add_middleware(LoopbackPrometheus())
dramatiq.set_encoder(CheckedJSONEncoder())
dramatiq.set_broker(broker)
#: How actors send follow-up messages: the one dispatcher, from the actor's own thread and connection.
dispatcher = Dispatcher(broker, timeout=None)
