"""The commands of the contract start, explain failures, and stop cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests import support


def test_make_run_explains_an_unreachable_broker():
    result = subprocess.run(
        [sys.executable, "scripts/run.py"], cwd=support.ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{support.free_port()}/"},
    )
    assert result.returncode == 2
    assert "RabbitMQ is not reachable" in result.stderr and "rabbitmq-server -detached" in result.stderr
    assert "Traceback" not in result.stderr


def test_scheduler_daemon_runs_and_stops_on_sigterm(stack):
    proc = support.Proc("scheduler", [sys.executable, "scheduler.py"], stack.env())
    proc.wait_for_log("started:", timeout=30)
    proc.signal(signal.SIGTERM)
    assert proc.popen.wait(15) == 0
    assert "Traceback" not in proc.log()
