"""Helpers for tests that use real services: databases, vhosts, processes, polling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
AMQP_HOST = os.environ.get("TEST_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("TEST_AMQP_PORT", "5672"))
ARTIFACTS = ROOT / "test-artifacts"


def poll(predicate: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Call *predicate* until it returns something truthy; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def unique(prefix: str) -> str:
    """Return a unique lower-case name for a database or vhost."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def pg_admin(port: int = PG_PORT) -> Any:
    """Return an autocommit connection to the maintenance database."""
    connection = psycopg2.connect(host=PG_HOST, port=port, user="postgres", dbname="postgres", connect_timeout=5)
    connection.autocommit = True
    return connection


def create_pg_database(name: str, port: int = PG_PORT) -> str:
    """Create database *name*; return its SQLAlchemy URL."""
    connection = pg_admin(port)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return f"postgresql+psycopg2://postgres@{PG_HOST}:{port}/{name}"


def drop_pg_database(name: str, port: int = PG_PORT) -> None:
    """Drop database *name*, disconnecting its sessions first."""
    connection = pg_admin(port)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        connection.close()


def migrate(url: str) -> None:
    """Run ``alembic upgrade head`` against *url*."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    config.attributes["skip_logging"] = True
    command.upgrade(config, "head")


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl on the shared node."""
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def create_vhost(name: str) -> str:
    """Create a private RabbitMQ vhost for one test run; return its AMQP URL."""
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{name}"


def delete_vhost(name: str) -> None:
    """Delete a vhost created by ``create_vhost``."""
    rabbitmqctl("delete_vhost", name)


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
