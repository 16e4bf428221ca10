"""Parley under load: its web (gunicorn), its worker (dramatiq actors), and the naive Celery peer.

All processes run production settings (``PARLEY_ENV=production``, metrics on, INFO logs) against the run's
private PostgreSQL database and RabbitMQ vhost. Two deliberate choices, stated in docs/BENCHMARKS.md:
the rate limit stays on (with a limit no test reaches) and clients come from 1,000 addresses via
``X-Forwarded-For`` with ``PROXY_HOPS=1``, so the limiter costs what it costs on a real site.
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select, text

from bench import drain
from bench.ceilings import GUNICORN_ARGS, WORKER_ARGS
from bench.cpu import CpuMeter, Window, summarize
from bench.loadgen import LoadResult, open_loop, percentile
from bench.provision import BIN, free_port
from bench.services import Proc, Stack, children, cmdline, http_answers, memory_of
from bench.workload import bodies
from core.messaging.broker import CHECK_PROFANITY, MODERATION_QUEUE, TRANSLATE_COMMENT, TRANSLATION_QUEUE
from core.storage.models import Comment, Status, Translation, TranslationStatus

CELERY_QUEUE = "celery_naive"


def parley_env(stack: Stack, translator_url: str, **extra: str) -> dict[str, str]:
    """Return the environment of Parley's web and worker for this run."""
    env = {
        "DATABASE_URL": stack.db_url,
        "BROKER_URL": stack.broker_url,
        "PARLEY_ENV": "production",
        "SECRET_KEY": secrets.token_hex(24),
        "LOG_LEVEL": "INFO",
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "PROXY_HOPS": "1",
        "TRANSLATION_PROVIDER": "libre",
        "TRANSLATION_URL": translator_url,
        "TRANSLATION_TARGETS": "en",
        "WORKER_METRICS_PORT": str(free_port()),
        "SCHEDULER_HEALTH_PORT": str(free_port()),
        "dramatiq_restart_delay": "500",
    }
    env.update(extra)
    return env


def start_web(stack: Stack, env: dict[str, str]) -> tuple[Proc, str]:
    """Start ``gunicorn --workers 2 --threads 4 'webapp:create_app()'``; return it and its base URL."""
    port = free_port()
    cmd = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", *GUNICORN_ARGS, "webapp:create_app()"]
    proc = stack.start("parley-web", cmd, env)
    base = f"http://127.0.0.1:{port}"
    proc.wait_until(lambda: http_answers(base), 60, "Parley's web to answer")
    return proc, base


def start_worker(stack: Stack, env: dict[str, str], queues: tuple[str, ...] = ()) -> Proc:
    """Start ``dramatiq actors --processes 2 --threads 8`` (on *queues* only, if given); wait until both consume."""
    cmd = [str(BIN / "dramatiq"), "actors", *WORKER_ARGS, "--worker-shutdown-timeout", "5000"]
    if queues:
        cmd += ["--queues", *queues]
    proc = stack.start("parley-worker", cmd, env)
    proc.wait_until(lambda: proc.log().count("Worker process is ready for action.") >= 2, 90, "worker ready")
    return proc


def process_memory(root: Proc, kind: str) -> list[dict[str, Any]]:
    """Return the memory of *root*'s child processes (gunicorn/dramatiq/celery workers), labelled."""
    out = []
    for pid in children(root.pid):
        info = memory_of(pid)
        try:
            threads = int(next(line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("Threads:")))
        except (OSError, StopIteration):
            threads = 0
        info.update({"kind": kind, "threads": threads, "cmd": cmdline(pid)[:80]})
        out.append(info)
    parent = memory_of(root.pid)
    parent.update({"kind": f"{kind} (parent)", "threads": 0, "cmd": cmdline(root.pid)[:80]})
    return [parent, *out]


def engine_for(stack: Stack) -> Engine:
    """Return an engine on the private database for the bench process itself."""
    return create_engine(stack.db_url, pool_size=2)


def insert_comments(
    engine: Engine, count: int, *, tag: str, lang: str, status: str = Status.PENDING,
    translate_to: str | None = None,
) -> list[int]:
    """Insert *count* comments (300-character texts, 10 % profane) and optionally a pending translation each."""
    texts = bodies()
    now = datetime.now(UTC)
    rows = [
        {
            "thread": f"{tag}/t{i % 50}", "author": f"reader {i % 97}", "body": texts[i % len(texts)], "lang": lang,
            "status": status, "created_at": now, "updated_at": now, "check_attempts": 0, "dispatch_attempts": 0,
            "checked_at": now if status != Status.PENDING else None,
        }
        for i in range(count)
    ]
    table = Comment.__table__
    with engine.begin() as connection:
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids = list(connection.execute(statement, rows).scalars())
        if translate_to:
            connection.execute(
                insert(Translation.__table__),
                [{"comment_id": i, "lang": translate_to, "status": TranslationStatus.PENDING, "attempts": 0,
                  "redispatches": 0, "created_at": now, "updated_at": now} for i in ids],
            )
    # A running system's autovacuum analyses a table after 10 % of its rows changed: without this, the
    # planner would drain a backlog with the statistics of the empty table (every pending row in a scan).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE comments; ANALYZE translations"))
    return ids


