"""Dramatiq's RabbitmqBroker, extended for a RabbitMQ cluster: quorum queues and fail-over between nodes.

Dramatiq 2.2 declares classic queues only. Quorum-queue support was discussed upstream (Bogdanp/dramatiq
issue #827, PRs #869 and #871) but not merged, so this subclass overrides the queue declarations, narrowly:
the names, the dead-letter routing and the dead-letter TTL stay exactly as Dramatiq has them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker, _RabbitmqConsumer
from dramatiq.common import dq_name, xq_name
from dramatiq.errors import BrokerError, ConnectionClosed
from pika.adapters.utils.connection_workflow import AMQPConnectorException

logger = logging.getLogger(__name__)

#: Deliveries of one message a quorum work queue allows before it dead-letters it to ``<queue>.XQ``: a second
#: poison guard beside the attempt counters in the database, for a message that kills its worker every time
#: (RabbitMQ then requeues it without Dramatiq's retries ever counting, PITFALLS §1.2). Twenty is far above any
#: attempt limit (CHECK_MAX_ATTEMPTS, TRANSLATION_MAX_ATTEMPTS) plus the redeliveries a few worker restarts cause.
DELIVERY_LIMIT = 20
#: What a failed connection attempt to one node raises (a name that does not resolve gives OSError).
CONNECT_ERRORS = (pika.exceptions.AMQPError, AMQPConnectorException, OSError)


class QueueTypeMismatch(BrokerError):
    """A queue exists with another type than BROKER_QUEUE_TYPE (RabbitMQ cannot change a queue's type)."""


def queue_arguments(queue: str, queue_type: str, *, delivery_limit: bool = True) -> dict[str, Any]:
    """Return the declaration arguments of work queue *queue* (or of its delay queue, without *delivery_limit*)."""
    arguments: dict[str, Any] = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": xq_name(queue)}
    if queue_type == "quorum":
        # at-least-once: the dead letter is removed from the queue only once the XQ confirmed it; RabbitMQ
        # allows that strategy only with reject-publish overflow.
        arguments.update({"x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once",
                          "x-overflow": "reject-publish"})
        if delivery_limit:
            arguments["x-delivery-limit"] = DELIVERY_LIMIT
    return arguments


def dead_letter_arguments(queue_type: str) -> dict[str, Any]:
    """Return the declaration arguments of a dead-letter queue (``<queue>.XQ``)."""
    # A static TTL, as Dramatiq's: messages expire head-first.
    arguments: dict[str, Any] = {"x-message-ttl": DEAD_MESSAGE_TTL}
    if queue_type == "quorum":
        arguments["x-queue-type"] = "quorum"
    return arguments


def connect(nodes: Sequence[pika.connection.Parameters], first: int = 0) -> tuple[pika.BlockingConnection, int]:
    """Connect to the first node that answers, starting at index *first*; return the connection and its index."""
    # pika takes a list of parameters too, but gives up on the whole list when one host name does not resolve
    # (a stopped compose container), so each node is tried on its own.
    order = [*range(first, len(nodes)), *range(first)]
    for attempt, index in enumerate(order):
        params = nodes[index]
        try:
            return pika.BlockingConnection(params), index
        except CONNECT_ERRORS as exc:
            if attempt == len(order) - 1:
                raise
            logger.warning("RabbitMQ node %s:%s did not answer (%s); trying the next node.",
                           params.host, params.port, type(exc).__name__)
    raise AssertionError("unreachable: no nodes")


class ParleyRabbitmqBroker(RabbitmqBroker):
    """A RabbitmqBroker that declares ``classic`` or ``quorum`` queues and fails over between several nodes."""

    def __init__(self, *, queue_type: str = "classic", **kwargs: Any) -> None:
        """Take RabbitmqBroker's arguments plus *queue_type*; ``url`` may be a list, one URL per node."""
        super().__init__(**kwargs)
        if queue_type == "quorum" and self.max_priority:
            raise ValueError("quorum queues do not support x-max-priority: leave max_priority unset")
        self.queue_type = queue_type
        #: The node the last connection reached: new connections try it first, so a dead first node costs nothing.
        self.preferred_node = 0

    @property
    def nodes(self) -> list[pika.connection.Parameters]:
        """The connection parameters of every node, in BROKER_URL's order."""
        return self.parameters if isinstance(self.parameters, list) else [self.parameters]

    def open_connection(self) -> pika.BlockingConnection:
        """Open a connection to the first node that answers, starting with the one that answered last."""
        connection, self.preferred_node = connect(self.nodes, self.preferred_node)
        return connection

    @property
    def connection(self) -> pika.BlockingConnection:
        """The current thread's connection, opened on the first node that answers."""
        connection = getattr(self.state, "connection", None)
        if connection is None:
            connection = self.state.connection = self.open_connection()
            self.connections.add(connection)
        return connection

    @connection.deleter
    def connection(self) -> None:
        RabbitmqBroker.connection.fdel(self)  # type: ignore[attr-defined]

    @property
    def consumer_class(self) -> type[_RabbitmqConsumer]:
        """Consumers that fail over like the publishing connection."""
        return _FailoverConsumer

    def _build_queue_arguments(self, queue_name: str, *, delivery_limit: bool = True) -> dict[str, Any]:
        arguments = queue_arguments(queue_name, self.queue_type, delivery_limit=delivery_limit)
        if self.max_priority:  # classic only (refused with quorum in __init__)
            arguments["x-max-priority"] = self.max_priority
        return arguments

    def _declare_queue(self, queue_name: str) -> Any:
        return self._declare(queue_name, self._build_queue_arguments(queue_name))

    def _declare_dq_queue(self, queue_name: str) -> Any:
        # No delivery limit: a delayed message waits unacked in a worker and comes back at every worker restart,
        # which says nothing about whether it is poison.
        return self._declare(dq_name(queue_name), self._build_queue_arguments(queue_name, delivery_limit=False))

    def _declare_xq_queue(self, queue_name: str) -> Any:
        return self._declare(xq_name(queue_name), dead_letter_arguments(self.queue_type))

    def _declare(self, name: str, arguments: dict[str, Any]) -> Any:
        """Declare durable queue *name*; a queue that exists with other arguments raises QueueTypeMismatch."""
        try:
            return self.channel.queue_declare(queue=name, durable=True, arguments=arguments)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 406:  # PRECONDITION_FAILED: "inequivalent arg 'x-queue-type'..."
                raise
            del self.channel
            logger.error("Queue %r exists with other arguments than BROKER_QUEUE_TYPE=%s needs (%s). RabbitMQ cannot "
                         "change a queue's type: migrate to a new vhost, or drain the queues and delete them "
                         "(README \"RabbitMQ cluster\").", name, self.queue_type, exc.reply_text)
            raise QueueTypeMismatch(f"queue {name!r}: {exc.reply_text}") from None


class _FailoverConsumer(_RabbitmqConsumer):
    """Dramatiq's consumer, connecting through ParleyRabbitmqBroker.open_connection (its __init__, otherwise as is)."""

    def __init__(self, broker: ParleyRabbitmqBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        try:
            self.connection = broker.open_connection()
            self.channel = self.connection.channel()
            self.channel.basic_qos(prefetch_count=prefetch)
            self.iterator = self.channel.consume(queue_name, inactivity_timeout=timeout / 1000)
            self.known_tags: set[int] = set()
        except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError, *CONNECT_ERRORS[1:]) as exc:
            raise ConnectionClosed(exc) from None
