"""The hot statements with and without SQL PREPARE, on direct PostgreSQL and through PgBouncer (transaction pooling).

For each mode, in this process: *threads* threads store *count* comments through the POST's one-statement insert
(core.comments.intake.accept, rate limit on), then check them in batches of *batch* (the check's claim and
record, core.moderation.checking.check_comments). Prints comments/s of each phase as JSON; a private database
on the shared PostgreSQL and a private PgBouncer (bench/pgbouncer.py), both removed at the end.

    .venv/bin/python -m bench.bench_pgbouncer [--count 4000] [--threads 4] [--batch 1] [--pool-size 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from bench.pgbouncer import PgBouncer
from bench.provision import create_pg_database, drop_pg_database, migrate, unique
from core.comments.intake import accept
from core.comments.validation import NewComment
from core.moderation import checking
from core.storage import db


def _timed(work: Callable[[Any], Any], items: Sequence[Any], threads: int) -> tuple[float, list[Any]]:
    """Run *work* on each of *items* from *threads* threads; return the seconds taken and the results."""
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, items))
    return time.perf_counter() - started, results


def run_mode(url: str, prepared: bool, count: int, threads: int, batch: int) -> dict[str, Any]:
    """Store then check *count* comments on *url*; return each phase's comments/s (or the error that stopped it)."""
    db.configure(url, prepared=prepared)
    now = datetime.now(UTC)

    def store(n: int) -> int:
        new = NewComment(thread=f"bench/{n % 50}", author="Ada", body=f"a calm remark number {n}", lang="en")
        return accept(new, ["fr"], key=f"bench:{n % 1000}", limit=1_000_000, now=now)

    def check(ids: list[int]) -> int:
        return len(checking.check_comments(ids, max_attempts=5))

    try:
        seconds, ids = _timed(store, range(count), threads)
        out: dict[str, Any] = {"post_insert_per_s": round(count / seconds)}
        batches = [ids[i:i + batch] for i in range(0, len(ids), batch)]
        seconds, checked = _timed(check, batches, threads)
        out["check_per_s"] = round(sum(checked) / seconds)
    except Exception as exc:  # the failure mode is the result (prepared statements through PgBouncer)
        out = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
    db.configure("sqlite://")  # release the pool before the next mode (and before dropping the database)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Measure direct+prepared, direct+unprepared, pgbouncer+unprepared and pgbouncer+prepared; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--pool-size", type=int, default=4, help="PgBouncer's server connections (default_pool_size)")
    parser.add_argument("--rounds", type=int, default=2, help="each mode this many times, interleaved (best kept)")
    args = parser.parse_args(argv)
    name = unique("parley_bench_pgb")
    direct = create_pg_database(name)
    migrate(direct)
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        with PgBouncer(pool_size=args.pool_size) as bouncer:
            modes = {"direct+prepared": (direct, True), "direct+unprepared": (direct, False),
                     "pgbouncer+unprepared": (bouncer.url(direct), False),
                     "pgbouncer+prepared": (bouncer.url(direct), True)}
            for _ in range(args.rounds):
                for mode, (url, prepared) in modes.items():
                    results.setdefault(mode, []).append(run_mode(url, prepared, args.count, args.threads, args.batch))
    finally:
        drop_pg_database(name)
    print(json.dumps({"args": vars(args), "runs": results, "summary": summarize(results)}, indent=1))


def summarize(results: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Return each mode's median and best of each figure over the rounds that ran, the rounds that failed and why."""
    summary: dict[str, dict[str, Any]] = {}
    for mode, runs in results.items():
        figures = [run for run in runs if "error" not in run]
        errors = [run["error"] for run in runs if "error" in run]
        summary[mode] = {f"{key}_{name}": pick([run[key] for run in figures])
                         for key in (figures[0] if figures else ())
                         for name, pick in (("median", statistics.median), ("best", max))}
        summary[mode]["failed_rounds"] = len(errors)
        if errors:
            summary[mode]["errors"] = sorted(set(errors))
    return summary


if __name__ == "__main__":
    main()
