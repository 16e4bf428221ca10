"""Build the Dramatiq broker from settings, with timeouts so no caller blocks without bound."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
from dramatiq.brokers.stub import StubBroker

from core.config import Settings, broker_nodes

logger = logging.getLogger(__name__)

#: Queue and actor names: the web and the scheduler enqueue by name, the actors register these.
MODERATION_QUEUE = "moderation"
TRANSLATION_QUEUE = "translation"
MAINTENANCE_QUEUE = "maintenance"
NOTIFICATIONS_QUEUE = "notifications"
#: The offensive-language model's own queue: its workers load scikit-learn, the moderation workers never do.
CLASSIFICATION_QUEUE = "classification"
CHECK_PROFANITY = "check_profanity"
TRANSLATE_COMMENT = "translate_comment"
#: The moderators' background tasks; the wire name is from before they were called tasks (queued messages keep it).
RUN_TASK = "run_job"
RUN_MAINTENANCE = "run_maintenance"
DELIVER_NOTIFICATION = "deliver_notification"
CLASSIFY_COMMENT = "classify_comment"
#: The same for several comments in one message: what a check batch passed (one publish, one model batch).
CLASSIFY_COMMENTS = "classify_comments"


def with_timeouts(url: str, *, socket_timeout: float, blocked_timeout: float) -> str:
    """Add pika timeouts to an AMQP URL unless the operator already set them."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    # pika's defaults block for 10-15 s per attempt and forever on a memory alarm.
    query.setdefault("socket_timeout", f"{socket_timeout:g}")
    query.setdefault("stack_timeout", f"{max(socket_timeout * 2, 2):g}")
    query.setdefault("blocked_connection_timeout", f"{blocked_timeout:g}")
    query.setdefault("connection_attempts", "1")
    return urlunsplit(parts._replace(query=urlencode(query)))


def node_urls(url: str, *, socket_timeout: float, blocked_timeout: float) -> list[str]:
    """Return one URL per node of BROKER_URL *url*, each with pika timeouts (``with_timeouts``)."""
    return [with_timeouts(node, socket_timeout=socket_timeout, blocked_timeout=blocked_timeout)
            for node in broker_nodes(url)]


def build_broker(settings: Settings, *, role: str) -> dramatiq.Broker:
    """Return a broker for *role* ("web", "worker" or "scheduler"); ``stub://`` gives a StubBroker."""
    if settings.broker_url.startswith("stub://"):
        stub = StubBroker()
        for queue in (MODERATION_QUEUE, TRANSLATION_QUEUE, MAINTENANCE_QUEUE, NOTIFICATIONS_QUEUE,
                      CLASSIFICATION_QUEUE):
            stub.declare_queue(queue)
        return stub
    from core.messaging.rabbitmq import ParleyRabbitmqBroker

    if role == "worker":
        urls = node_urls(settings.broker_url, socket_timeout=5, blocked_timeout=30)
    else:
        timeout = settings.publish_timeout_seconds
        urls = node_urls(settings.broker_url, socket_timeout=timeout, blocked_timeout=timeout)
    # Confirms make "sent" mean "the broker has it"; without them a publish can vanish silently.
    return ParleyRabbitmqBroker(url=urls, confirm_delivery=True, queue_type=settings.broker_queue_type)
