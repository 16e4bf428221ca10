"""BROKER_QUEUE_TYPE=quorum and a BROKER_URL of several nodes: parsing, declaration arguments, fail-over, and
every Parley queue declared as a quorum queue on a private vhost of the shared RabbitMQ."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pika
import pika.exceptions
import pytest

from bench.provision import rabbitmqctl
from core.config import Settings, broker_nodes
from core.errors import ConfigError
from core.messaging import queues
from core.messaging.broker import MODERATION_QUEUE, build_broker
from core.messaging.rabbitmq import DELIVERY_LIMIT, ParleyRabbitmqBroker, QueueTypeMismatch, connect, queue_arguments
from tests import support

NODES = "amqp://u:p@rabbit-1:5672/parley,amqp://u:p@rabbit-2:5672/parley, amqp://u:p@rabbit-3:5672/parley"


# ---- settings ------------------------------------------------------------------------------------------------


def test_broker_url_names_several_nodes() -> None:
    settings = Settings.from_env({"BROKER_URL": NODES, "BROKER_QUEUE_TYPE": "Quorum"})
    assert broker_nodes(settings.broker_url) == tuple(f"amqp://u:p@rabbit-{n}:5672/parley" for n in (1, 2, 3))
    assert settings.broker_queue_type == "quorum"
    # Dramatiq's own separator is taken too; one URL is one node.
    assert len(broker_nodes(NODES.replace(",", ";"))) == 3
    assert broker_nodes("amqp://guest:guest@127.0.0.1:5672/") == ("amqp://guest:guest@127.0.0.1:5672/",)
    assert Settings.from_env({}).broker_queue_type == "classic"


@pytest.mark.parametrize("env, message", [
    ({"BROKER_QUEUE_TYPE": "mirrored"}, "BROKER_QUEUE_TYPE must be one of classic, quorum"),
    ({"BROKER_URL": "amqp://u:secret@h1:5672,h2:5673/v"}, "BROKER_URL must be amqp[s]:// URLs"),
    ({"BROKER_URL": "amqp://u:p@h1/,redis://h2"}, "'redis://h2'"),
])
def test_bad_broker_settings_stop_the_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert message in str(raised.value)
    assert "secret" not in str(raised.value)


# ---- declaration arguments -----------------------------------------------------------------------------------


def test_quorum_arguments() -> None:
    assert queue_arguments("moderation", "quorum") == {
        "x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT, "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "moderation.XQ", "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish"}
    assert "x-delivery-limit" not in queue_arguments("moderation", "quorum", delivery_limit=False)
    # classic stays exactly what Dramatiq declares, so existing queues keep matching.
    assert queue_arguments("moderation", "classic") == {"x-dead-letter-exchange": "",
                                                         "x-dead-letter-routing-key": "moderation.XQ"}


def test_quorum_refuses_priorities() -> None:
    with pytest.raises(ValueError, match="x-max-priority"):
        ParleyRabbitmqBroker(url="amqp://h/", queue_type="quorum", max_priority=5)
    classic = ParleyRabbitmqBroker(url="amqp://h/", max_priority=5)
    assert classic._build_queue_arguments("q")["x-max-priority"] == 5
    quorum = ParleyRabbitmqBroker(url="amqp://h/", queue_type="quorum")
    assert "x-max-priority" not in quorum._build_queue_arguments("q")


def test_build_broker_gives_every_node_its_timeouts() -> None:
    broker = build_broker(Settings(broker_url=NODES, broker_queue_type="quorum"), role="web")
    assert isinstance(broker, ParleyRabbitmqBroker) and broker.queue_type == "quorum"
    assert [(p.host, p.socket_timeout, p.connection_attempts) for p in broker.nodes] == [
        (f"rabbit-{n}", 1.5, 1) for n in (1, 2, 3)]


def test_connect_skips_dead_nodes_and_starts_from_the_last_good_one(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[str] = []

    def fake_connection(params: pika.ConnectionParameters) -> str:
        tried.append(params.host)
        if params.host != "b":
            raise OSError("Name or service not known")  # what pika gives for a name that does not resolve
        return f"connection to {params.host}"

    monkeypatch.setattr(pika, "BlockingConnection", fake_connection)
    nodes = [pika.ConnectionParameters(host=h) for h in "abc"]
    assert connect(nodes) == ("connection to b", 1) and tried == ["a", "b"]
    tried.clear()
    assert connect(nodes, first=1)[1] == 1 and tried == ["b"]
    with pytest.raises(OSError):
        connect(nodes[::2])


# ---- a private vhost of the shared broker ------------------------------------------------------------------


@pytest.fixture
def quorum_vhost() -> Iterator[tuple[str, str]]:
    """An empty vhost of the shared RabbitMQ; yields (name, url)."""
    name = support.unique("parley_quorum")
    url = support.create_vhost(name)
    yield name, url
    support.delete_vhost(name)


def listed(vhost: str) -> dict[str, tuple[str, dict[str, object]]]:
    """Queue name -> (type, arguments), as rabbitmqctl lists them."""
    out = rabbitmqctl("list_queues", "-p", vhost, "--formatter", "json", "name", "type", "arguments")
    return {q["name"]: (q["type"], {key: value for key, _type, value in q["arguments"]}) for q in json.loads(out)}


def test_every_parley_queue_is_quorum_and_poison_ends_in_the_xq(quorum_vhost: tuple[str, str]) -> None:
    # Given a broker built as the processes build theirs, with BROKER_QUEUE_TYPE=quorum
    name, url = quorum_vhost
    broker = build_broker(Settings(broker_url=url, broker_queue_type="quorum"), role="worker")
    try:
        # When it declares every queue Parley uses
        for queue in queues.QUEUES:
            broker.declare_queue(queue, ensure=True)
        # Then each is a quorum queue; the work queues dead-letter at-least-once to their XQ after the limit
        found = listed(name)
        assert sorted(found) == sorted(queues.all_queue_names())
        assert {kind for kind, _ in found.values()} == {"quorum"}
        for queue in queues.QUEUES:
            work = found[queue][1]
            assert work["x-delivery-limit"] == DELIVERY_LIMIT, work
            assert (work["x-dead-letter-strategy"], work["x-overflow"]) == ("at-least-once", "reject-publish")
            assert (work["x-dead-letter-exchange"], work["x-dead-letter-routing-key"]) == ("", f"{queue}.XQ")
            assert found[f"{queue}.DQ"][1]["x-dead-letter-routing-key"] == f"{queue}.XQ"
            assert "x-message-ttl" in found[f"{queue}.XQ"][1]
        # And a message redelivered past the delivery limit (a worker killed by it each time) lands in the XQ
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", MODERATION_QUEUE, b'{"poison": true}', pika.BasicProperties(delivery_mode=2))
        deliveries = 0
        while (got := channel.basic_get(MODERATION_QUEUE))[0] is not None:
            deliveries += 1
            channel.basic_nack(got[0].delivery_tag, requeue=True)
            assert deliveries <= DELIVERY_LIMIT + 1
        assert deliveries == DELIVERY_LIMIT + 1
        support.poll(lambda: channel.queue_declare(f"{MODERATION_QUEUE}.XQ", passive=True).method.message_count == 1,
                     10, what="the poison message in moderation.XQ")
        connection.close()
    finally:
        broker.close()


def test_switching_a_classic_queue_to_quorum_names_the_migration(quorum_vhost: tuple[str, str],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    # Given the queues of a classic deployment
    _name, url = quorum_vhost
    classic = build_broker(Settings(broker_url=url), role="web")
    classic.declare_queue(MODERATION_QUEUE, ensure=True)
    classic.close()
    # When a process starts with BROKER_QUEUE_TYPE=quorum, then it says why it cannot, and what to do
    quorum = build_broker(Settings(broker_url=url, broker_queue_type="quorum"), role="web")
    try:
        with pytest.raises(QueueTypeMismatch, match="PRECONDITION_FAILED - inequivalent arg"):
            quorum.declare_queue(MODERATION_QUEUE, ensure=True)
        assert "migrate to a new vhost, or drain the queues and delete them" in caplog.text
        # And a publisher gives up within its deadline, leaving the comment for re-dispatch
        from core.messaging.dispatch import Dispatcher

        assert Dispatcher(quorum, timeout=1.5).send_check(1) is False
    finally:
        quorum.close()


def test_readiness_answers_while_one_node_is_down(quorum_vhost: tuple[str, str]) -> None:
    _name, url = quorum_vhost
    dead = f"amqp://guest:guest@127.0.0.1:{support.free_port()}/"
    queues.ping(f"{dead},{url}")
    with pytest.raises(Exception, match="cannot be reached"):
        queues.ping(f"{dead},{dead}")
