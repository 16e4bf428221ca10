"""Operator access to RabbitMQ: queue depths and the dead-letter queues Dramatiq fills."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions

from core.errors import BrokerUnavailable
from core.messaging.broker import (
    CLASSIFICATION_QUEUE,
    MAINTENANCE_QUEUE,
    MODERATION_QUEUE,
    NOTIFICATIONS_QUEUE,
    TRANSLATION_QUEUE,
    node_urls,
)
from core.messaging.rabbitmq import CONNECT_ERRORS, connect, queue_arguments

logger = logging.getLogger(__name__)

QUEUES = (MODERATION_QUEUE, TRANSLATION_QUEUE, MAINTENANCE_QUEUE, NOTIFICATIONS_QUEUE, CLASSIFICATION_QUEUE)
#: What pika raises when RabbitMQ cannot be reached or drops the connection; surfaced as BrokerUnavailable.
BROKER_ERRORS = CONNECT_ERRORS


def dead_letter_queue(queue: str) -> str:
    """Return the name of *queue*'s dead-letter queue."""
    return f"{queue}.XQ"


def all_queue_names() -> list[str]:
    """Return every queue Parley uses: work, delay (.DQ) and dead-letter (.XQ)."""
    return [name for queue in QUEUES for name in (queue, f"{queue}.DQ", f"{queue}.XQ")]


@contextmanager
def channel(url: str, timeout: float = 2.0) -> Iterator[Any]:
    """Open a short-lived channel on the first node of *url* that answers; raise BrokerUnavailable for any AMQP or
    socket error (every node unreachable, or the one that answered failing mid-operation)."""
    try:
        nodes = [pika.URLParameters(node) for node in node_urls(url, socket_timeout=timeout, blocked_timeout=timeout)]
        connection, _index = connect(nodes)
        try:
            yield connection.channel()
        finally:
            if connection.is_open:
                connection.close()
    except BROKER_ERRORS as exc:
        raise BrokerUnavailable(f"RabbitMQ cannot be reached: {type(exc).__name__}") from exc


def ping(url: str, timeout: float = 1.0) -> None:
    """Open and close an AMQP connection to *url*; raise BrokerUnavailable (a ``stub://`` URL always answers)."""
    if url.startswith("stub://"):
        return
    with channel(url, timeout):
        pass


def failure_reason(exc: BrokerUnavailable) -> str:
    """Name why the broker failed without its text: "refused" (credentials, vhost) or "unreachable"."""
    cause = exc.__cause__
    refused = (pika.exceptions.ProbableAuthenticationError, pika.exceptions.ProbableAccessDeniedError,
               pika.exceptions.AuthenticationError)
    if isinstance(cause, refused):
        return "refused"
    if isinstance(cause, pika.exceptions.ConnectionClosedByBroker) and cause.reply_code in (403, 530):
        return "refused"
    return "unreachable"


def queue_depths(url: str) -> dict[str, int | None]:
    """Return ready messages per queue by passive declare (None where the queue does not exist)."""
    depths: dict[str, int | None] = {}
    with channel(url) as ch:
        for name in all_queue_names():
            try:
                depths[name] = ch.queue_declare(queue=name, passive=True).method.message_count
            except pika.exceptions.ChannelClosedByBroker:
                depths[name] = None  # 404: never declared yet
                ch = ch.connection.channel()
    return depths


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message, decoded."""

    queue: str
    message_id: str
    actor: str
    args: list[Any]
    kwargs: dict[str, Any]
    failure: str
    retries: int
    age_seconds: float
    raw: bytes

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON-friendly view (without the raw body)."""
        return {"queue": self.queue, "message_id": self.message_id, "actor": self.actor, "args": self.args,
                "kwargs": self.kwargs, "failure": self.failure, "retries": self.retries,
                "age_seconds": round(self.age_seconds, 1)}


