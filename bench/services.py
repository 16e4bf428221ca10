"""Private services and child processes for one benchmark run; everything is undone by ``Stack.close()``."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pika

from bench.provision import (
    ROOT,
    create_pg_database,
    create_vhost,
    delete_vhost,
    drop_pg_database,
    migrate,
    pg_admin,
    poll,
    rabbitmqctl,
    unique,
)

RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "logs"
#: Names of a run's database and vhost: ``bench_<pid of run_all>_<8 hex>``.
RUN_NAME = re.compile(r"^bench_(\d+)_[0-9a-f]{8}$")


def _pid_alive(pid: int) -> bool:
    """Tell whether process *pid* exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_leftovers() -> list[str]:
    """Drop databases and vhosts of earlier runs whose process is gone (a run killed with SIGKILL)."""
    reaped = []
    connection = pg_admin()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%'")
            databases = [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()
    for name in databases:
        match = RUN_NAME.match(name)
        if match and not _pid_alive(int(match[1])):
            drop_pg_database(name)
            reaped.append(f"database {name}")
    for name in rabbitmqctl("list_vhosts").split():
        match = RUN_NAME.match(name)
        if match and not _pid_alive(int(match[1])):
            delete_vhost(name)
            reaped.append(f"vhost {name}")
    return reaped


def children(pid: int) -> list[int]:
    """Return the direct children of process *pid* (all its threads), read from /proc."""
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(c) for c in handle.read().split())
    return sorted(set(found))


def memory_of(pid: int) -> dict[str, float]:
    """Return VmRSS and PSS of *pid* in MiB (PSS splits pages shared with the parent after fork)."""
    out: dict[str, float] = {"pid": pid}
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mib"] = int(line.split()[1]) / 1024
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss_mib"] = int(line.split()[1]) / 1024
    return out


def cmdline(pid: int) -> str:
    """Return the command line of *pid* (empty if it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


class Proc:
    """A child process in its own session, output to ``bench/results/logs/NAME-xxxx.log``."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        """Start *cmd* with *env* added to this process's environment."""
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOGS / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop())
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.popen = subprocess.Popen(
            cmd, cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.popen.pid

    def log(self) -> str:
        """Return everything the process printed so far."""
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        """Tell whether the process still runs."""
        return self.popen.poll() is None

    def wait_until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """Poll *predicate* until truthy; fail early with the log tail if the process dies."""

        def check() -> Any:
            """Fail if the process died, else evaluate *predicate*."""
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}")
            return predicate()

        return poll(check, timeout, interval=0.1, what=what)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM the process group, SIGKILL after *timeout*; return the exit code."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        # Leftover grandchildren in the group (none expected) must not outlive the run.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if not self._log.closed:
            self._log.close()
        return self.popen.returncode


def http_answers(base: str) -> bool:
    """Tell whether an HTTP server answers on *base* at all (any status) within a second."""
    try:
        with urllib.request.urlopen(f"{base}/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Stack:
    """A private PostgreSQL database and RabbitMQ vhost plus every process started for the run."""

    def __init__(self) -> None:
        """Name the run's database and vhost; nothing is created before ``open()``."""
        self.name = unique("bench").lower()
        self.db_url = ""
        self.broker_url = ""
        self._db_created = False
        self._vhost_created = False
        self.procs: list[Proc] = []

    def open(self) -> Stack:
        """Reap what killed runs left behind, then create and migrate the database and create the vhost."""
        for leftover in reap_leftovers():
            print(f"removed the {leftover} of an earlier run that was killed", flush=True)
        self.db_url = create_pg_database(self.name)
        self._db_created = True
        migrate(self.db_url)
        self.broker_url = create_vhost(self.name)
        self._vhost_created = True
        return self

    @property
    def dsn(self) -> str:
        """Return the psycopg2 DSN of the private database."""
        return self.db_url.replace("postgresql+psycopg2://", "postgresql://")

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> Proc:
        """Start a child process that ``close()`` will stop."""
        proc = Proc(name, cmd, env)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        """Stop one process started by ``start()``."""
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def amqp(self) -> pika.BlockingConnection:
        """Return a new blocking connection to the private vhost."""
        return pika.BlockingConnection(pika.URLParameters(self.broker_url))

    def purge(self, *queues: str) -> None:
        """Drop the ready messages of *queues* (those that exist)."""
        connection = self.amqp()
        try:
            for queue in queues:
                channel = connection.channel()
                try:
                    channel.queue_purge(queue)
                except pika.exceptions.ChannelClosedByBroker:
                    continue
                with contextlib.suppress(pika.exceptions.AMQPError):
                    channel.close()
        finally:
            connection.close()

    def queue_depth(self, queue: str) -> int:
        """Return the number of ready messages in *queue* (0 if it does not exist)."""
        connection = self.amqp()
        try:
            return connection.channel().queue_declare(queue, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            return 0
        finally:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()

    def close(self) -> None:
        """Stop every process, delete the vhost, drop the database; never raises."""
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop(timeout=10)
        self.procs.clear()
        if self._vhost_created:
            with contextlib.suppress(Exception):
                delete_vhost(self.name)
            self._vhost_created = False
        if self._db_created:
            for _ in range(3):
                try:
                    drop_pg_database(self.name)
                    break
                except Exception:  # noqa: BLE001  (retried; a leftover session may still be closing)
                    time.sleep(1)
            self._db_created = False
