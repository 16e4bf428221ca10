"""The embeddable widget's two costs (issue 14): the first render of a 500-comment thread in chromium, and a
304 poll against a full read.

Usage (from the repository root; needs chromium, `make browser`):
    .venv/bin/python bench/widget_bench.py [--postgresql] [--comments 500] [--runs 5] [--requests 2000]

Seeds one published thread (a third of the comments top-level, the rest replies up to depth 5, every fourth in
French with a done English translation) into a fresh SQLite file (or a private PostgreSQL database), serves
Parley with gunicorn as `make run` does, then
(a) opens a host page on another origin (http://localhost:<port>, a tiny http.server) embedding /embed.js, in a
    fresh browser context each run, and times navigation start → every <article> of the thread rendered in the
    widget's shadow root (polled every animation frame); the median of the runs;
(b) reads the thread's first page (100 comments) and one comment, each on one keep-alive connection, alternately
    without and with If-None-Match (the ETag of the full read): per request the server's own time (gunicorn's
    access log, %(D)s) and the client's round trip; median, p99 and requests/s.
Writes bench/results/widget.json. See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, update  # noqa: E402

from bench.loadgen import percentile  # noqa: E402
from bench.provision import BIN, create_pg_database, drop_pg_database, free_port, migrate, unique  # noqa: E402
from bench.services import RESULTS, Proc, http_answers  # noqa: E402
from bench.workload import bodies  # noqa: E402
from core.storage.models import Comment, Status, Translation, TranslationStatus  # noqa: E402

THREAD = "bench/widget-500"
CHROMIUM = "/usr/bin/chromium"
#: Access-log lines gunicorn writes for us: method, path, status, microseconds.
ACCESS_FORMAT = "ACCESS %(m)s %(U)s %(s)s %(D)s"
ACCESS_LINE = re.compile(r"^ACCESS (\S+) (\S+) (\d{3}) (\d+)$", re.MULTILINE)


def seed_thread(url: str, count: int, seed: int = 14) -> int:
    """Insert a published thread of *count* comments with replies and translations; return the last id."""
    rng = random.Random(seed)
    texts, table = bodies(), Comment.__table__
    start = datetime.now(UTC) - timedelta(days=3)
    depth: dict[int, int] = {}
    replies: dict[int, int] = {}
    engine = create_engine(url)
    with engine.begin() as connection:
        for i in range(count):
            parents = [c for c, d in depth.items() if d < 5]
            parent = rng.choice(parents) if i >= count // 3 else None
            created = start + timedelta(seconds=i * 500)
            row: dict[str, Any] = {
                "thread": THREAD, "author": f"reader {rng.randrange(120)}", "body": texts[i % len(texts)],
                "lang": "fr" if i % 4 == 3 else "en", "status": Status.PUBLISHED, "created_at": created,
                "updated_at": created, "checked_at": created, "check_attempts": 1, "dispatch_attempts": 1,
            }
            # The reply columns of issue 14, where this checkout has them.
            if "parent_id" in table.c:
                row["parent_id"] = parent
            if "depth" in table.c:
                row["depth"] = 0 if parent is None else depth[parent] + 1
            comment_id = connection.execute(insert(table).returning(table.c.id), row).scalar_one()
            depth[comment_id] = 0 if parent is None else depth[parent] + 1
            if parent is not None:
                replies[parent] = replies.get(parent, 0) + 1
            if row["lang"] == "fr":
                connection.execute(insert(Translation.__table__), {
                    "comment_id": comment_id, "lang": "en", "status": TranslationStatus.DONE,
                    "text": "(en) " + row["body"], "attempts": 1, "created_at": created, "updated_at": created})
        if "reply_count" in table.c:
            for comment_id, n in replies.items():
                connection.execute(update(table).where(table.c.id == comment_id).values(reply_count=n))
    engine.dispose()
    return comment_id


def start_web(database_url: str, host: str) -> tuple[Proc, str]:
    """Serve Parley with gunicorn as `make run` does, the host origin allowed; return it and its base URL."""
    port = free_port()
    env = {"DATABASE_URL": database_url, "PARLEY_ENV": "production", "SECRET_KEY": secrets.token_hex(24),
           "LOG_LEVEL": "WARNING", "ALLOWED_ORIGINS": host, "RATE_LIMIT_PER_MINUTE": "0"}
    cmd = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
           "--access-logfile", "-", "--access-logformat", ACCESS_FORMAT, "webapp:create_app()"]
    proc = Proc("widget-web", cmd, env)
    base = f"http://127.0.0.1:{port}"
    proc.wait_until(lambda: http_answers(base), 60, "Parley's web to answer")
    return proc, base


#: Resolves to ms since navigation start once the widget's shadow roots hold *count* articles.
RENDERED = """(count) => {
  const roots = [...document.querySelectorAll('*')].map((e) => e.shadowRoot).filter(Boolean);
  const n = roots.reduce((sum, root) => sum + root.querySelectorAll('article').length, 0);
  return n >= count ? performance.now() : false;
}"""


@contextmanager
def host_site(base: str, port: int) -> Iterator[str]:
    """Serve the host page embedding the widget on localhost (another origin than the API); yield its URL."""
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host</title></head><body>'
            f'<main><h1>An article</h1><div data-parley-thread="{THREAD}" data-parley-lang="en"></div></main>'
            f'<script src="{base}/embed.js" async></script></body></html>').encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (the name http.server calls)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(5)


def first_render(base: str, host: str, count: int, runs: int) -> dict[str, Any]:
    """Time navigation start → *count* articles rendered, in a fresh context each run (cold cache), then warm."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    cold, warm, errors = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-quic"])
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            for times in (cold, warm):
                page.goto(host)
                try:
                    handle = page.wait_for_function(RENDERED, arg=count, polling="raf", timeout=60_000)
                except PlaywrightTimeout:
                    shown = page.locator("article").count(), page.locator("[role=alert]").all_inner_texts()
                    raise RuntimeError(f"the widget showed {shown[0]} of {count} comments; alerts: {shown[1]}; "
                                       f"page errors: {errors}") from None
                times.append(handle.json_value())
            context.close()
        browser.close()
    return {"runs": runs, "cold_ms": cold, "warm_ms": warm, "cold_median_ms": statistics.median(cold),
            "warm_median_ms": statistics.median(warm), "page_errors": errors}


