"""Benchmark: Parley's profanity engine against better-profanity on comments of 50, 300 and 5,000 characters.

Run from the repository root:  .venv/bin/python bench/bench_profanity.py [--json] [--quick]
Targets (issue #5): at least 100x better-profanity's censor() at 300 characters, and a
5,000-character comment checked in under 2 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIZES = (50, 300, 5_000)
TARGET_RATIO_300 = 100.0
TARGET_5000_MS = 2.0

COMMON = (
    "the be to of and a in that have I it for not on with he as you do at this but his by from they we say "
    "her she or an will my one all would there their what so up out if about who get which go me when make "
    "can like time no just him know take people into year your good some could them see other than then now "
    "look only come its over think also back after use two how our work first well way even new want because "
    "any these give day most us really great post thanks agree article point sure maybe never always pretty "
    "Scunthorpe class analysis cocktail Essex assume passage shiitake don't it's can't I'm you're isn't"
).split()
PROFANE = ["fuck", "shit", "damn", "a$$hole", "b1tch", "crap", "bastard", "fuuuck", "sh1t", "f.u.c.k"]
PUNCTUATION = [" ", " ", " ", " ", " ", " ", ", ", ". ", "! ", "? ", " - ", "\n"]


def comment(size: int, seed: int) -> str:
    """Return a realistic comment of exactly *size* characters: clean prose with a few profane words."""
    rng = random.Random(seed)
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(PROFANE) if rng.random() < 0.03 else rng.choice(COMMON)
        if not out or out[-1].endswith((". ", "! ", "? ", "\n")):
            word = word.capitalize()
        piece = word + rng.choice(PUNCTUATION)
        out.append(piece)
        length += len(piece)
    text = "".join(out)[:size]
    return text[:-1] + "." if text.endswith(" ") else text


def best_per_call(func: Callable[[], object], budget: float, batches: int = 5) -> float:
    """Return the best per-call time in seconds over *batches* batches sized to ~*budget* seconds each."""
    start = time.perf_counter()
    func()
    once = max(time.perf_counter() - start, 1e-7)
    reps = max(1, int(budget / once))
    best = float("inf")
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(reps):
            func()
        best = min(best, (time.perf_counter() - start) / reps)
    return best


def run(quick: bool) -> dict[str, object]:
    """Measure both libraries on every size; return the figures and the verdict on the targets."""
    from better_profanity import Profanity

    from bench.profanity_exact import ExactEngine
    from core.profanity.engine import Engine

    started = time.perf_counter()
    engine = Engine()
    build_ms = (time.perf_counter() - started) * 1e3
    exact = ExactEngine()
    reference = Profanity()
    reference.censor("warm up")  # better-profanity loads its list lazily on the first call
    rows = []
    for size in SIZES:
        text = comment(size, seed=size)
        bp_budget = (0.05 if quick else 0.3) if size < 5_000 else (0.01 if quick else 0.5)
        bp_batches = 2 if quick or size >= 5_000 else 5
        bp = best_per_call(lambda t=text: reference.censor(t), bp_budget, bp_batches)
        ours = best_per_call(lambda t=text: engine.check(t), 0.05 if quick else 0.2)
        ours_exact = best_per_call(lambda t=text: exact.check(t), 0.05 if quick else 0.2)
        verdict = engine.check(text)
        rows.append({
            "chars": size,
            "words": len(text.split()),
            "better_profanity_censor_ms": bp * 1e3,
            "parley_check_ms": ours * 1e3,
            "parley_check_exact_ms": ours_exact * 1e3,
            "ratio": bp / ours,
            "ratio_exact": bp / ours_exact,
            "exact_censor_identical": exact.censor(text) == reference.censor(text),
            "matched_words": verdict.words,
        })
    by_size = {r["chars"]: r for r in rows}
    checks = {
        f"ratio at 300 chars >= {TARGET_RATIO_300:.0f}x": by_size[300]["ratio"] >= TARGET_RATIO_300,
        f"5,000 chars < {TARGET_5000_MS} ms": by_size[5_000]["parley_check_ms"] < TARGET_5000_MS,
        "ExactEngine output identical to better-profanity": all(r["exact_censor_identical"] for r in rows),
    }
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "engine_build_ms": build_ms,
        "rows": rows,
        "checks": checks,
        "passed": all(checks.values()),
    }


def say(line: str = "") -> None:
    """Write one line to stdout (a benchmark's output is its point, hence no logging)."""
    sys.stdout.write(line + "\n")


def print_table(result: dict[str, object]) -> None:
    """Print the figures as a table, then PASS/FAIL per target."""
    say(f"Python {result['python']} on {result['machine']}; engine built in {result['engine_build_ms']:.0f} ms")
    say()
    header = f"{'chars':>6} {'words':>6} {'better-profanity censor()':>26} {'Parley check()':>15} {'ratio':>9}"
    header += f" {'ExactEngine.check()':>25} {'ratio':>8}"
    say(header)
    say("-" * len(header))
    for r in result["rows"]:  # type: ignore[union-attr]
        say(
            f"{r['chars']:>6} {r['words']:>6} {r['better_profanity_censor_ms']:>23.3f} ms"
            f" {r['parley_check_ms']:>12.4f} ms {r['ratio']:>8.0f}x"
            f" {r['parley_check_exact_ms']:>22.4f} ms {r['ratio_exact']:>7.0f}x"
        )
    say()
    for name, ok in result["checks"].items():  # type: ignore[union-attr]
        say(f"{'PASS' if ok else 'FAIL'}  {name}")
    say("PASS" if result["passed"] else "FAIL")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 0 only if every target is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (noisier), for a smoke run")
    args = parser.parse_args(argv)
    result = run(args.quick)
    if args.json:
        say(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
