"""A small HTTP load generator: keep-alive http.client connections in threads, closed or open loop.

Closed loop: N clients post back-to-back for T seconds (maximum throughput, latency under saturation).
Open loop: requests are scheduled at a fixed rate and each latency is measured from its *scheduled*
start, so a slow server cannot slow the offered load down (no coordinated omission).

Standalone: ``.venv/bin/python -m bench.loadgen http://127.0.0.1:5000/api/comments --clients 16 -t 10``
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: Returns (body bytes, extra headers) for request number *i*.
BodyFactory = Callable[[int], tuple[bytes, dict[str, str]]]


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the *pct* percentile (nearest rank) of *values*; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class LoadResult:
    """What one load run observed."""

    mode: str
    clients: int
    duration_s: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    ids: list[int] = field(default_factory=list)
    offered_rps: float | None = None
    late_starts: int = 0

    @property
    def ok(self) -> int:
        """Return the number of 2xx answers."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def rps(self) -> float:
        """Return successful requests per second."""
        return self.ok / self.duration_s if self.duration_s else 0.0

    def summary(self) -> dict[str, Any]:
        """Return the figures as a JSON-able dict (latencies in ms)."""
        lat = self.latencies_s
        return {
            "mode": self.mode,
            "clients": self.clients,
            "duration_s": round(self.duration_s, 3),
            "offered_rps": self.offered_rps,
            "requests": len(lat),
            "ok": self.ok,
            "rps": round(self.rps, 1),
            "p50_ms": round(percentile(lat, 50) * 1000, 2),
            "p90_ms": round(percentile(lat, 90) * 1000, 2),
            "p99_ms": round(percentile(lat, 99) * 1000, 2),
            "max_ms": round(max(lat) * 1000, 2) if lat else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
            "late_starts": self.late_starts,
        }


class Client:
    """One keep-alive HTTP/1.1 connection that reconnects when the server closes it."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        """Target *url* (host, port and path); connect lazily."""
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST *body* as JSON; return (status, response body). Retries once on a stale connection."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", self.path, body, {"Content-Type": "application/json", **headers})
                response = self.conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
            except (OSError, http.client.HTTPException):
                self.close()  # a half-used connection cannot send again: the next call reconnects
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connection."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _post(client: Client, body: bytes, headers: dict[str, str], started: float, result: LoadResult,
          lock: threading.Lock) -> None:
    """POST one body and store its answer, with the latency since *started* (and the comment id of a 202, when
    the answer has one), or the kind of error that stopped it."""
    try:
        status, data = client.post(body, headers)
    except (OSError, http.client.HTTPException) as exc:
        with lock:
            result.errors[type(exc).__name__] += 1
        return
    latency = time.perf_counter() - started
    comment_id = None
    if status == 202 and data[:1] == b"{":
        try:
            comment_id = json.loads(data).get("id")
        except ValueError:
            comment_id = None
    with lock:
        result.latencies_s.append(latency)
        result.statuses[status] += 1
        if isinstance(comment_id, int):
            result.ids.append(comment_id)


def closed_loop(url: str, bodies: BodyFactory, clients: int, duration: float) -> LoadResult:
    """Run *clients* back-to-back posters against *url* for *duration* seconds."""
    result = LoadResult(mode="closed", clients=clients, duration_s=duration)
    lock = threading.Lock()
    counter = iter(range(10**9))
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def run() -> None:
        """One client: post back-to-back until the deadline."""
        client = Client(url)
        start_gate.wait()
        try:
            while True:
                with lock:
                    n = next(counter)
                body, headers = bodies(n)
                started = time.perf_counter()
                if started >= deadline[0]:
                    break
                _post(client, body, headers, started, result, lock)
        finally:
            client.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + duration
    start_gate.wait()
    for thread in threads:
        thread.join(duration + 30)
    result.duration_s = time.perf_counter() - began
    return result


def open_loop(url: str, bodies: BodyFactory, rate: float, duration: float, clients: int = 32) -> LoadResult:
    """Offer *rate* requests/s for *duration* seconds from up to *clients* connections."""
    result = LoadResult(mode="open", clients=clients, duration_s=duration, offered_rps=rate)
    lock = threading.Lock()
    jobs: queue.Queue[tuple[int, float] | None] = queue.Queue()

    def run() -> None:
        """One connection: post each scheduled job as soon as it is free."""
        client = Client(url)
        try:
            while (job := jobs.get()) is not None:
                n, scheduled = job
                body, headers = bodies(n)
                # Measured from the scheduled start: time spent waiting for a free client counts.
                _post(client, body, headers, scheduled, result, lock)
        finally:
            client.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    total = int(rate * duration)
    began = time.perf_counter()
    for n in range(total):
        scheduled = began + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.005:
            result.late_starts += 1
        jobs.put((n, scheduled))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join(60)
    result.duration_s = time.perf_counter() - began
    return result


def main() -> None:
    """Command line: post a fixed JSON body to a URL in closed or open loop and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("-t", "--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, help="open loop at this many requests/s (default: closed loop)")
    parser.add_argument("--body", default='{"thread": "bench", "author": "b", "body": "hello world", "lang": "en"}')
    args = parser.parse_args()
    payload = args.body.encode()

    def bodies(_n: int) -> tuple[bytes, dict[str, str]]:
        """Return the fixed body."""
        return payload, {}

    if args.rate:
        result = open_loop(args.url, bodies, args.rate, args.duration, args.clients)
    else:
        result = closed_loop(args.url, bodies, args.clients, args.duration)
    print(json.dumps(result.summary(), indent=2))


if __name__ == "__main__":
    main()