def _decode(queue: str, body: bytes) -> DeadLetter:
    """Decode a Dramatiq message body; undecodable bodies are shown as such, never dropped."""
    try:
        data = json.loads(body)
        options = data.get("options") or {}
        failure = (options.get("traceback") or "").strip().splitlines()
        return DeadLetter(
            queue=queue, message_id=str(data.get("message_id", "?")), actor=str(data.get("actor_name", "?")),
            args=list(data.get("args") or []), kwargs=dict(data.get("kwargs") or {}),
            failure=failure[-1] if failure else "no traceback (rejected, unknown actor or expired)",
            retries=int(options.get("retries", 0)),
            age_seconds=max(0.0, time.time() - int(data.get("message_timestamp", 0)) / 1000),
            raw=body,
        )
    except (ValueError, TypeError, AttributeError):
        return DeadLetter(queue=queue, message_id="?", actor="?", args=[], kwargs={}, failure="undecodable body",
                          retries=0, age_seconds=0.0, raw=body)


def _drain(ch: Any, queue: str, limit: int) -> list[tuple[Any, bytes]]:
    """Fetch up to *limit* messages without acknowledging them (they return on nack or close)."""
    fetched = []
    for _ in range(limit):
        method, _properties, body = ch.basic_get(queue=queue, auto_ack=False)
        if method is None:
            break
        fetched.append((method, body))
    return fetched


def list_dead_letters(url: str, queues: tuple[str, ...] = QUEUES, limit: int = 1000) -> list[DeadLetter]:
    """Return the dead letters of *queues* without removing them."""
    letters: list[DeadLetter] = []
    with channel(url) as ch:
        for queue in queues:
            xq = dead_letter_queue(queue)
            try:
                fetched = _drain(ch, xq, limit)
            except pika.exceptions.ChannelClosedByBroker:
                ch = ch.connection.channel()
                continue
            letters.extend(_decode(queue, body) for _method, body in fetched)
            for method, _body in fetched:
                ch.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
    return letters


def replay(url: str, message_ids: set[str] | None, queues: tuple[str, ...] = QUEUES, *,
           queue_type: str = "classic") -> list[str]:
    """Move dead letters (all, or those in *message_ids*) back to their queue (of *queue_type*), retries reset."""
    replayed: list[str] = []
    with channel(url) as ch:
        ch.confirm_delivery()
        for queue in queues:
            try:
                fetched = _drain(ch, dead_letter_queue(queue), 10_000)
            except pika.exceptions.ChannelClosedByBroker:
                ch = ch.connection.channel()
                ch.confirm_delivery()
                continue
            for method, body in fetched:
                letter = _decode(queue, body)
                unselected = message_ids is not None and letter.message_id not in message_ids
                if unselected or letter.actor == "?":
                    ch.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
                    continue
                data = json.loads(body)
                data["queue_name"] = queue  # it may have died on the delay queue
                data["options"] = {key: value for key, value in (data.get("options") or {}).items()
                                   if key not in ("retries", "traceback", "requeue_timestamp", "eta")}
                # Declared as Dramatiq declares it: publishing to a missing queue drops the message.
                ch.queue_declare(queue=queue, durable=True, arguments=queue_arguments(queue, queue_type))
                # Published (confirmed, mandatory) before the dead letter is acked: a crash duplicates, never loses.
                ch.basic_publish("", queue, json.dumps(data).encode(),
                                 pika.BasicProperties(delivery_mode=2, priority=0), mandatory=True)
                ch.basic_ack(delivery_tag=method.delivery_tag)
                replayed.append(letter.message_id)
    return replayed


def purge(url: str, queues: tuple[str, ...] = QUEUES) -> dict[str, int]:
    """Delete every dead letter of *queues*; return how many each had."""
    purged: dict[str, int] = {}
    with channel(url) as ch:
        for queue in queues:
            try:
                purged[queue] = ch.queue_purge(dead_letter_queue(queue)).method.message_count
            except pika.exceptions.ChannelClosedByBroker:
                ch = ch.connection.channel()
                purged[queue] = 0
    return purged
