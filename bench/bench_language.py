"""Benchmark: offline language detection (core.signals.language.detect) per call and comments/s on one core.

Run from the repository root:  .venv/bin/python bench/bench_language.py [--json] [--quick] [--cpu N]
Measures, in this fresh process pinned to one CPU: the model's load time and the RSS it adds, the best
per-call time of detect() by comment length, the same for the bare model call (what the wrapper's clean-up
costs), and comments/s over a mix of languages and lengths. Accuracy is in tests/test_language.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Blog comments of three lengths in several scripts (bench never imports tests, so its own texts).
SHORT = [
    "Great post, thanks!", "Merci pour le partage.", "Danke für den Tipp!", "¡Qué buena receta!",
    "Bellissime foto, complimenti.", "Dziękuję za ten wpis!", "Спасибо, очень полезно.", "Harika bir yazı olmuş.",
    "Tack för tipset!", "ありがとうございます！", "说得太对了", "شكرا على المقال",
]
TYPICAL = [
    "I tried this recipe last weekend and my kids asked for seconds, which never happens.",
    "J'ai testé la méthode sur mon ancien portable et tout fonctionne parfaitement maintenant, merci beaucoup.",
    "Wir waren letzten Sommer genau an diesem See und das Wasser war viel zu kalt zum Schwimmen.",
    "¿Alguien sabe si este método sigue funcionando con la versión nueva de la biblioteca?",
    "Ho seguito le tue istruzioni per la mensola e dopo un mese è ancora in piedi.",
    "Moja babcia robiła coś bardzo podobnego, ale dodawała jeszcze szczyptę gałki muszkatołowej.",
    "Не совсем понял аргумент в третьем абзаце, можете объяснить ещё раз подробнее?",
    "Geçen yıl bahçemizde aynı sorunu yaşadık, salyangozlar her şeyi yedi bitirdi.",
    "Jag har följt din blogg i flera år och det här är nog mitt favoritinlägg hittills.",
    "このレシピを週末に試してみましたが、家族みんながとても喜んでくれました。",
    "文章底部的链接好像失效了，麻烦检查一下，谢谢作者的分享。",
    "هل هناك طريقة للاشتراك في المقالات الجديدة عبر البريد الإلكتروني بدلا من وسائل التواصل؟",
]
LONG = [(text + " ") * 4 for text in TYPICAL]  # about 300-500 characters
VERY_LONG = [((text + " ") * 60)[:5_000] for text in TYPICAL[:4]]  # cut to MAX_CHARS before the model

SIZES: dict[str, list[str]] = {"short (3-6 words)": SHORT, "typical (12-18 words)": TYPICAL,
                               "long (~400 chars)": LONG, "very long (5,000 chars)": VERY_LONG}


def rss_mib() -> float:
    """Return this process's VmRSS in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def best_per_call(texts: list[str], func: Callable[[str], object], budget: float, batches: int = 5) -> float:
    """Return the best per-call time in seconds over *batches* passes, each ~*budget* seconds over *texts*."""
    start = time.perf_counter()
    for text in texts:
        func(text)
    once = max(time.perf_counter() - start, 1e-7)
    reps = max(1, int(budget / once))
    best = float("inf")
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(reps):
            for text in texts:
                func(text)
        best = min(best, (time.perf_counter() - start) / (reps * len(texts)))
    return best


def run(quick: bool, cpu: int | None) -> dict[str, object]:
    """Load the model, then time detect() and the bare model per size and over the mix."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    before = rss_mib()
    started = time.perf_counter()
    from core.signals import language

    language.load()
    load_s = time.perf_counter() - started
    loaded = rss_mib()
    budget, batches = (0.05, 2) if quick else (0.3, 5)
    model = language._get_detector()  # the bare call, for the cost of the wrapper's clean-up

    def bare(text: str) -> object:
        return model.detect(" ".join(text.split()), model="lite", k=language.TOP_K)

    rows = []
    for name, texts in SIZES.items():
        ours = best_per_call(texts, language.detect, budget, batches)
        raw = best_per_call(texts, bare, budget, batches)
        rows.append({
            "size": name, "texts": len(texts), "avg_chars": sum(map(len, texts)) / len(texts),
            "detect_us": ours * 1e6, "model_only_us": raw * 1e6, "comments_per_s": 1 / ours,
            "detected": [language.detect(t) for t in texts],
        })
    mix = SHORT * 3 + TYPICAL * 2 + LONG  # mostly short, as blog comments are
    mix_call = best_per_call(mix, language.detect, budget * 2, batches)
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": sorted(os.sched_getaffinity(0)),
        "load_s": load_s,
        "rss_before_mib": before,
        "rss_added_by_model_mib": loaded - before,
        "rss_after_runs_mib": rss_mib(),
        "rows": rows,
        "mix_texts": len(mix),
        "mix_detect_us": mix_call * 1e6,
        "mix_comments_per_s": 1 / mix_call,
    }


def say(line: str = "") -> None:
    """Write one line to stdout (a benchmark's output is its point, hence no logging)."""
    sys.stdout.write(line + "\n")


def print_table(result: dict[str, object]) -> None:
    """Print the figures as a table."""
    say(f"Python {result['python']} on {result['machine']}, CPU {result['cpu']}; import and model load "
        f"{result['load_s'] * 1e3:.0f} ms, +{result['rss_added_by_model_mib']:.1f} MiB RSS "
        f"(process {result['rss_after_runs_mib']:.1f} MiB after the runs)")
    say()
    header = f"{'comment':<24} {'chars':>6} {'detect()':>11} {'model only':>12} {'comments/s':>12}"
    say(header)
    say("-" * len(header))
    for r in result["rows"]:  # type: ignore[union-attr]
        say(f"{r['size']:<24} {r['avg_chars']:>6.0f} {r['detect_us']:>8.1f} µs {r['model_only_us']:>9.1f} µs"
            f" {r['comments_per_s']:>12,.0f}")
    say()
    say(f"Mix of {result['mix_texts']} comments (mostly short): {result['mix_detect_us']:.1f} µs per comment, "
        f"{result['mix_comments_per_s']:,.0f} comments/s on one core")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (noisier), for a smoke run")
    parser.add_argument("--cpu", type=int, default=0, help="pin to this CPU (default 0; -1: no pinning)")
    args = parser.parse_args(argv)
    result = run(args.quick, None if args.cpu < 0 else args.cpu)
    if args.json:
        say(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
