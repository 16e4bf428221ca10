"""What a benchmark run and a test both take from the shared machine: a PostgreSQL database, a RabbitMQ vhost,
a free loopback port, and a bounded poll.

The tests use these through ``tests/support.py``: tests may import bench, bench never imports tests.
"""

from __future__ import annotations

import os
import random
import socket
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

# epmd, the shared PostgreSQL and RabbitMQ (AMQP + distribution) and the range rabbitmqctl uses for itself.
RESERVED_PORTS = frozenset({4369, 5432, 5672, 25672, *range(35672, 35683)})
_handed_out: set[int] = set()


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


def _ephemeral_low() -> int:
    """Return the first port of the kernel's range for outgoing connections (32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(exclude: set[int] | frozenset[int] = frozenset()) -> int:
    """Return a loopback TCP port nobody listens on and this process has not handed out (see ``release_port``),
    below the ephemeral range and avoiding the shared services."""
    # Not bind(0): that hands out a port of the ephemeral range, which any outgoing connection on the
    # machine may take as its local port while a stopped server is down, and the restart then fails with
    # eaddrinuse (seen in a CI run). Ports below the range are only ever taken by listeners.
    high = _ephemeral_low() - 1
    for _ in range(500):
        port = random.randint(20000, high)
        if port in RESERVED_PORTS or port in exclude or port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port found")


def release_port(*ports: int) -> None:
    """Let ``free_port`` hand out *ports* again (their server is gone for good)."""
    _handed_out.difference_update(ports)


def unique(prefix: str) -> str:
    """Return a unique lower-case name for a database or vhost: ``<prefix>_<pid>_<8 hex>``."""
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


def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl on the shared node; return what it printed."""
    done = subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60)
    return done.stdout


def create_vhost(name: str) -> str:
    """Create a private RabbitMQ vhost; return its AMQP URL."""
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{name}"


def delete_vhost(name: str) -> None:
    """Delete a vhost created by ``create_vhost``."""
    rabbitmqctl("delete_vhost", name)
