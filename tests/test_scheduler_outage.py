"""The scheduler survives a RabbitMQ outage on a private node and sends again once it is back."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import select

from core.storage import db
from core.storage.models_scheduling import JobRun
from tests import support
from tests.private_services import PrivateRabbit

#: A process test on PostgreSQL only. Parametrized rather than skipped on SQLite: the SQLite item ran in the suite's
#: SQLite half, apart from the PostgreSQL one, and started and removed a private RabbitMQ node of its own to skip.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("clean_db"),
              pytest.mark.parametrize("stack", ["postgresql"], indirect=True)]


def done_runs() -> int:
    """Count finished redispatch runs in the ledger."""
    with db.session_scope() as session:
        return len(session.scalars(select(JobRun).where(JobRun.job == "redispatch", JobRun.status == "done")).all())


def test_broker_outage_does_not_kill_the_scheduler(stack, private_rabbit: PrivateRabbit):
    db.configure(stack.database_url)
    env = stack.env(BROKER_URL=private_rabbit.url, REDISPATCH_INTERVAL_SECONDS="2", SCHEDULER_LEASE_SECONDS="3",
                    CATCHUP_INTERVAL_SECONDS="2")
    worker = support.start_worker(env, threads=2)
    scheduler = support.Proc("scheduler", [sys.executable, "scheduler.py"], env)
    try:
        support.poll(lambda: done_runs() >= 2, 30, interval=0.2, what="runs before the outage")
        # When RabbitMQ goes away for a while
        private_rabbit.stop()
        scheduler.wait_for_log("Could not enqueue redispatch", timeout=20)
        assert scheduler.popen.poll() is None, "the scheduler died with the broker"
        before = done_runs()
        # Then, once it is back, the same process sends again and the worker runs the jobs
        private_rabbit.start()
        support.poll(lambda: done_runs() >= before + 2, 60, interval=0.5, what="runs after the outage")
        assert scheduler.popen.poll() is None and "Traceback" not in scheduler.log()
    finally:
        scheduler.stop()
        worker.stop()
        private_rabbit.ensure_running()
