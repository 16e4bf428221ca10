"""The scheduler daemon with real processes: scheduler(s), worker, RabbitMQ and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.storage import db
from core.storage.models import utcnow
from core.storage.models_scheduling import JobRun, SchedulerLease
from tests import support

pytestmark = [pytest.mark.usefixtures("worker", "clean_db"), pytest.mark.slow]

FAST = {"REDISPATCH_INTERVAL_SECONDS": "2", "SCHEDULER_LEASE_SECONDS": "3", "CATCHUP_INTERVAL_SECONDS": "2"}


@pytest.fixture(autouse=True)
def postgres_only(stack):  # type: ignore[no-untyped-def]
    """Process tests run on PostgreSQL (the production database); the jobs are tested on both."""
    if stack.backend != "postgresql":
        pytest.skip("scheduler process tests run on PostgreSQL")
    db.configure(stack.database_url)


def start_scheduler(stack, **env: str) -> support.Proc:  # type: ignore[no-untyped-def]
    """Start ``python scheduler.py`` for this stack."""
    proc = support.Proc("scheduler", [sys.executable, "scheduler.py"], stack.env(**{**FAST, **env}))
    proc.wait_for_log("started:", timeout=30)
    return proc


def runs(job: str | None = None) -> list[JobRun]:
    """Return the ledger rows (of *job*), oldest slot first."""
    with db.session_scope() as session:
        statement = select(JobRun).order_by(JobRun.slot)
        if job:
            statement = statement.where(JobRun.job == job)
        return list(session.scalars(statement))


def done_slots(job: str, at_least: int, timeout: float = 30) -> list[JobRun]:
    """Wait until *job* has run for at least *at_least* slots."""
    return support.poll(lambda: (lambda r: r if len(r) >= at_least else None)(
        [r for r in runs(job) if r.status == "done"]), timeout, interval=0.2, what=f"{at_least} {job} runs")


def test_two_schedulers_run_each_slot_once_and_a_standby_takes_over(stack):
    # Given two schedulers started at once
    first, second = start_scheduler(stack), start_scheduler(stack)
    try:
        done_slots("redispatch", 3)
        # Then only one is active, and every slot ran exactly once
        logs = {proc: proc.log() for proc in (first, second)}
        active = [proc for proc, log in logs.items() if "Active scheduler is now" in log]
        assert len(active) == 1, {p.name: log[-2000:] for p, log in logs.items()}
        standby = second if active[0] is first else first
        assert "Enqueued redispatch" not in logs[standby]
        ledger = runs("redispatch")
        assert all(r.attempts == 1 for r in ledger)
        assert len({r.slot for r in ledger}) == len(ledger)
        # When the active one dies without a word
        active[0].signal(signal.SIGKILL)
        killed_at = time.monotonic()
        standby.wait_for_log("Active scheduler is now", timeout=15)
        takeover = time.monotonic() - killed_at
        assert takeover < 10, takeover
        # Then the standby keeps the slots coming, still once each
        before = len(runs("redispatch"))
        done_slots("redispatch", before + 2)
        assert Counter(r.slot for r in runs("redispatch")).most_common(1)[0][1] == 1
    finally:
        first.stop()
        second.stop()


def test_a_missed_nightly_slot_runs_exactly_once_after_restart(stack):
    # Given a nightly purge whose slot passed two minutes ago while no scheduler ran
    slot = (utcnow() - timedelta(minutes=2)).replace(second=0, microsecond=0)
    cron = f"{slot.minute} {slot.hour} * * *"
    proc = start_scheduler(stack, PURGE_CRON=cron)
    try:
        ledger = done_slots("purge", 1)
        assert [r.slot.replace(tzinfo=None) for r in ledger] == [slot.replace(tzinfo=None)]
    finally:
        proc.stop()
    # When it is restarted (twice), nothing runs again for that slot
    for _ in range(2):
        proc = start_scheduler(stack, PURGE_CRON=cron)
        proc.wait_for_log("Active scheduler is now", timeout=15)
        done_slots("redispatch", len([r for r in runs("redispatch") if r.status == "done"]) + 1)
        proc.stop()
    assert len(runs("purge")) == 1


def test_sigterm_stops_cleanly_and_hands_the_lease_over(stack):
    proc = start_scheduler(stack)
    proc.wait_for_log("Active scheduler is now", timeout=15)
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.popen.wait(10) == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in proc.log() and "Scheduler stopped." in proc.log()
    with db.session_scope() as session:
        lease = session.get(SchedulerLease, "scheduler")
        assert lease.expires_at.replace(tzinfo=None) < utcnow().replace(tzinfo=None)


def scheduler_cli(stack, *args: str) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    """Run ``python scheduler.py ARGS`` for this stack."""
    import os

    return subprocess.run([sys.executable, "scheduler.py", *args], cwd=support.ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **stack.env(**FAST)})


def test_list_and_trigger_commands(stack):
    assert "never run" in scheduler_cli(stack, "list").stdout
    triggered = scheduler_cli(stack, "trigger", "daily_stats")
    assert triggered.returncode == 0 and "enqueued daily_stats" in triggered.stdout
    run = done_slots("daily_stats", 1)[0]
    assert run.manual and run.detail["days"]
    listing = scheduler_cli(stack, "list").stdout
    line = next(line for line in listing.splitlines() if line.startswith("daily_stats"))
    assert "last: done" in line and "next=" in line and "cron 15 0 * * * UTC" in line
    dry = scheduler_cli(stack, "trigger", "purge", "--dry-run")
    assert dry.returncode == 0 and "purge would delete 0 rejected comments" in dry.stdout
    assert runs("purge") == []
    bad = scheduler_cli(stack, "trigger", "reboot")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
