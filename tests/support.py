"""Helpers for tests that use real services: child processes and workers; and, shared with the benchmarks
(bench never imports tests), databases, vhosts, free ports and the bounded poll of ``bench/provision.py``."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid

import requests

from bench.provision import (
    BIN,
    ROOT,
    create_pg_database,
    create_vhost,
    delete_vhost,
    drop_pg_database,
    free_port,
    migrate,
    poll,
    release_port,
    unique,
)

__all__ = [
    "ARTIFACTS", "BIN", "LIVE", "ROOT", "Proc", "create_pg_database", "create_vhost", "delete_vhost",
    "drop_pg_database", "free_port", "migrate", "poll", "release_port", "start_web", "start_worker", "unique",
    "worker_env",
]

ARTIFACTS = ROOT / "test-artifacts"
#: TRANSLATION_MAX_ATTEMPTS of a test stack's web and worker (the default is 5): Dramatiq's backoff doubles from 1 s,
#: so a translation failing every attempt is given up after 3-6 s instead of 15-30 s (tests/test_pipeline.py).
TEST_TRANSLATION_MAX_ATTEMPTS = 3


#: Every child process a test started and has not stopped yet (reaped after each test).
LIVE: list[Proc] = []


class Proc:
    """A child process whose output goes to a log file under ``test-artifacts/``."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.name = name
        #: Owned by a fixture wider than one test (not reaped after each test).
        self.shared = False
        self.log_path = ARTIFACTS / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.popen = subprocess.Popen(
            cmd, cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        LIVE.append(self)

    def log(self) -> str:
        """Return everything the process printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        """Wait until *text* appears in the output; fail if the process dies first."""

        def seen() -> bool:
            if self.popen.poll() is not None and text not in self.log():
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}")
            return text in self.log()

        poll(seen, timeout, interval=0.1, what=f"{text!r} in {self.name} output")

    def signal(self, signum: int) -> None:
        """Send *signum* to the whole process group."""
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM, then SIGKILL after *timeout*; return the exit code."""
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(10)
        self._log.close()
        if self in LIVE:
            LIVE.remove(self)
        return self.popen.returncode


def worker_env(database_url: str, broker_url: str, **extra: str) -> dict[str, str]:
    """Return the environment of a worker process for a test stack."""
    env = {
        "DATABASE_URL": database_url,
        "BROKER_URL": broker_url,
        "PARLEY_ENV": "test",
        "LOG_LEVEL": "INFO",
        "dramatiq_restart_delay": "500",
        "WORKER_METRICS": "0",
        "SCHEDULER_HEALTH_PORT": "0",
        # The offensive-language model stage runs only in the tests that turn it on (tests/test_classification.py):
        # the rest test the pipeline up to a verdict without it (before_publish then publishes on the word list).
        "OFFENSIVE_MODEL": "off",
        # Tests post many comments from one client, and numbered texts that normalise alike: the spam signals'
        # thresholds are out of reach except in the tests of those signals (tests/test_signals*.py).
        "BURST_MAX": "100000",
        "DUPLICATE_MAX": "100000",
    }
    env.update(extra)
    return env


def start_worker(env: dict[str, str], processes: int = 1, threads: int = 4, queues: tuple[str, ...] = ()) -> Proc:
    """Start ``dramatiq actors`` and wait until it consumes."""
    cmd = [str(BIN / "dramatiq"), "actors", "--processes", str(processes), "--threads", str(threads),
           "--worker-shutdown-timeout", "5000"]
    if queues:
        cmd += ["--queues", *queues]
    proc = Proc("worker", cmd, env)
    proc.wait_for_log("is ready for action", timeout=60)
    return proc


def start_web(env: dict[str, str], name: str = "gunicorn", workers: int = 2, threads: int = 4) -> tuple[Proc, str]:
    """Start gunicorn serving the app on a spare loopback port and wait until it answers; return it and its URL."""
    port = free_port()
    cmd = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
           "--graceful-timeout", "5", "webapp:create_app()"]
    proc = Proc(name, cmd, env)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.popen.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{proc.log()[-3000:]}")
        try:
            return requests.get(f"{base}/healthz", timeout=1).status_code == 200
        except requests.RequestException:  # not listening yet, or still booting
            return False

    try:
        poll(up, 60, interval=0.2, what="gunicorn to answer")
    except BaseException:
        proc.stop()
        raise
    return proc, base
