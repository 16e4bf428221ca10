"""Post comments to a running Parley and time how long each takes to reach its final status.

Usage: .venv/bin/python bench/e2e_latency.py [--url http://127.0.0.1:5000] [-n 20] [--profane]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request


def call(url: str, payload: dict | None = None) -> dict:
    """GET or POST JSON and return the decoded answer."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def main() -> None:
    """Measure POST latency, time to published/flagged, and time to a final translation."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--profane", action="store_true")
    args = parser.parse_args()
    body = "what the fuck" if args.profane else "bonjour le monde"
    posts, checks, translations, finals = [], [], [], {}
    for n in range(args.n):
        started = time.perf_counter()
        payload = {"thread": "bench", "author": "b", "body": f"{body} {n}", "lang": "fr"}
        comment = call(f"{args.url}/api/comments", payload)
        posts.append(time.perf_counter() - started)
        checked = None
        while True:
            state = call(f"{args.url}/api/comments/{comment['id']}")
            now = time.perf_counter() - started
            if checked is None and state["status"] != "pending":
                checked = now
                checks.append(now)
            translation = state["translations"].get("en", {"status": "done"})
            if checked is not None and translation["status"] != "pending":
                translations.append(now)
                outcome = f"{state['status']}/{translation['status']}"
                finals[outcome] = finals.get(outcome, 0) + 1
                break
            if now > 30:
                raise SystemExit(f"comment {comment['id']} not final after 30 s: {state}")
            time.sleep(0.005)

    def summary(values: list[float]) -> str:
        values = sorted(values)
        return (f"p50 {statistics.median(values) * 1000:7.1f} ms   max {values[-1] * 1000:7.1f} ms")

    print(f"{args.n} comments, outcomes {finals}")
    print(f"POST answered            {summary(posts)}")
    print(f"status published|flagged {summary(checks)}")
    print(f"translation final        {summary(translations)}")


if __name__ == "__main__":
    main()
