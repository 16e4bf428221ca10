"""Notifications actor on queue ``notifications``: a thin shell over ``core.notifications.delivery``."""

from __future__ import annotations

import logging

import dramatiq

from actors.broker import settings
from actors.envelope import require_id
from core.errors import ValidationError
from core.messaging import counters
from core.messaging.broker import DELIVER_NOTIFICATION, NOTIFICATIONS_QUEUE
from core.notifications import delivery

logger = logging.getLogger(__name__)


# The row counts its own attempts (WEBHOOK_MAX_ATTEMPTS) and keeps its next attempt time: max_retries only has to
# outlast them. The delay of each retry is the row's backoff (Retry(delay=...)); a retry the broker loses is
# re-sent by the scheduler's re-dispatch (outbox.due), and a duplicate finds the row held or done and does nothing.
@dramatiq.actor(
    actor_name=DELIVER_NOTIFICATION,
    queue_name=NOTIFICATIONS_QUEUE,
    max_retries=20,
    min_backoff=5_000,
    max_backoff=900_000,
    throws=(ValidationError, TypeError),
)
def deliver_notification(outbox_id: int) -> None:
    """Send outbox row *outbox_id* (mail or webhook); raise Retry with its backoff when it must be tried again."""
    kind, result = delivery.attempt(require_id(outbox_id), settings)
    counters.count_send(kind, result.status)
    if result.status == "retry" and result.retry_in is not None:
        raise dramatiq.Retry(f"outbox {outbox_id}: {result.detail}", delay=int(result.retry_in * 1000))
    logger.log(logging.WARNING if result.status == "failed" else logging.DEBUG,
               "Outbox row %d: %s %s", outbox_id, result.status, result.detail)