def render(base: str, host_port: int, count: int, runs: int) -> dict[str, Any]:
    """Measure the first render with the host page served on *host_port*."""
    with host_site(base, host_port) as host:
        return first_render(base, host, count, runs)


def polls(base: str, proc: Proc, paths: dict[str, str], requests: int) -> dict[str, Any]:
    """Read each path alternately in full and with If-None-Match on one keep-alive connection; time both."""
    results: dict[str, Any] = {}
    host = base.removeprefix("http://")
    for name, path in paths.items():
        connection = http.client.HTTPConnection(host, timeout=10)
        connection.request("GET", path)
        first = connection.getresponse()
        etag, size = first.getheader("ETag"), len(first.read())
        if not etag:
            results[name] = {"path": path, "etag": None, "note": "no ETag: If-None-Match cannot answer 304"}
            continue
        for _ in range(100):  # warm-up, not measured
            connection.request("GET", path, headers={"If-None-Match": etag})
            connection.getresponse().read()
        log_start = len(proc.log())
        rounds: dict[str, list[float]] = {"full": [], "304": []}
        statuses: dict[str, set[int]] = {"full": set(), "304": set()}
        for i in range(requests):
            kind = "full" if i % 2 == 0 else "304"
            started = time.perf_counter()
            connection.request("GET", path, headers={"If-None-Match": etag} if kind == "304" else {})
            response = connection.getresponse()
            response.read()
            rounds[kind].append((time.perf_counter() - started) * 1000)
            statuses[kind].add(response.status)
        connection.close()
        time.sleep(0.5)  # gunicorn writes its access log after the response
        server = {"full": [], "304": []}
        for _method, _url, status, micros in ACCESS_LINE.findall(proc.log()[log_start:]):
            server["304" if status == "304" else "full"].append(int(micros) / 1000)
        results[name] = {"path": path, "etag": etag, "full_bytes": size}
        for kind in ("full", "304"):
            client, own = rounds[kind], server[kind]
            results[name][kind] = {
                "requests": len(client), "statuses": sorted(statuses[kind]),
                "client_median_ms": statistics.median(client), "client_p99_ms": percentile(client, 99),
                "client_req_per_s": len(client) / (sum(client) / 1000),
                "server_median_ms": statistics.median(own) if own else None,
                "server_p99_ms": percentile(own, 99) if own else None,
                "server_req_per_s": len(own) / (sum(own) / 1000) if own else None,
            }
    return results


