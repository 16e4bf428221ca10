"""Every benchmark of issue #7 in one run, so the ratios hold on a noisy 2-core machine.

Usage (from the repository root):  .venv/bin/python bench/run_all.py [--quick] [--skip-peer]

Creates a private PostgreSQL database and RabbitMQ vhost, starts a fake LibreTranslate server, measures in
order: raw pika publish; bare Flask insert-and-send vs Parley's POST /api/comments (interleaved rounds,
same gunicorn settings); Dramatiq no-op drain; Parley moderation drain; Parley translation drain;
end-to-end latency at a steady 100 comments/s; memory; the notifications drain (mails and webhooks) against
bare smtplib / requests loops (bench/notify_bench.py); the throughput knee with translation off and with the
fake translator (bench/knee.py); the naive Celery + better-profanity peer. Then
tears everything down, prints the table with PASS/FAIL per target, writes bench/results/latest.json and
docs/benchmarks.png. See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ceilings, knee, loadgen, notify_bench, parley_runs, report  # noqa: E402
from bench.cpu import CpuMeter, summarize  # noqa: E402
from bench.provision import BIN, ROOT, free_port  # noqa: E402
from bench.services import RESULTS, Proc, Stack, http_answers  # noqa: E402
from bench.workload import Payloads  # noqa: E402

#: Sizes of each measurement: the full run takes about 11 minutes (the knee sweep half of it), --quick about 4.
FULL = {
    "pika_seconds": 5, "warmup_seconds": 3, "ingest_rounds": 3, "ingest_seconds": 8, "clients": 16,
    "noop_messages": 20_000, "moderation_comments": 5_000, "translation_comments": 2_000,
    "e2e_rate": 100, "e2e_seconds": 30, "celery_comments": 300,
    "notify": {"mails": 500, "webhooks": 1000, "rounds": 2},
    "knee": {"start": 100, "step": 50, "stop": 800, "seconds": 15},
}
QUICK = {
    "pika_seconds": 2, "warmup_seconds": 1, "ingest_rounds": 2, "ingest_seconds": 4, "clients": 16,
    "noop_messages": 6_000, "moderation_comments": 2_000, "translation_comments": 800,
    "e2e_rate": 100, "e2e_seconds": 10, "celery_comments": 100,
    "notify": {"mails": 150, "webhooks": 300, "rounds": 1},
    "knee": {"start": 100, "step": 100, "stop": 800, "seconds": 6},
}


def git_commit() -> str:
    """Return the short commit of the working tree (with + when it has local changes)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def loadavg() -> str:
    """Return the 1/5/15-minute load averages."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def log(message: str) -> None:
    """Print a progress line with the elapsed time."""
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", flush=True)


STARTED = time.perf_counter()


def start_translator(stack: Stack) -> str:
    """Start tests/fake_translator.py on a free port; return its base URL."""
    port = free_port()
    proc = stack.start("fake-translator", [str(BIN / "python"), "tests/fake_translator.py", "--port", str(port)], {})
    base = f"http://127.0.0.1:{port}"
    proc.wait_until(lambda: http_answers(base), 30, "the fake translator to answer")
    return base + "/"


def ingest(
    stack: Stack, env: dict[str, str], cfg: dict[str, Any], results: dict[str, Any], meter: CpuMeter
) -> tuple[Proc, str]:
    """Bare endpoint vs Parley's POST, rotating the order each round; return Parley's web server and base URL."""
    bare_proc, bare_url = ceilings.start_bare_web(stack)
    web_proc, base = parley_runs.start_web(stack, env)
    urls = {"bare": bare_url, "parley": f"{base}/api/comments"}
    payloads = Payloads(lang="fr")
    clients, seconds = cfg["clients"], cfg["ingest_seconds"]
    for url in urls.values():
        loadgen.closed_loop(url, payloads, clients, cfg["warmup_seconds"])
    runs: dict[str, list[loadgen.LoadResult]] = {name: [] for name in urls}
    cpu: dict[str, tuple[float, Counter[str]]] = {name: (0.0, Counter()) for name in urls}
    names = list(urls)
    for n in range(cfg["ingest_rounds"]):
        for name in names[n % len(names):] + names[: n % len(names)]:  # rotate: no side always goes first
            before = meter.snapshot()
            result = loadgen.closed_loop(urls[name], payloads, clients, seconds)
            spent, ticks = CpuMeter.diff(before, meter.snapshot())
            cpu[name] = (cpu[name][0] + spent, cpu[name][1] + ticks)
            runs[name].append(result)
            log(f"  ingest round {n + 1} {name:<9}: {result.rps:7.1f} req/s, p50 "
                f"{loadgen.percentile(result.latencies_s, 50) * 1000:.1f} ms, statuses {dict(result.statuses)}")
    summary: dict[str, Any] = {"clients": clients, "seconds_per_round": seconds, "rounds": cfg["ingest_rounds"]}
    for name, parts in runs.items():
        merged = loadgen.LoadResult(mode="closed", clients=clients, duration_s=sum(p.duration_s for p in parts))
        for part in parts:
            merged.latencies_s.extend(part.latencies_s)
            merged.statuses.update(part.statuses)
            merged.errors.update(part.errors)
        summary[name] = merged.summary()
        summary[name]["round_rps"] = [round(p.rps) for p in parts]
        summary[name]["cpu"] = summarize(*cpu[name], merged.ok)
    results["ingest"] = summary
    results.setdefault("memory", {})["bare_web"] = parley_runs.process_memory(bare_proc, "gunicorn worker")
    stack.stop(bare_proc)
    # The ingest's check messages are not part of any drain: drop them (their comments just stay pending).
    stack.purge("moderation", "bare")
    return web_proc, base


def run(cfg: dict[str, Any], args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Run every measurement in order on one private stack."""
    stack = Stack()
    try:
        log("creating the private database and vhost")
        stack.open()
        results["meta"]["database"] = stack.name
        translator = start_translator(stack)
        # OFFENSIVE_MODEL defaults to on since issue 16: the drain's figure stays comparable with earlier runs
        # unless --offensive-model on (a comment is then done once classified: bench/bench_classification.py).
        env = parley_runs.parley_env(stack, translator, OFFENSIVE_MODEL=args.offensive_model)
        engine = parley_runs.engine_for(stack)
        meter = CpuMeter(stack)

        log("ceiling: raw pika publish with confirms")
        results["pika"] = ceilings.pika_publish(stack, cfg["pika_seconds"])
        log(f"  {results['pika']['rate']:.0f} msgs/s")

        log("ingest: bare insert-and-send vs Parley POST /api/comments (interleaved rounds)")
        web_proc, base = ingest(stack, env, cfg, results, meter)

        log(f"ceiling: Dramatiq no-op drain of {cfg['noop_messages']} messages")
        results["noop_drain"] = ceilings.noop_drain(stack, cfg["noop_messages"], meter)
        log(f"  {results['noop_drain']['rate']:.0f} msgs/s")

        log(f"moderation drain of {cfg['moderation_comments']} comments (actors)")
        results["moderation_drain"], worker = parley_runs.moderation_drain(
            stack, engine, env, cfg["moderation_comments"], meter)
        log(f"  {results['moderation_drain']['rate']:.0f} comments/s {results['moderation_drain']['outcomes']}")
        stack.stop(worker)

        log(f"translation drain of {cfg['translation_comments']} translations (actors)")
        results["translation_drain"], worker = parley_runs.translation_drain(  # stays up for the end-to-end test
            stack, engine, env, cfg["translation_comments"], meter)
        log(f"  {results['translation_drain']['rate']:.0f} translations/s {results['translation_drain']['outcomes']}")

        rate, seconds = cfg["e2e_rate"], cfg["e2e_seconds"]
        log(f"e2e: steady {rate} comments/s for {seconds} s (parley web + worker)")
        results["e2e"] = parley_runs.e2e_steady(engine, f"{base}/api/comments", Payloads(lang="fr", tag="e2e"),
                                                rate, seconds, meter)
        log(f"  POST->checked p50 {results['e2e']['e2e_p50_ms']} ms, p99 {results['e2e']['e2e_p99_ms']} ms")
        results["memory"]["parley_web"] = parley_runs.process_memory(web_proc, "gunicorn worker")
        results["memory"]["parley_worker"] = parley_runs.process_memory(worker, "dramatiq process")
        stack.stop(worker)
        stack.stop(web_proc)

        n = cfg["notify"]
        log(f"notifications drain: {n['mails']} mails, {n['webhooks']} webhooks vs bare smtplib / requests loops")
        results["notifications"] = notify_bench.measure(stack, env, n, meter, log)
        log(f"  mails {results['notifications']['mail_vs_bare']:.2f} x bare, "
            f"webhooks {results['notifications']['webhook_vs_bare']:.2f} x bare")

        k = cfg["knee"]
        for mode, url in (("off", None), ("fake", translator)):
            log(f"throughput knee, translation {mode}: rates {k['start']}, +{k['step']}... until p99 >= 100 ms")
            results.setdefault("knee", {})[f"translation_{mode}"] = knee.measure(
                stack, engine, url, knee.rates_from(k["start"], k["step"], k["stop"]), k["seconds"], log=log,
                OFFENSIVE_MODEL=args.offensive_model)
            log(f"  knee {results['knee'][f'translation_{mode}']['knee_rps']}/s")

        if not args.skip_peer:
            log(f"peer: naive Celery + better-profanity drain of {cfg['celery_comments']} comments")
            results["celery_drain"], results["memory"]["celery"] = parley_runs.celery_drain(
                stack, engine, cfg["celery_comments"], meter)
            log(f"  {results['celery_drain']['rate']:.1f} comments/s")
        engine.dispose()
    finally:
        log("tearing down (processes, vhost, database)")
        stack.close()


