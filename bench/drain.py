"""Shared pieces of the drain benchmarks: fast queue pre-fill and throughput from completion times."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import dramatiq
import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from bench.services import Stack

#: The steady-state window: completions between these fractions of the total are timed, so worker start-up
#: (the two processes come up a few hundred ms apart) and the tail (last prefetched messages) are left out.
WINDOW = (0.10, 0.90)


def prefill_dramatiq(stack: Stack, queue: str, actor: str, args: Iterable[tuple[Any, ...]]) -> int:
    """Put one Dramatiq message per *args* on *queue*, declared exactly as Dramatiq does; return the count."""
    broker = RabbitmqBroker(url=stack.broker_url, confirm_delivery=False)
    broker.declare_queue(queue, ensure=True)
    broker.close()
    connection = stack.amqp()
    channel = connection.channel()
    properties = pika.BasicProperties(delivery_mode=2)
    sent = 0
    for arg in args:
        message = dramatiq.Message(queue_name=queue, actor_name=actor, args=arg, kwargs={}, options={})
        channel.basic_publish(exchange="", routing_key=queue, body=message.encode(), properties=properties)
        sent += 1
    connection.close()
    return sent


def wait_depth(stack: Stack, queue: str, count: int, timeout: float = 60) -> None:
    """Wait until *queue* holds *count* ready messages (the pre-fill has landed)."""
    deadline = time.monotonic() + timeout
    while (depth := stack.queue_depth(queue)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"queue {queue} holds {depth} of {count} messages after {timeout} s")
        time.sleep(0.1)


def _crossing(series: Sequence[tuple[float, int]], target: float) -> float:
    """Return the time at which the count in *series* reached *target* (linear interpolation)."""
    previous_t, previous_n = series[0]
    for t, n in series:
        if n >= target:
            if n == previous_n:
                return t
            return previous_t + (t - previous_t) * (target - previous_n) / (n - previous_n)
        previous_t, previous_n = t, n
    return series[-1][0]


def rate_from_series(series: Sequence[tuple[float, int]], total: int, started: float) -> dict[str, float]:
    """Return drain figures from polled (time, completed count) samples; *started* is when the worker started."""
    lo, hi = WINDOW
    t_lo, t_hi = _crossing(series, lo * total), _crossing(series, hi * total)
    t_first, t_last = _crossing(series, 1), _crossing(series, total)
    return {
        "count": total,
        "rate": round((hi - lo) * total / (t_hi - t_lo), 1) if t_hi > t_lo else float("nan"),
        "rate_first_to_last": round((total - 1) / (t_last - t_first), 1) if t_last > t_first else float("nan"),
        "seconds_first_to_last": round(t_last - t_first, 3),
        "seconds_from_start": round(t_last - started, 3),
    }


def rate_from_times(times: Sequence[float], started: float) -> dict[str, float]:
    """Return drain figures from each item's completion time (epoch seconds, e.g. ``checked_at``)."""
    ordered = sorted(times)
    series = [(t, i + 1) for i, t in enumerate(ordered)]
    return rate_from_series(series, len(ordered), started)


def curve(times: Sequence[float], origin: float, points: int = 200) -> list[tuple[float, int]]:
    """Return at most *points* (seconds since *origin*, completed) samples of a completion curve, for plots."""
    ordered = sorted(times)
    step = max(1, len(ordered) // points)
    samples = [(round(t - origin, 4), i + 1) for i, t in enumerate(ordered) if i % step == 0]
    if ordered:
        samples.append((round(ordered[-1] - origin, 4), len(ordered)))
    return samples
