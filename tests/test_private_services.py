"""The private RabbitMQ node and PostgreSQL cluster for fault-injection tests misbehave on demand."""

from __future__ import annotations

import logging
import socket
import time
import uuid

import pika
import pika.exceptions
import psycopg2
import pytest
from pika.adapters.utils.connection_workflow import AMQPConnectorStackTimeout
from sqlalchemy import create_engine, text

from tests.private_services import PrivatePostgres, PrivateRabbit, epmd_names, port_open

# Module-scoped fixtures. Assigned rather than imported by name: an imported name shadowed by every test's
# parameter of the same name trips ruff's F811.

log = logging.getLogger(__name__)

PERSISTENT = pika.BasicProperties(delivery_mode=2)


def _queue() -> str:
    """Return a fresh queue name."""
    return f"private-{uuid.uuid4().hex[:8]}"


def _publish(rabbit: PrivateRabbit, queue: str, body: bytes, **overrides: object) -> None:
    """Publish *body* persistently to durable *queue* and wait for the broker's confirm."""
    connection = rabbit.connect(**overrides)
    try:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True)
        channel.confirm_delivery()
        channel.basic_publish("", queue, body, PERSISTENT, mandatory=True)
    finally:
        if connection.is_open:
            connection.close()


def _drain(rabbit: PrivateRabbit, queue: str) -> list[bytes]:
    """Get and acknowledge every message in *queue*."""
    connection = rabbit.connect()
    try:
        channel = connection.channel()
        bodies = []
        while True:
            method, _, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return bodies
            bodies.append(body)
    finally:
        connection.close()


def _assert_refused(rabbit: PrivateRabbit) -> None:
    """Assert that the node's port refuses AMQP connections at once."""
    began = time.monotonic()
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        rabbit.connect(socket_timeout=1, stack_timeout=2)
    assert time.monotonic() - began < 1.5
    assert not port_open(rabbit.port)


def test_rabbit_is_private(private_rabbit: PrivateRabbit) -> None:
    """The node has its own name and ports and talks to rabbitmqctl."""
    assert private_rabbit.port not in (5672, 25672)
    assert private_rabbit.url == f"amqp://guest:guest@127.0.0.1:{private_rabbit.port}/"
    assert epmd_names().get(private_rabbit.node.split("@")[0]) == private_rabbit.dist_port
    assert "Status of node" in private_rabbit.rabbitmqctl("status")
    log.info("first start of %s took %.1f s", private_rabbit.node, private_rabbit.last_start_seconds)


def test_persistent_message_survives_restart(private_rabbit: PrivateRabbit) -> None:
    """A confirmed persistent message on a durable queue is still there after a clean restart."""
    queue = _queue()
    _publish(private_rabbit, queue, b"survivor")
    assert private_rabbit.queue_depth(queue) == 1
    began = time.monotonic()
    start_seconds = private_rabbit.restart()
    log.info("restart took %.1f s (start %.1f s)", time.monotonic() - began, start_seconds)
    assert private_rabbit.queue_depth(queue) == 1
    assert _drain(private_rabbit, queue) == [b"survivor"]


def test_stopped_and_killed_node_refuse_connections(private_rabbit: PrivateRabbit) -> None:
    """Connections are refused while the node is stopped or crashed; data survives both."""
    queue = _queue()
    _publish(private_rabbit, queue, b"before-stop")
    private_rabbit.stop()
    assert not private_rabbit.is_running()
    _assert_refused(private_rabbit)
    private_rabbit.start()
    _publish(private_rabbit, queue, b"before-crash")
    private_rabbit.kill()
    _assert_refused(private_rabbit)
    log.info("start after kill took %.1f s", private_rabbit.start())
    assert _drain(private_rabbit, queue) == [b"before-stop", b"before-crash"]


def test_paused_node_black_holes_connections(private_rabbit: PrivateRabbit) -> None:
    """A SIGSTOPped node accepts TCP but never answers, so an AMQP handshake times out."""
    private_rabbit.pause()
    try:
        with socket.create_connection(("127.0.0.1", private_rabbit.port), timeout=1) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            with pytest.raises(TimeoutError):
                sock.recv(1)
        began = time.monotonic()
        # socket_timeout alone is not enough: the kernel completes the TCP handshake of a stopped process,
        # and pika then waits for Connection.Start up to stack_timeout (raising a non-AMQPError exception).
        with pytest.raises((AMQPConnectorStackTimeout, pika.exceptions.AMQPConnectionError)):
            private_rabbit.connect(socket_timeout=1, stack_timeout=2)
        assert time.monotonic() - began < 5
    finally:
        private_rabbit.resume()
    private_rabbit.connect(socket_timeout=5).close()


def test_blocked_publishers_time_out_until_unblocked(private_rabbit: PrivateRabbit) -> None:
    """Under a memory alarm a confirmed publish stalls until blocked_connection_timeout; afterwards it works."""
    queue = _queue()
    private_rabbit.block_publishers()
    try:
        began = time.monotonic()
        with pytest.raises(pika.exceptions.ConnectionBlockedTimeout):
            _publish(private_rabbit, queue, b"stalled", blocked_connection_timeout=1)
        assert time.monotonic() - began < 5
    finally:
        private_rabbit.unblock_publishers()
    _publish(private_rabbit, queue, b"flowing", blocked_connection_timeout=1)
    assert _drain(private_rabbit, queue)[-1] == b"flowing"


def _rows(url: str) -> list[str]:
    """Return the values in table t of the database at *url*."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT v FROM t ORDER BY id"))]
    finally:
        engine.dispose()


def _insert(url: str, value: str) -> None:
    """Insert *value* into table t (creating it) and commit."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS t (id serial PRIMARY KEY, v text)"))
            connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
    finally:
        engine.dispose()


def _assert_pg_refused(postgres: PrivatePostgres) -> None:
    """Assert that the cluster refuses connections."""
    with pytest.raises(psycopg2.OperationalError):
        postgres.connect(connect_timeout=2).close()


def test_postgres_stop_refuses_and_restart_keeps_data(private_postgres: PrivatePostgres) -> None:
    """A stopped cluster refuses connections; after restart() the committed rows are back."""
    assert private_postgres.port != 5432
    url = private_postgres.create_database("stopping")
    assert url == f"postgresql+psycopg2://postgres@127.0.0.1:{private_postgres.port}/stopping"
    _insert(url, "before-stop")
    private_postgres.stop()
    assert not private_postgres.is_running()
    _assert_pg_refused(private_postgres)
    log.info("postgres start took %.1f s", private_postgres.restart())
    assert _rows(url) == ["before-stop"]


def test_postgres_crash_recovers_committed_rows(private_postgres: PrivatePostgres) -> None:
    """After kill() (SIGKILL) the cluster refuses connections and crash recovery keeps every committed row."""
    url = private_postgres.create_database("crashing")
    _insert(url, "before-crash")
    engine = create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as connection:  # a pooled connection that the crash will break
            connection.execute(text("SELECT 1"))
        private_postgres.kill()
        _assert_pg_refused(private_postgres)
        private_postgres.start()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT v FROM t")).scalars().all() == ["before-crash"]
    finally:
        engine.dispose()


def test_shared_services_untouched() -> None:
    """The shared RabbitMQ and PostgreSQL still accept connections."""
    assert port_open(5672)
    assert port_open(5432)
    assert "rabbit" in epmd_names()
