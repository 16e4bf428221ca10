"""The offensive-language model's stage: batched vs one comment per message, and the moderation drain with it.

Usage (from the repository root):  .venv/bin/python bench/bench_classification.py [--comments N] [--drain N]

1. The stage in this process on a private PostgreSQL database: N comments awaiting the model, classified by
   8 threads through a GroupCommit (as the ``classification`` actor batches a worker's messages) and, on as
   many other comments, one ``classify_comments([id])`` call each (one message, one model call, one
   transaction per comment). Reported: comments/s and comments/s per core of this process's CPU (the
   database's own CPU is not counted). The model is loaded before the clock starts.
2. The moderation drain (bench/parley_runs.moderation_drain: pre-filled check messages, then ``dramatiq
   actors`` with Parley's process and thread counts) with OFFENSIVE_MODEL=off and =on (before_publish: a
   comment is done once classified, so the rate is taken from ``classified_at`` where it is set), against the
   Dramatiq no-op drain on the same stack, in --rounds rounds (each drain against its own round's ceiling; the
   median ratio is reported). Target: at least 0.25x the no-op ceiling with the stage on.
   ``moderation_model_on_check_only``: the stage on, but the worker consumes the ``moderation`` queue only (in
   production the model runs in its own ``classification`` workers, so it never slows the word-list check); the
   rate is of comments checked, and their classification messages wait for those workers (purged after).
   Each drain reports the CPU of each process group per comment (``cpu``) in its steady window.

bench/run_all.py runs its moderation drain with the model as ``--offensive-model`` says (off by default, the
figure comparable with earlier runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, update  # noqa: E402

from bench import ceilings, drain, parley_runs  # noqa: E402
from bench.cpu import CpuMeter  # noqa: E402
from bench.services import RESULTS, Stack  # noqa: E402
from core.config import Settings  # noqa: E402
from core.messaging.broker import CLASSIFICATION_QUEUE, MODERATION_QUEUE  # noqa: E402
from core.moderation import classifying  # noqa: E402
from core.signals import model  # noqa: E402
from core.storage import db  # noqa: E402
from core.storage.batching import GroupCommit  # noqa: E402
from core.storage.models import Comment, utcnow  # noqa: E402


def awaiting(engine: Any, count: int, tag: str) -> list[int]:
    """Insert *count* English comments as the check leaves them for the model (pending, checked)."""
    ids = parley_runs.insert_comments(engine, count, tag=tag, lang="en")
    with engine.begin() as connection:
        connection.execute(update(Comment).where(Comment.id.in_(ids)).values(checked_at=utcnow()))
    return ids


def batched(ids: list[int], settings: Settings, threads: int) -> dict[str, float]:
    """Classify *ids* from *threads* threads through one GroupCommit; return the figures."""
    group: GroupCommit[int, Any] = GroupCommit(lambda batch: classifying.classify_comments(batch, settings))
    shares = [ids[i::threads] for i in range(threads)]
    sizes: list[int] = []
    real = classifying.classify_comments

    def counting(batch: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(batch))
        return real(batch, *args, **kwargs)

    classifying.classify_comments = counting  # type: ignore[assignment]
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        workers = [threading.Thread(target=lambda share=share: [group.submit(i) for i in share]) for share in shares]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        classifying.classify_comments = real  # type: ignore[assignment]
    return {"comments": len(ids), "threads": threads, "seconds": round(wall, 3), "per_s": round(len(ids) / wall, 1),
            "per_core_s": round(len(ids) / cpu, 1), "mean_batch": round(sum(sizes) / len(sizes), 1)}


def one_by_one(ids: list[int], settings: Settings) -> dict[str, float]:
    """Classify *ids* one call each (one message per comment, no batching); return the figures."""
    cpu, wall = time.process_time(), time.perf_counter()
    for comment_id in ids:
        classifying.classify_comments([comment_id], settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"comments": len(ids), "seconds": round(wall, 3), "per_s": round(len(ids) / wall, 1),
            "per_core_s": round(len(ids) / cpu, 1)}


def stage(stack: Stack, engine: Any, count: int, threads: int) -> dict[str, Any]:
    """Measure the stage batched and one comment at a time on *count* comments each."""
    db.configure(stack.db_url)
    settings = Settings(database_url=stack.db_url, offensive_model=True)
    model.scores(["warm-up"])
    result = {"batched": batched(awaiting(engine, count, "batched"), settings, threads),
              "one_by_one": one_by_one(awaiting(engine, count, "single"), settings)}
    result["speedup_per_core"] = round(result["batched"]["per_core_s"] / result["one_by_one"]["per_core_s"], 2)
    return result


def moderation_drain(stack: Stack, engine: Any, count: int, model_on: bool, check_only: bool = False) -> dict[str, Any]:
    """Run the moderation drain with the model off or on; the rate is of comments done (classified if awaited).

    With *check_only* the worker consumes the ``moderation`` queue alone: the rate is of comments checked.
    """
    env = parley_runs.parley_env(stack, "http://127.0.0.1:9/", OFFENSIVE_MODEL="on" if model_on else "off",
                                 SIGNALS_POLICY="before_publish")
    if check_only:
        result, worker = parley_runs.moderation_drain(stack, engine, env, count, CpuMeter(stack),
                                                      queues=(MODERATION_QUEUE,), done=Comment.checked_at.is_not(None))
        stack.stop(worker)
        result["classification_waiting"] = stack.queue_depth(CLASSIFICATION_QUEUE)
        stack.purge(CLASSIFICATION_QUEUE)  # its comments stay pending: they are not the next drain's
    else:
        result, worker = parley_runs.moderation_drain(stack, engine, env, count, CpuMeter(stack))
        stack.stop(worker)
    if model_on and not check_only:
        with engine.connect() as connection:
            last = connection.execute(select(func.max(Comment.id))).scalar_one()
            done = select(func.coalesce(Comment.classified_at, Comment.checked_at)).where(Comment.id > last - count)
            times = [value.timestamp() for value in connection.execute(done).scalars() if value is not None]
            classified = connection.execute(select(func.count()).where(
                Comment.id > last - count, Comment.classified_at.is_not(None))).scalar_one()
        figures = drain.rate_from_times(times, min(times))  # only the steady window's rate is taken from it
        result.update(rate_checked=result["rate"], rate=figures["rate"],
                      seconds_first_to_last=figures["seconds_first_to_last"], classified=classified)
    result.pop("curve", None)
    return result


#: The drains of a round, compared with that round's no-op ceiling: (name, model on, check only).
DRAINS = (("moderation_model_off", False, False), ("moderation_model_on", True, False),
          ("moderation_model_on_check_only", True, True))


def drain_rounds(stack: Stack, engine: Any, count: int, noop: int, rounds: int) -> dict[str, Any]:
    """Run *rounds* rounds of the no-op ceiling and the three drains (order rotated each round, so drift hits all
    alike); each drain's ratio is to its own round's ceiling. Return each drain's last round with every round's
    rate and ratio, and ``vs_noop``: the median ratio (the ceiling alone moves by a third between runs here)."""
    out: dict[str, Any] = {"noop_drain": {"rounds": []}, **{name: {"rounds": []} for name, _on, _only in DRAINS}}
    for n in range(rounds):
        ceiling = {k: v for k, v in ceilings.noop_drain(stack, noop).items() if k != "curve"}
        out["noop_drain"] = {**ceiling, "rounds": [*out["noop_drain"]["rounds"], ceiling["rate"]]}
        for name, on, check_only in DRAINS[n % 3:] + DRAINS[:n % 3]:
            result = moderation_drain(stack, engine, count, on, check_only)
            ratio = round(result["rate"] / ceiling["rate"], 3)
            out[name] = {**result, "rounds": [*out[name]["rounds"], {"rate": result["rate"], "vs_noop": ratio}]}
            print(f"round {n + 1} {name}: {result['rate']:.0f}/s, {ratio:.3f} x the no-op {ceiling['rate']:.0f}/s",
                  flush=True)
    for name, _on, _only in DRAINS:
        out[name]["vs_noop"] = statistics.median(r["vs_noop"] for r in out[name]["rounds"])
    out["noop_drain"]["rate"] = statistics.median(out["noop_drain"]["rounds"])
    return out


def main() -> int:
    """Run both measurements on a private stack and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comments", type=int, default=2000, help="comments per stage measurement")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--drain", type=int, default=3000, help="comments per moderation drain (0: skip)")
    parser.add_argument("--noop", type=int, default=10000, help="messages of the no-op ceiling")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the no-op ceiling and the three drains")
    args = parser.parse_args()
    stack = Stack()
    results: dict[str, Any] = {"meta": {"at": utcnow().isoformat()}}
    try:
        stack.open()
        engine = parley_runs.engine_for(stack)
        results["stage"] = stage(stack, engine, args.comments, args.threads)
        print(json.dumps(results["stage"]), flush=True)
        if args.drain:
            results.update(drain_rounds(stack, engine, args.drain, args.noop, args.rounds))
        engine.dispose()
    finally:
        stack.close()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "classification.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
