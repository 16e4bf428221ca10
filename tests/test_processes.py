"""The commands of the contract start, explain failures, and stop cleanly."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import threading

import pytest

from core.config import DEFAULT_BROKER_URL
from tests import support


def test_make_run_explains_an_unreachable_broker():
    result = subprocess.run(
        [sys.executable, "scripts/run.py"], cwd=support.ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "BROKER_URL": f"amqp://guest:guest@127.0.0.1:{support.free_port()}/"},
    )
    assert result.returncode == 2
    assert "RabbitMQ is not reachable" in result.stderr and "rabbitmq-server -detached" in result.stderr
    assert "Traceback" not in result.stderr


def load_run_script():  # type: ignore[no-untyped-def]
    """Import scripts/run.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("parley_run_script", support.ROOT / "scripts" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("url", "answers", "starts", "expected"), [
    (DEFAULT_BROKER_URL, [None], [], None),                          # up: nothing to do
    (DEFAULT_BROKER_URL, ["refused", None], [True], None),           # down: started, then it answers
    (DEFAULT_BROKER_URL, ["refused"], [False], "could not be installed or started by scripts/ensure_services.sh"),
    ("amqp://guest:guest@127.0.0.1:5999/", ["refused"], [], "refused"),  # the user's own: never started
    ("amqp://parley:secret@rabbit.example:5672/", ["unreachable"], [], "unreachable"),
])
def test_make_run_starts_only_the_default_local_broker(monkeypatch, url, answers, starts, expected):
    run = load_run_script()
    calls = []
    monkeypatch.setattr(run, "broker_problem", lambda _url: answers.pop(0) if len(answers) > 1 else answers[0])
    monkeypatch.setattr(run, "start_local_broker", lambda: calls.append("start") or starts[0])
    assert run.ensure_broker(url, wait_seconds=30) == expected
    assert calls == (["start"] if starts else [])


def test_make_run_gives_up_on_a_local_broker_that_never_answers(monkeypatch):
    run = load_run_script()
    asked = []
    monkeypatch.setattr(run, "broker_problem", lambda url: asked.append(url) or "refused")
    monkeypatch.setattr(run, "start_local_broker", lambda: True)
    assert run.ensure_broker(DEFAULT_BROKER_URL, wait_seconds=0) == "refused"
    assert len(asked) == 2  # before starting it, and once more when the wait is over


def test_scheduler_daemon_runs_and_stops_on_sigterm(stack):
    proc = support.Proc("scheduler", [sys.executable, "scheduler.py"], stack.env())
    proc.wait_for_log("started:", timeout=30)
    proc.signal(signal.SIGTERM)
    assert proc.popen.wait(15) == 0
    assert "Traceback" not in proc.log()


def test_scheduler_stop_signal_never_takes_the_pool_lock_it_may_interrupt():
    """SIGTERM can land while the main thread submits a job (holding the pool's plain lock): the stop must not wait."""
    import importlib

    daemon_module = importlib.import_module("scheduler")
    daemon = daemon_module.Daemon()
    daemon.scheduler.add_job(lambda: None, "interval", seconds=3600, id="idle")
    loop = threading.Thread(target=daemon.scheduler.start, daemon=True)
    loop.start()
    support.poll(lambda: daemon.scheduler.running, timeout=10, what="the scheduler loop")
    pool = daemon.scheduler._lookup_executor("default")._pool
    handled = threading.Event()

    def interrupted_submit() -> None:
        with pool._shutdown_lock:  # what ThreadPoolExecutor.submit holds when the signal arrives
            daemon.on_signal(signal.SIGTERM, None)
            handled.set()

    threading.Thread(target=interrupted_submit, daemon=True).start()
    assert handled.wait(10), "the signal handler blocked on the lock its own thread holds"
    loop.join(10)
    assert not loop.is_alive() and not daemon.scheduler.running