def _wait_all(
    engine: Engine, query: Any, total: int, timeout: float, worker: Proc | None, what: str, window: Window | None = None
) -> None:
    """Poll *query* (a count) every 0.25 s until it reaches *total*; let *window* snapshot the CPU on the way."""
    deadline = time.monotonic() + timeout
    done = 0
    while done < total:
        if window is not None:
            window.see(done)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: {done}/{total} after {timeout:.0f} s")
        if worker is not None and not worker.alive():
            raise RuntimeError(f"{what}: worker died:\n{worker.log()[-2000:]}")
        time.sleep(0.25)
        with engine.connect() as connection:
            done = connection.execute(query).scalar_one()


def _epochs(engine: Engine, query: Any) -> list[float]:
    """Return the datetimes selected by *query* as epoch seconds."""
    with engine.connect() as connection:
        return [value.timestamp() for value in connection.execute(query).scalars() if value is not None]


def moderation_drain(
    stack: Stack, engine: Engine, env: dict[str, str], count: int, meter: CpuMeter | None = None,
    queues: tuple[str, ...] = (), done: Any = None,
) -> tuple[dict[str, Any], Proc]:
    """Pre-insert *count* pending English comments, queue their checks, start the worker, time the drain.

    The comments have no translation rows (their language is the only target), so only checks run. The worker
    consumes *queues* (all if empty); a comment counts as done by *done* (default: no longer pending).
    Returns the figures and the still-running worker.
    """
    ids = insert_comments(engine, count, tag="drain", lang="en")
    drain.prefill_dramatiq(stack, MODERATION_QUEUE, CHECK_PROFANITY, ((i,) for i in ids))
    drain.wait_depth(stack, MODERATION_QUEUE, count)
    started = time.time()
    worker = start_worker(stack, env, queues)
    ready = time.time()
    lo, hi = ids[0], ids[-1]
    in_range = (Comment.id >= lo) & (Comment.id <= hi)
    window = Window(meter, count)
    finished = Comment.status != Status.PENDING if done is None else done
    _wait_all(engine, select(func.count()).where(in_range, finished), count,
              max(120.0, count / 20), worker, "moderation drain", window)
    times = _epochs(engine, select(Comment.checked_at).where(in_range))
    result = drain.rate_from_times(times, started)
    result["cpu"] = window.result()
    result["worker_startup_s"] = round(ready - started, 2)
    with engine.connect() as connection:
        statuses = dict(connection.execute(
            select(Comment.status, func.count()).where(in_range).group_by(Comment.status)).all())
    result["outcomes"] = statuses
    result["curve"] = drain.curve(times, started)
    return result, worker


def translation_drain(
    stack: Stack, engine: Engine, env: dict[str, str], count: int, meter: CpuMeter | None = None
) -> tuple[dict[str, Any], Proc]:
    """Pre-insert *count* published French comments with a pending English translation, drain them."""
    ids = insert_comments(engine, count, tag="translate", lang="fr", status=Status.PUBLISHED, translate_to="en")
    drain.prefill_dramatiq(stack, TRANSLATION_QUEUE, TRANSLATE_COMMENT, ((i, "en") for i in ids))
    drain.wait_depth(stack, TRANSLATION_QUEUE, count)
    started = time.time()
    worker = start_worker(stack, env)
    lo, hi = ids[0], ids[-1]
    in_range = (Translation.comment_id >= lo) & (Translation.comment_id <= hi)
    window = Window(meter, count)
    _wait_all(engine, select(func.count()).where(in_range, Translation.status != TranslationStatus.PENDING), count,
              max(120.0, count / 20), worker, "translation drain", window)
    times = _epochs(engine, select(Translation.updated_at).where(in_range))
    result = drain.rate_from_times(times, started)
    result["cpu"] = window.result()
    with engine.connect() as connection:
        result["outcomes"] = dict(connection.execute(
            select(Translation.status, func.count()).where(in_range).group_by(Translation.status)).all())
    result["curve"] = drain.curve(times, started)
    return result, worker


