"""The knee sweep's search (bench/knee.py) on a modelled system: which rate it reports, and when a rate fails."""

from __future__ import annotations

from typing import Any

import pytest

from bench import knee


def modelled(capacity: float) -> Any:
    """A stand-in for e2e_steady: p99 10 ms below *capacity*, 2 s above it (the queue grows)."""

    def run(_engine: Any, _url: str, _bodies: Any, rate: float, seconds: float, _meter: Any = None) -> dict[str, Any]:
        posted = int(rate * seconds)
        return {"offered_rps": rate, "achieved_rps": rate, "posted": posted, "checked": posted,
                "post": {"statuses": {202: posted}}, "e2e_p50_ms": 5.0,
                "e2e_p99_ms": 10.0 if rate <= capacity else 2000.0, "cpu": None, "e2e_ms_sorted_sample": []}

    return run


@pytest.mark.parametrize(("capacity", "expected", "failing"), [
    (330, 325, 350),   # 300 passes, 350 fails, the half step 325 passes
    (310, 300, 325),   # the half step fails: the knee is the last full step
    (2000, 800, None),  # never fails within the sweep: the knee is the last rate offered
    (50, None, 100),   # the first rate already fails
])
def test_the_sweep_reports_the_highest_passing_rate(monkeypatch, capacity, expected, failing):
    monkeypatch.setattr(knee.parley_runs, "e2e_steady", modelled(capacity))
    result = knee.sweep(None, "http://x/", None, knee.rates_from(100, 50, 800), 1, 100.0, log=lambda _m: None)
    assert result["knee_rps"] == expected and result["first_failing_rps"] == failing
    assert all(step["pass"] == (step["offered_rps"] <= capacity) for step in result["steps"])


@pytest.mark.parametrize(("change", "ok"), [
    ({}, True),
    ({"e2e_p99_ms": 100.0}, False),           # the limit is strict
    ({"achieved_rps": 90.0}, False),          # the load generator could not hold the rate
    ({"post": {"statuses": {202: 99, 503: 1}}}, False),
    ({"checked": 99}, False),                 # a comment never checked
])
def test_a_rate_passes_only_when_every_condition_holds(change, ok):
    step = {"offered_rps": 100.0, "achieved_rps": 99.0, "posted": 100, "checked": 100,
            "post": {"statuses": {202: 100}}, "e2e_p99_ms": 40.0, **change}
    assert knee.passes(step, 100.0) is ok
