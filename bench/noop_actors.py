"""The Dramatiq ceiling: a no-op actor on the same broker settings as Parley's worker.

Run as ``dramatiq bench.noop_actors --processes 2 --threads 8`` with ``BROKER_URL`` and ``BENCH_PG_DSN``
set. The actor only bumps an in-memory counter; a background thread per process adds the counter to
PostgreSQL every 20 ms (``bench_noop_counts``), so counting costs the actor nothing measurable.
"""

from __future__ import annotations

import itertools
import os
import threading
import time

import dramatiq
import psycopg2
from dramatiq.brokers.rabbitmq import RabbitmqBroker

QUEUE = "noop"
ACTOR = "noop"
FLUSH_SECONDS = 0.02
TABLE_SQL = "CREATE TABLE IF NOT EXISTS bench_noop_counts (pid integer PRIMARY KEY, n bigint NOT NULL)"

broker = RabbitmqBroker(url=os.environ.get("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/"), confirm_delivery=True)
dramatiq.set_broker(broker)

_processed = itertools.count(1)  # next() is atomic under the GIL
_last = [0]
_flusher: list[threading.Thread] = []
_flusher_lock = threading.Lock()


def _flush_forever() -> None:
    """Add this process's new count to PostgreSQL every FLUSH_SECONDS."""
    connection = psycopg2.connect(os.environ["BENCH_PG_DSN"])
    connection.autocommit = True
    pid = os.getpid()
    flushed = 0
    with connection.cursor() as cursor:
        while True:
            time.sleep(FLUSH_SECONDS)
            done = _last[0]
            if done != flushed:
                cursor.execute(
                    "INSERT INTO bench_noop_counts (pid, n) VALUES (%s, %s) "
                    "ON CONFLICT (pid) DO UPDATE SET n = EXCLUDED.n",
                    (pid, done),
                )
                flushed = done


def _ensure_flusher() -> None:
    """Start the flush thread once per worker process."""
    if _flusher:
        return
    with _flusher_lock:
        if not _flusher:
            thread = threading.Thread(target=_flush_forever, name="noop-flush", daemon=True)
            thread.start()
            _flusher.append(thread)


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=0)
def noop(n: int) -> None:
    """Do nothing but count."""
    _ensure_flusher()
    done = next(_processed)
    if done > _last[0]:
        _last[0] = done