def main() -> int:
    """Parse arguments, run, report; exit 1 if any target failed or the run broke."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a ~2-minute smoke run")
    parser.add_argument("--skip-peer", action="store_true", help="leave out the Celery peer")
    parser.add_argument("--offensive-model", choices=("off", "on"), default="off",
                        help="OFFENSIVE_MODEL of Parley's processes (the moderation drain with the model stage or not)")
    parser.add_argument("--json", type=Path, default=RESULTS / "latest.json", help="where to write the results")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "benchmarks.png", help="where to draw the plot")
    args = parser.parse_args()
    cfg = QUICK if args.quick else FULL

    def terminate(signum: int, _frame: Any) -> None:
        """Turn SIGTERM/SIGHUP into SystemExit."""
        raise SystemExit(128 + signum)  # unwinds through run()'s finally: everything is torn down

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "commit": git_commit(),
            "quick": args.quick,
            "offensive_model": args.offensive_model,
            "config": cfg,
            "loadavg_start": loadavg(),
        }
    }
    failed: BaseException | None = None
    try:
        run(cfg, args, results)
    except Exception as exc:  # noqa: BLE001  (report what was measured, then fail)
        failed = exc
        results["meta"]["error"] = f"{type(exc).__name__}: {exc}"
    results["meta"]["loadavg_end"] = loadavg()
    results["meta"]["seconds"] = round(time.perf_counter() - STARTED, 1)
    results["ratios"] = report.ratios(results)
    results["targets"] = report.verdicts(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print()
    print(report.table(results))
    if failed is None:
        report.plot(results, args.plot)
        print(f"\nresults: {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}; "
              f"plot: {args.plot.relative_to(ROOT) if args.plot.is_relative_to(ROOT) else args.plot}; "
              f"{results['meta']['seconds']} s")
        return 0 if all(t["verdict"] == "PASS" for t in results["targets"]) else 1
    print(f"\nrun failed: {results['meta']['error']}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
