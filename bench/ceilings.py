"""Ceilings on this machine: what RabbitMQ, Dramatiq and a bare Flask insert-and-send can do at best.

- ``pika_publish``: one BlockingConnection with publisher confirms, persistent 300-byte messages to a durable
  queue, one at a time (what a web request that waits for its confirm can do, per connection).
- ``noop_drain``: N pre-filled messages of a no-op actor drained by ``dramatiq bench.noop_actors
  --processes 2 --threads 8`` (Parley's worker settings), timed from PostgreSQL counts every 20 ms.
- ``start_bare_web``: ``bench/bare_app.py`` under ``gunicorn --workers 2 --threads 4``; run_all.py drives
  it with the same load as Parley's ``POST /api/comments``.
"""

from __future__ import annotations

import time
from typing import Any

import pika
import psycopg2

from bench import drain
from bench.cpu import CpuMeter, Window
from bench.loadgen import percentile
from bench.noop_actors import ACTOR as NOOP_ACTOR
from bench.noop_actors import QUEUE as NOOP_QUEUE
from bench.noop_actors import TABLE_SQL as NOOP_TABLE_SQL
from bench.provision import BIN, free_port
from bench.services import Proc, Stack, http_answers

GUNICORN_ARGS = ["--workers", "2", "--threads", "4"]
WORKER_ARGS = ["--processes", "2", "--threads", "8"]


def pika_publish(stack: Stack, seconds: float, size: int = 300) -> dict[str, Any]:
    """Publish confirmed persistent messages for *seconds*; return msgs/s and per-publish latency."""
    queue = "bench_pika"
    connection = stack.amqp()
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    channel.confirm_delivery()
    body = b"x" * size
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    latencies: list[float] = []
    began = time.perf_counter()
    deadline = began + seconds
    while (now := time.perf_counter()) < deadline:
        channel.basic_publish(exchange="", routing_key=queue, body=body, properties=properties, mandatory=True)
        latencies.append(time.perf_counter() - now)
    elapsed = time.perf_counter() - began
    channel.queue_delete(queue)
    connection.close()
    return {
        "messages": len(latencies),
        "rate": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 99) * 1000, 3),
    }


def noop_worker(stack: Stack) -> Proc:
    """Start the no-op Dramatiq worker with Parley's process and thread counts."""
    cmd = [str(BIN / "dramatiq"), "bench.noop_actors", *WORKER_ARGS, "--worker-shutdown-timeout", "5000"]
    return stack.start("noop-worker", cmd, {"BROKER_URL": stack.broker_url, "BENCH_PG_DSN": stack.dsn})


def noop_drain(stack: Stack, count: int, meter: CpuMeter | None = None) -> dict[str, Any]:
    """Pre-fill *count* no-op messages, start the worker, and time the drain."""
    with psycopg2.connect(stack.dsn) as connection, connection.cursor() as cursor:
        cursor.execute(NOOP_TABLE_SQL)
        cursor.execute("DELETE FROM bench_noop_counts")
    drain.prefill_dramatiq(stack, NOOP_QUEUE, NOOP_ACTOR, ((i,) for i in range(count)))
    drain.wait_depth(stack, NOOP_QUEUE, count)
    reader = psycopg2.connect(stack.dsn)
    reader.autocommit = True
    series: list[tuple[float, int]] = []
    window = Window(meter, count)
    started = time.time()
    worker = noop_worker(stack)
    try:
        with reader.cursor() as cursor:
            deadline = time.monotonic() + max(120.0, count / 200)
            done = 0
            while done < count:
                if time.monotonic() > deadline or not worker.alive():
                    raise RuntimeError(f"no-op drain stuck at {done}/{count}:\n{worker.log()[-2000:]}")
                cursor.execute("SELECT coalesce(sum(n), 0) FROM bench_noop_counts")
                done = int(cursor.fetchone()[0])
                series.append((time.time(), done))
                window.see(done)
                time.sleep(0.02)
    finally:
        reader.close()
        stack.stop(worker)
    result = drain.rate_from_series(series, count, started)
    result["cpu"] = window.result()
    result["curve"] = [(round(t - started, 3), n) for t, n in series[:: max(1, len(series) // 200)]]
    return result


def start_bare_web(stack: Stack) -> tuple[Proc, str]:
    """Serve bench/bare_app.py with gunicorn (Parley's settings); return the process and the POST URL."""
    port = free_port()
    cmd = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", *GUNICORN_ARGS, "bench.bare_app:create_app()"]
    proc = stack.start("bare-web", cmd, {"DATABASE_URL": stack.db_url, "BROKER_URL": stack.broker_url})
    base = f"http://127.0.0.1:{port}"
    proc.wait_until(lambda: http_answers(base), 60, "the bare app to answer")
    return proc, f"{base}/ingest"