def e2e_steady(
    engine: Engine, url: str, bodies_for: Any, rate: float, seconds: float, meter: CpuMeter | None = None
) -> dict[str, Any]:
    """Offer *rate* POSTs/s for *seconds* (open loop), then read POST→checked latency from the database.

    A 2-second warm-up at the same rate goes first (not counted), so no figure includes a cold start.
    """
    open_loop(url, bodies_for, rate, 2.0, clients=32)
    before = meter.snapshot() if meter else None
    load: LoadResult = open_loop(url, bodies_for, rate, seconds, clients=32)
    cpu = summarize(*CpuMeter.diff(before, meter.snapshot()), len(load.ids)) if meter and before else None
    ids = sorted(load.ids)
    if not ids:
        raise RuntimeError(f"steady load got no 202: {load.summary()}")
    where = Comment.id.in_(ids)
    _wait_all(engine, select(func.count()).where(where, Comment.status != Status.PENDING), len(ids), 60, None,
              "end-to-end checks")
    with engine.connect() as connection:
        rows = connection.execute(select(Comment.created_at, Comment.checked_at, Comment.status).where(where)).all()
        translations = connection.execute(
            select(Comment.created_at, Translation.updated_at)
            .join(Translation, Translation.comment_id == Comment.id)
            .where(where, Translation.status == TranslationStatus.DONE)
        ).all()
    checked = [(c - a).total_seconds() for a, c, s in rows if s in (Status.PUBLISHED, Status.FLAGGED)]
    translated = [(u - a).total_seconds() for a, u in translations]
    post = load.summary()
    return {
        "offered_rps": rate,
        "seconds": seconds,
        "posted": len(ids),
        "achieved_rps": round(load.rps, 1),
        "late_starts": load.late_starts,
        "post": {k: post[k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "statuses", "errors")},
        "checked": len(checked),
        "e2e_p50_ms": round(percentile(checked, 50) * 1000, 2),
        "e2e_p90_ms": round(percentile(checked, 90) * 1000, 2),
        "e2e_p99_ms": round(percentile(checked, 99) * 1000, 2),
        "e2e_max_ms": round(max(checked) * 1000, 2) if checked else None,
        "translated": len(translated),
        "translation_p50_ms": round(percentile(translated, 50) * 1000, 2),
        "translation_p99_ms": round(percentile(translated, 99) * 1000, 2),
        "e2e_ms_sorted_sample": [round(v * 1000, 2) for v in sorted(checked)[:: max(1, len(checked) // 400)]],
        "cpu": cpu,
    }


def celery_worker(stack: Stack) -> Proc:
    """Start the naive peer: ``celery -A bench.peers.celery_naive.tasks worker --concurrency 2 --pool prefork``."""
    cmd = [str(BIN / "celery"), "-A", "bench.peers.celery_naive.tasks", "worker", "--concurrency", "2",
           "--pool", "prefork", "--loglevel", "INFO", "-Q", CELERY_QUEUE, "-n", f"naive-{stack.name}@%h"]
    return stack.start("celery-worker", cmd, {"BROKER_URL": stack.broker_url, "DATABASE_URL": stack.db_url})


def celery_drain(
    stack: Stack, engine: Engine, count: int, meter: CpuMeter | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Queue *count* checks with Celery's own client, start the peer's worker, time the drain; also its memory."""
    os.environ["BROKER_URL"] = stack.broker_url  # read by the peer's module at import
    os.environ["DATABASE_URL"] = stack.db_url
    from bench.peers.celery_naive import tasks

    tasks.app.conf.broker_url = stack.broker_url
    ids = insert_comments(engine, count, tag="celery", lang="en")
    with tasks.app.producer_or_acquire() as producer:
        for comment_id in ids:
            tasks.check.apply_async((comment_id,), producer=producer)
    drain.wait_depth(stack, CELERY_QUEUE, count)
    started = time.time()
    worker = celery_worker(stack)
    lo, hi = ids[0], ids[-1]
    in_range = (Comment.id >= lo) & (Comment.id <= hi)
    window = Window(meter, count)
    try:
        _wait_all(engine, select(func.count()).where(in_range, Comment.status != Status.PENDING), count,
                  max(180.0, count / 2), worker, "celery drain", window)
        memory = process_memory(worker, "celery")
    finally:
        stack.stop(worker)
    times = _epochs(engine, select(Comment.checked_at).where(in_range))
    result = drain.rate_from_times(times, started)
    result["cpu"] = window.result()
    with engine.connect() as connection:
        result["outcomes"] = dict(connection.execute(
            select(Comment.status, func.count()).where(in_range).group_by(Comment.status)).all())
    result["curve"] = drain.curve(times, started)
    return result, memory