def report(result: dict[str, Any]) -> None:
    """Print the figures."""
    render = result["render"]
    print(f"\nFirst render of {result['comments']} comments ({result['backend']}; {result['cpus']} CPUs, load "
          f"{result['loadavg_before']:.1f} → {result['loadavg_after']:.1f}), navigation start → every <article> "
          f"in the shadow root, {render['runs']} runs:")
    print(f"  cold (fresh context)  median {render['cold_median_ms']:.0f} ms  "
          f"[{', '.join(f'{t:.0f}' for t in render['cold_ms'])}]")
    print(f"  warm (same context)   median {render['warm_median_ms']:.0f} ms  "
          f"[{', '.join(f'{t:.0f}' for t in render['warm_ms'])}]")
    for name, row in result["polls"].items():
        print(f"\n{name}: GET {row['path']}" + (f"  ({row['full_bytes']:,} bytes in full)" if row.get("etag") else ""))
        if not row.get("etag"):
            print(f"  {row['note']}")
            continue
        for kind in ("full", "304"):
            r = row[kind]
            server = (f"server median {r['server_median_ms']:.2f} ms  p99 {r['server_p99_ms']:.2f} ms  "
                      f"({r['server_req_per_s']:,.0f} req/s of server time)" if r["server_median_ms"] else "")
            print(f"  {kind:>4} {r['statuses']}: n={r['requests']}  client median {r['client_median_ms']:.2f} ms  "
                  f"p99 {r['client_p99_ms']:.2f} ms  {r['client_req_per_s']:,.0f} req/s  |  {server}")


def main() -> int:
    """Seed, serve, measure, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgresql", action="store_true", help="a private PostgreSQL database, not SQLite")
    parser.add_argument("--comments", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000, help="requests per path, half of them 304")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        name = unique("bench").lower()
        url = create_pg_database(name) if args.postgresql else f"sqlite:///{folder}/widget.db"
        proc = None
        try:
            migrate(url)
            one = seed_thread(url, args.comments)
            # Ports are known before anything listens: the API must allow the host page's origin at start.
            host_port = free_port()
            proc, base = start_web(url, f"http://localhost:{host_port}")
            result = {
                "at": datetime.now(UTC).isoformat(timespec="seconds"), "comments": args.comments,
                "backend": "postgresql" if args.postgresql else "sqlite", "cpus": os.cpu_count(),
                "loadavg_before": os.getloadavg()[0],
                "render": render(base, host_port, args.comments, args.runs),
                "polls": polls(base, proc, {
                    "thread page (100 comments)": f"/api/threads/{THREAD}/comments?limit=100&lang=en",
                    "one comment": f"/api/comments/{one}?lang=en",
                }, args.requests),
            }
        finally:
            if proc is not None:
                proc.stop()
            if args.postgresql:
                drop_pg_database(name)
    result["loadavg_after"] = os.getloadavg()[0]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "widget.json").write_text(json.dumps(result, indent=2))
    report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
