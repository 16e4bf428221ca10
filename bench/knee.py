"""The throughput knee: the highest steady rate at which POST-to-checked p99 stays under 100 ms on PostgreSQL.

Usage (from the repository root):  .venv/bin/python bench/knee.py [--quick] [--translation off|fake|both]

Each mode starts Parley's web and worker (production settings, bench/parley_runs.py) on a private stack and
offers rates from ``--start`` upwards in steps (open loop, bench/parley_runs.e2e_steady: a 2 s warm-up, then
``--seconds`` measured; the backlog drains before the next rate). A rate passes when p99 POST-to-checked is
under ``--p99-ms``, at least 95 % of the offered rate was achieved and every POST got its 202. After the first
failure the step halves once between the last pass and the failure, so the knee is found to within a half
step. Reported for the knee: the rate, the latencies and the CPU ms per comment of every process group (web,
worker, the run's PostgreSQL, RabbitMQ, the load generator). bench/run_all.py runs it as its last section.

The load is a real site's (bench/workload.DistinctPayloads): every text distinct and 100,000 client
addresses, so the spam signals keep their defaults and count what they would in production.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import parley_runs  # noqa: E402
from bench.cpu import CpuMeter  # noqa: E402
from bench.services import RESULTS, Stack  # noqa: E402
from bench.workload import DistinctPayloads  # noqa: E402

#: The model stage has its own queue and workers (docs/SCALING.md "The model stage").
CAPACITY_ENV = {"OFFENSIVE_MODEL": "off"}


def passes(step: dict[str, Any], p99_ms: float) -> bool:
    """Tell whether a steady run held the rate: p99 under *p99_ms*, 95 % achieved, every POST a 202."""
    statuses = step["post"]["statuses"]
    return (step["e2e_p99_ms"] < p99_ms and step["achieved_rps"] >= 0.95 * step["offered_rps"]
            and set(statuses) <= {202, "202"} and step["checked"] == step["posted"])


def brief(step: dict[str, Any]) -> dict[str, Any]:
    """The figures of one step worth keeping (the sorted sample is left out)."""
    return {k: v for k, v in step.items() if k != "e2e_ms_sorted_sample"}


def sweep(engine: Any, url: str, meter: CpuMeter, rates: list[float], seconds: float, p99_ms: float,
          log: Any = print) -> dict[str, Any]:
    """Offer each of *rates* in turn until one fails, refine once between the last pass and it; return the knee."""
    steps: list[dict[str, Any]] = []
    payloads = DistinctPayloads(lang="fr", tag=f"knee{int(time.time())}")

    def attempt(rate: float) -> bool:
        step = parley_runs.e2e_steady(engine, url, payloads, rate, seconds, meter)
        step["pass"] = passes(step, p99_ms)
        steps.append(brief(step))
        log(f"  {rate:6.0f}/s: achieved {step['achieved_rps']:6.1f}/s, POST->checked p50 {step['e2e_p50_ms']} ms "
            f"p99 {step['e2e_p99_ms']} ms, {'PASS' if step['pass'] else 'FAIL'}")
        return step["pass"]

    best: float | None = None
    failed: float | None = None
    for rate in rates:
        if not attempt(rate):
            failed = rate
            break
        best = rate
    if failed is not None and best is not None and failed - best > 10:
        middle = round((best + failed) / 2)
        if attempt(middle):
            best = middle
        else:
            failed = middle
    knee = next((s for s in steps if s["offered_rps"] == best), None)
    return {"p99_limit_ms": p99_ms, "seconds_per_step": seconds, "knee_rps": best,
            "first_failing_rps": failed, "at_knee": knee, "steps": steps}


def measure(stack: Stack, engine: Any, translator: str | None, rates: list[float], seconds: float,
            p99_ms: float = 100.0, log: Any = print, **extra: str) -> dict[str, Any]:
    """Start web and worker (translation through *translator*, or off), sweep, stop them; return the sweep."""
    translation = ({"TRANSLATION_PROVIDER": "libre", "TRANSLATION_TARGETS": "en"} if translator
                   else {"TRANSLATION_PROVIDER": "none", "TRANSLATION_TARGETS": ""})  # off: no translation rows
    env = parley_runs.parley_env(stack, translator or "http://127.0.0.1:9/", **{**CAPACITY_ENV, **translation,
                                                                              **extra})
    web, base = parley_runs.start_web(stack, env)
    worker = parley_runs.start_worker(stack, env)
    try:
        return sweep(engine, f"{base}/api/comments", CpuMeter(stack), rates, seconds, p99_ms, log)
    finally:
        stack.stop(worker)
        stack.stop(web)


def rates_from(start: int, step: int, stop: int) -> list[float]:
    """The offered rates of a sweep: *start*, *start* + *step*, ... up to *stop*."""
    return [float(r) for r in range(start, stop + 1, step)]


def main() -> int:
    """Run the sweep on a private stack (translation off, with the fake translator, or both); print JSON."""
    from bench.run_all import start_translator  # the fake LibreTranslate server, started as run_all does

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--translation", choices=("off", "fake", "both"), default="both")
    parser.add_argument("--start", type=int, default=100)
    parser.add_argument("--step", type=int, default=50)
    parser.add_argument("--stop", type=int, default=800)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--p99-ms", type=float, default=100.0)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of Parley's web and worker for this run (repeatable)")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    stack = Stack()
    results: dict[str, Any] = {}
    try:
        stack.open()
        engine = parley_runs.engine_for(stack)
        rates = rates_from(args.start, args.step, args.stop)
        modes = ("off", "fake") if args.translation == "both" else (args.translation,)
        for mode in modes:
            print(f"translation {mode}:", flush=True)
            translator = start_translator(stack) if mode == "fake" else None
            results[f"translation_{mode}"] = measure(stack, engine, translator, rates, args.seconds, args.p99_ms,
                                                     **extra)
        engine.dispose()
    finally:
        stack.close()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "knee.json").write_text(json.dumps(results, indent=2, default=str))
    for mode, result in results.items():
        cpu = (result["at_knee"] or {}).get("cpu") or {}
        print(f"{mode}: knee {result['knee_rps']}/s (first failing {result['first_failing_rps']}/s); "
              f"CPU ms/comment at the knee: "
              + ", ".join(f"{g} {v['ms_per_item']}" for g, v in cpu.get("groups", {}).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
