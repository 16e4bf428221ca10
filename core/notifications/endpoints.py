"""Webhook endpoints for admins (CLI, admin page): add, list, remove, enable, disable, their deliveries, redelivery."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import NotFound, ValidationError
from core.notifications import outbox, urls
from core.notifications.webhooks import MAX_CONSECUTIVE_FAILURES
from core.storage.models import utcnow
from core.storage.models_notifications import Outbox, OutboxKind, OutboxStatus, WebhookEndpoint

#: The deliveries an admin may send again: finished ones (a pending one is still being tried).
REDELIVERABLE = (OutboxStatus.SENT, OutboxStatus.FAILED)
#: The longest URL an endpoint may have (its column's size).
MAX_URL = 2000


def parse_events(value: str | Sequence[str]) -> list[str]:
    """Return the events of a comma-separated list (or a list); raise ValidationError on an unknown one."""
    items = value.split(",") if isinstance(value, str) else list(value)
    events = list(dict.fromkeys(item.strip() for item in items if item.strip()))
    unknown = [event for event in events if event not in outbox.EVENTS]
    if not events or unknown:
        raise ValidationError(f"events must be some of {', '.join(outbox.EVENTS)}; got {', '.join(unknown) or 'none'}")
    return events


def add(session: Session, url: str, events: str | Sequence[str], settings: Settings) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint for *events* at *url* (checked now, and again at every delivery); return it and its secret.

    The secret is a shared signing secret, stored as given because every delivery is signed with it: it is shown
    once here and never again.
    """
    if len(url.strip()) > MAX_URL:
        raise ValidationError(f"a webhook URL may be at most {MAX_URL} characters")
    urls.check(url, settings)
    secret = secrets.token_hex(32)
    endpoint = WebhookEndpoint(url=url.strip(), secret=secret, events=parse_events(events), enabled=True,
                               consecutive_failures=0, created_at=utcnow())
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def listing(session: Session) -> list[WebhookEndpoint]:
    """Return every endpoint, oldest first."""
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """Return endpoint *endpoint_id*; raise NotFound."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} does not exist")
    return endpoint


def remove(session: Session, endpoint_id: int) -> None:
    """Remove endpoint *endpoint_id* and its deliveries."""
    session.delete(get(session, endpoint_id))
    session.flush()


def enable(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """Enable endpoint *endpoint_id* again, its failure count reset."""
    endpoint = get(session, endpoint_id)
    endpoint.enabled, endpoint.consecutive_failures, endpoint.disabled_at = True, 0, None
    session.flush()
    return endpoint


def disable(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """Disable endpoint *endpoint_id*: it gets no new deliveries and its pending ones fail at their next attempt."""
    endpoint = get(session, endpoint_id)
    if endpoint.enabled:
        endpoint.enabled, endpoint.disabled_at = False, utcnow()
        session.flush()
    return endpoint


def disabled_reason(endpoint: WebhookEndpoint) -> str | None:
    """Return why *endpoint* is disabled (None while it is enabled).

    Failures stop counting once an endpoint is disabled, so one with fewer than the limit was disabled by hand.
    """
    if endpoint.enabled:
        return None
    if endpoint.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
        return f"{endpoint.consecutive_failures} failed deliveries in a row"
    return "disabled by an admin"


def deliveries(session: Session, endpoint_id: int, limit: int = 50) -> list[Outbox]:
    """Return the latest deliveries of endpoint *endpoint_id*, newest first."""
    get(session, endpoint_id)
    return list(session.scalars(select(Outbox).where(Outbox.kind == OutboxKind.WEBHOOK,
                                                     Outbox.endpoint_id == endpoint_id)
                                .order_by(Outbox.id.desc()).limit(limit)))


def redeliver(session: Session, delivery_id: str, endpoint_id: int | None = None) -> int:
    """Make delivery *delivery_id* pending again with fresh attempts (same id, same body); return its row id.

    Send the row after the commit (``outbox.send_all``). With *endpoint_id*, the delivery must be one of that
    endpoint's (the admin page's URL names it).
    """
    row = session.scalar(select(Outbox).where(Outbox.kind == OutboxKind.WEBHOOK, Outbox.message_id == delivery_id))
    if row is None or (endpoint_id is not None and row.endpoint_id != endpoint_id):
        raise NotFound(f"webhook delivery {delivery_id} does not exist")
    if row.status == OutboxStatus.PENDING and row.locked_until is not None and row.locked_until > utcnow():
        raise ValidationError(f"webhook delivery {delivery_id} is being sent right now")
    row.status, row.attempts, row.next_attempt_at, row.locked_until = OutboxStatus.PENDING, 0, None, None
    row.last_error, row.sent_at, row.dispatched_at = None, None, None
    session.flush()
    return row.id
