"""Turn one run's results into the table, the target verdicts and the plot (docs/benchmarks.png)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

#: (key, label, comparison, threshold): every target of issue #7.
TARGETS = (
    ("ingest_vs_bare", "Parley ingest / bare insert-and-send", ">=", 0.8),
    ("moderation_vs_noop", "moderation drain / Dramatiq no-op drain", ">=", 0.25),
    ("moderation_vs_celery", "moderation drain / naive Celery + better-profanity", ">=", 20.0),
    ("e2e_p99_ms", "end-to-end p99 at 100 comments/s (ms)", "<", 100.0),
    ("worker_rss_max_mib", "largest Parley worker process RSS (MiB)", "<", 120.0),
    ("mail_vs_bare", "mail drain / bare smtplib loop (issue #15)", ">=", 0.5),
    ("webhook_vs_bare", "webhook drain / bare requests loop (issue #15)", ">=", 0.5),
    ("knee_rps", "throughput knee, translation off (issue #17, /s)", ">=", 400.0),
)


def _num(value: Any, digits: int = 1) -> str:
    """Format a number for the table (— when missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    """Compute the ratios and single figures the targets are about."""
    r = results

    def get(*path: str) -> Any:
        """Return results[path…], or None when any key is missing."""
        node: Any = r
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    def ratio(a: Any, b: Any) -> float | None:
        """Return a / b rounded, or None when either is missing."""
        return round(a / b, 3) if a and b else None

    def rss_max(group: str) -> float | None:
        """Return the largest RSS of the worker processes (not the exporter fork) of *group*."""
        workers = [p["rss_mib"] for p in get("memory", group) or [] if p.get("threads", 0) > 4]
        return round(max(workers), 1) if workers else None

    return {
        "ingest_vs_bare": ratio(get("ingest", "parley", "rps"), get("ingest", "bare", "rps")),
        "moderation_vs_noop": ratio(get("moderation_drain", "rate"), get("noop_drain", "rate")),
        "moderation_vs_celery": ratio(get("moderation_drain", "rate"), get("celery_drain", "rate")),
        "e2e_p99_ms": get("e2e", "e2e_p99_ms"),
        "worker_rss_max_mib": rss_max("parley_worker"),
        "mail_vs_bare": get("notifications", "mail_vs_bare"),
        "webhook_vs_bare": get("notifications", "webhook_vs_bare"),
        "knee_rps": get("knee", "translation_off", "knee_rps"),
    }


def memory_groups(results: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Return (group, processes) of the run's memory, leaving out the ``*_prototype`` groups of older runs."""
    return [(group, procs) for group, procs in results.get("memory", {}).items() if not group.endswith("_prototype")]


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one PASS/FAIL entry per target."""
    values = ratios(results)
    out = []
    for key, label, op, threshold in TARGETS:
        value = values.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            verdict = "n/a"
        else:
            verdict = "PASS" if (value >= threshold if op == ">=" else value < threshold) else "FAIL"
        out.append({"key": key, "label": label, "value": value, "target": f"{op} {threshold:g}", "verdict": verdict})
    return out


def table(results: dict[str, Any]) -> str:
    """Return the human-readable table of every figure, ratio and verdict."""
    r = results
    meta = r.get("meta", {})
    lines = [
        f"Parley benchmarks — {meta.get('date', '?')}, {meta.get('cores', '?')} cores, commit {meta.get('commit', '?')}"
        f"{' (quick)' if meta.get('quick') else ''}",
        f"load average at start {meta.get('loadavg_start', '?')}, at end {meta.get('loadavg_end', '?')}",
        "",
        f"{'measurement':<50} {'rate':>12} {'p50 ms':>9} {'p99 ms':>9}  notes",
        "-" * 110,
    ]

    def row(label: str, rate: Any, unit: str, p50: Any = None, p99: Any = None, note: str = "") -> None:
        """Append one line of the table."""
        lines.append(f"{label:<50} {_num(rate):>8} {unit:<3} {_num(p50, 2):>9} {_num(p99, 2):>9}  {note}")

    if "pika" in r:
        p = r["pika"]
        row("ceiling: raw pika publish, confirms, persistent", p["rate"], "/s", p["p50_ms"], p["p99_ms"],
            f"{p['messages']} msgs, 1 connection")
    ing = r.get("ingest", {})
    if "bare" in ing:
        b = ing["bare"]
        row("ceiling: bare Flask insert + send (gunicorn 2x4)", b["rps"], "/s", b["p50_ms"], b["p99_ms"],
            f"{b['ok']} ok, {ing['clients']} clients, rounds {b.get('round_rps')}")
    if "noop_drain" in r:
        n = r["noop_drain"]
        row("ceiling: Dramatiq no-op drain (2 proc x 8 thr)", n["rate"], "/s", note=f"{n['count']} msgs")
    if "parley" in ing:
        p = ing["parley"]
        row("Parley: POST /api/comments (gunicorn 2x4)", p["rps"], "/s", p["p50_ms"], p["p99_ms"],
            f"{p['ok']} ok, rounds {p.get('round_rps')}, statuses {p['statuses']}")
    if "moderation_drain" in r:
        m = r["moderation_drain"]
        row("Parley: moderation drain (2 proc x 8 thr)", m["rate"], "/s",
            note=f"{m['count']} comments, {m.get('outcomes')}")
    if "e2e" in r:
        e = r["e2e"]
        row(f"Parley: end-to-end POST->checked @{e['offered_rps']:g}/s", e["achieved_rps"], "/s", e["e2e_p50_ms"],
            e["e2e_p99_ms"], f"{e['checked']} comments, max {_num(e['e2e_max_ms'])} ms")
        row("Parley:   POST latency at that load", None, "", e["post"]["p50_ms"], e["post"]["p99_ms"],
            f"statuses {e['post']['statuses']}")
        row("Parley:   POST->translation done at that load", None, "", e["translation_p50_ms"],
            e["translation_p99_ms"], f"{e['translated']} translations")
    if "translation_drain" in r:
        t = r["translation_drain"]
        row("Parley: translation drain (fake LibreTranslate)", t["rate"], "/s",
            note=f"{t['count']} translations, {t.get('outcomes')}")
    for kind, bare, note in (("mail", "bare smtplib loop", "new connection per mail"),
                             ("webhook", "bare requests.Session loop", "keep-alive")):
        if "notifications" in r:
            n = r["notifications"]
            row(f"ceiling: {bare}", n[f"bare_{kind}"], "/s", note=note)
            row(f"Parley: {kind} outbox drain (2 proc x 8 thr)", n[f"parley_{kind}"], "/s",
                note=f"{n['config'][kind + 's']} rows, rounds {[p['rate'] for p in n['runs'][f'parley_{kind}']]}")
    for mode, sweep in (r.get("knee") or {}).items():
        at = sweep.get("at_knee") or {}
        row(f"Parley: knee, p99 POST->checked < {sweep['p99_limit_ms']:g} ms ({mode.replace('_', ' ')})",
            sweep["knee_rps"], "/s", at.get("e2e_p50_ms"), at.get("e2e_p99_ms"),
            f"first failing {_num(sweep['first_failing_rps'])}/s, {len(sweep['steps'])} steps")
    if "celery_drain" in r:
        c = r["celery_drain"]
        row("peer: naive Celery + better-profanity drain", c["rate"], "/s",
            note=f"{c['count']} comments, prefork 2, {c.get('outcomes')}")
    lines.extend(cpu_lines(r))
    lines.append("")
    lines.append(f"{'memory after load':<50} {'RSS MiB':>12} {'PSS MiB':>9}")
    for group, procs in memory_groups(r):
        for proc in procs:
            lines.append(f"  {group:<22} {proc['kind']:<25} {_num(proc.get('rss_mib')):>12} "
                         f"{_num(proc.get('pss_mib')):>9}  pid {proc['pid']}, {proc.get('threads', '?')} threads")
    lines.append("")
    lines.append(f"{'target':<55} {'value':>10} {'target':>10}  verdict")
    lines.append("-" * 86)
    for v in verdicts(r):
        lines.append(f"{v['label']:<55} {_num(v['value'], 2):>10} {v['target']:>10}  {v['verdict']}")
    return "\n".join(lines)


def cpu_phases(results: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Return (label, unit, cpu summary) of every phase that measured CPU."""
    r = results
    ing = r.get("ingest", {})
    phases = [
        ("bare insert + send", "request", (ing.get("bare") or {}).get("cpu")),
        ("Parley POST", "request", (ing.get("parley") or {}).get("cpu")),
        ("Dramatiq no-op drain", "message", (r.get("noop_drain") or {}).get("cpu")),
        ("Parley moderation drain", "comment", (r.get("moderation_drain") or {}).get("cpu")),
        ("Parley translation drain", "translation", (r.get("translation_drain") or {}).get("cpu")),
        ("Parley e2e @100/s", "comment", (r.get("e2e") or {}).get("cpu")),
        ("Celery peer drain", "comment", (r.get("celery_drain") or {}).get("cpu")),
        *((f"Parley at the knee, {mode.replace('_', ' ')}", "comment", (sweep.get("at_knee") or {}).get("cpu"))
          for mode, sweep in (r.get("knee") or {}).items()),
    ]
    return [(label, unit, cpu) for label, unit, cpu in phases if cpu]


def cpu_lines(results: dict[str, Any]) -> list[str]:
    """Return the table of CPU per request/message by process group, for every phase."""
    phases = cpu_phases(results)
    if not phases:
        return []
    lines = ["", "CPU per item by process group (ms of CPU per request/message; cores in use), from /proc:"]
    for label, unit, cpu in phases:
        parts = [f"{group} {g['ms_per_item']:.2f} ms ({g['cores']:.2f} c)"
                 for group, g in cpu["groups"].items() if g["cores"] >= 0.02]
        lines.append(f"  {label + ' [per ' + unit + ']':<44} " + "; ".join(parts))
    return lines


def plot(results: dict[str, Any], path: Path) -> None:
    """Draw throughput, drain curves, latency distribution and memory into one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = results
    fig, axes = plt.subplots(2, 2, figsize=(15, 10))
    meta = r.get("meta", {})
    fig.suptitle(f"Parley benchmarks — {meta.get('date', '')}, {meta.get('cores', '?')} cores, one run"
                 f"{' (quick)' if meta.get('quick') else ''}", fontsize=13)

    ax = axes[0][0]
    bars = [
        ("pika publish, confirms (ceiling)", r.get("pika", {}).get("rate"), "#999999"),
        ("bare insert + send (ceiling)", r.get("ingest", {}).get("bare", {}).get("rps"), "#999999"),
        ("Parley POST /api/comments", r.get("ingest", {}).get("parley", {}).get("rps"), "#1f77b4"),
        ("Dramatiq no-op drain (ceiling)", r.get("noop_drain", {}).get("rate"), "#999999"),
        ("Parley moderation drain", r.get("moderation_drain", {}).get("rate"), "#1f77b4"),
        ("Parley translation drain", r.get("translation_drain", {}).get("rate"), "#2ca02c"),
        ("Celery + better-profanity (peer)", r.get("celery_drain", {}).get("rate"), "#d62728"),
    ]
    bars = [b for b in bars if b[1]][::-1]
    positions = range(len(bars))
    ax.barh(positions, [b[1] for b in bars], color=[b[2] for b in bars])
    ax.set_yticks(list(positions), [b[0] for b in bars], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("requests or messages per second (log scale)")
    ax.set_title("Throughput: ceilings grey, Parley blue/green, peer red", fontsize=10)
    for y, b in zip(positions, bars, strict=True):
        ax.annotate(f" {b[1]:,.0f}/s", (b[1], y), ha="left", va="center", fontsize=8)
    ax.set_xlim(right=max(b[1] for b in bars) * 4)

    ax = axes[0][1]
    for key, label, color in (
        ("noop_drain", "Dramatiq no-op", "#999999"),
        ("moderation_drain", "Parley moderation", "#1f77b4"),
        ("translation_drain", "Parley translation", "#2ca02c"),
        ("celery_drain", "Celery + better-profanity", "#d62728"),
    ):
        data = r.get(key, {})
        curve = data.get("curve") or []
        if curve:
            first = next((t for t, n in curve if n > 0), curve[0][0])
            total = data["count"]
            ax.plot([t - first for t, n in curve], [n / total for t, n in curve], color=color,
                    label=f"{label} ({data['rate']:,.0f}/s)")
    ax.set_xlabel("seconds since the first completion")
    ax.set_ylabel("fraction of the queue done")
    ax.set_title("Drains of a pre-filled queue")
    ax.legend(fontsize=8)

    ax = axes[1][0]
    e2e = r.get("e2e", {})
    sample = e2e.get("e2e_ms_sorted_sample") or []
    if sample:
        ys = [(i + 1) / len(sample) for i in range(len(sample))]
        ax.plot(sample, ys, color="#1f77b4", label=f"Parley: POST → published/flagged, p99 "
                f"{_num(e2e['e2e_p99_ms'])} ms")
    ax.axvline(100, color="#d62728", linestyle="--", label="target p99 < 100 ms")
    ax.axhline(0.99, color="#999999", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.legend(fontsize=8)
    ax.set_xlabel("milliseconds (log)")
    ax.set_ylabel("fraction of comments")
    ax.set_title(f"End-to-end latency at {e2e.get('offered_rps', '?')} comments/s offered: "
                 f"p50 {_num(e2e.get('e2e_p50_ms'))} ms, p99 {_num(e2e.get('e2e_p99_ms'))} ms")

    ax = axes[1][1]
    labels, values, colors = [], [], []
    palette = {"parley_worker": "#1f77b4", "parley_web": "#aec7e8", "bare_web": "#999999", "celery": "#d62728"}
    for group, procs in memory_groups(r):
        for proc in procs:
            if "parent" in proc["kind"] or proc.get("rss_mib") is None:
                continue
            kind = "exporter fork" if group.startswith("parley_worker") and proc.get("threads", 0) <= 4 else "process"
            labels.append(f"{group.replace('_', ' ')} {kind}, "
                          f"{proc.get('threads', '?')} threads")
            values.append(proc["rss_mib"])
            colors.append(palette.get(group, "#777777"))
    labels, values, colors = labels[::-1], values[::-1], colors[::-1]
    ax.barh(range(len(values)), values, color=colors)
    ax.set_yticks(range(len(values)), labels, fontsize=7)
    ax.axvline(120, color="#d62728", linestyle="--", label="worker target 120 MiB")
    ax.set_xlabel("RSS MiB after the load")
    ax.set_title("Memory per child process (gunicorn / dramatiq / celery)")
    ax.legend(fontsize=8, loc="lower right")

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    """Re-print the table and redraw the plot of a saved run: ``python -m bench.report [results.json] [png]``."""
    import json
    import sys

    root = Path(__file__).resolve().parent.parent
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "bench" / "results" / "latest.json"
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else root / "docs" / "benchmarks.png"
    results = json.loads(source.read_text())
    print(table(results))
    plot(results, target)
    print(f"plot: {target}")


if __name__ == "__main__":
    main()
