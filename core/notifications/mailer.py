"""Deliver one mail row of the outbox: claim it, render it at send time, send it, record the outcome.

Transient failures (4xx, timeouts, refused or lost connections) leave the row pending for a retry with
exponential backoff, up to MAX_ATTEMPTS; a permanent one (5xx) fails it with the server's reason and marks the
address bounced; a mail that must not go out any more (unsubscribed, bounced, comment hidden) fails with why.
Every attempt of a row carries its ``message_id`` as Message-ID, so a resend after a crash is recognisable.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from core.config import Settings
from core.notifications import addresses, letters, outbox
from core.notifications.mail import PermanentMailError, TransientMailError, compose, send
from core.notifications.webhooks import Result, backoff
from core.storage import db
from core.storage.models import utcnow
from core.storage.models_notifications import OutboxStatus

logger = logging.getLogger(__name__)
#: Attempts of one mail before it fails for good (with backoff 10 s, 20 s, … up to 15 min: about half an hour).
MAX_ATTEMPTS = 8


def deliver(outbox_id: int, settings: Settings, now: datetime | None = None,
            claimed: outbox.Claimed | None = None) -> Result:
    """Make one attempt at mail row *outbox_id*, if it is due and nobody else holds it; safe to run twice.
    *claimed* is the row when the caller claimed it already (``delivery.attempt``)."""
    claimed = claimed or outbox.claim(outbox_id, now, lease=timedelta(seconds=settings.outbox_lease_seconds))
    if claimed is None:
        return Result("skipped")
    try:
        if not settings.mail_enabled:
            raise letters.Skip("mail is off (SMTP_URL is empty)")
        with db.session_scope() as session:
            message = compose(letters.render(session, claimed, settings), settings)
    except letters.Skip as exc:
        outbox.finish(claimed.id, claimed.attempt, OutboxStatus.FAILED, error=f"not sent: {exc}")
        logger.info("Mail %s not sent: %s", claimed.message_id, exc)
        return Result("failed", detail=f"not sent: {exc}")
    # No database connection is held while the SMTP server answers.
    try:
        send(message, settings)
    except PermanentMailError as exc:
        with db.session_scope() as session:
            if outbox.finish(claimed.id, claimed.attempt, OutboxStatus.FAILED, error=exc.reason, session=session):
                addresses.mark_bounced(session, claimed.recipient or "", exc.reason)
        logger.warning("Mail %s refused for good: %s", claimed.message_id, exc.reason)
        return Result("failed", detail=exc.reason)
    except TransientMailError as exc:
        return _retry(claimed, str(exc))
    outbox.finish(claimed.id, claimed.attempt, OutboxStatus.SENT)
    return Result("sent")


def _retry(claimed: outbox.Claimed, error: str) -> Result:
    """Leave the row pending for a later attempt, or fail it once its attempts are spent."""
    if claimed.attempt >= MAX_ATTEMPTS:
        outbox.finish(claimed.id, claimed.attempt, OutboxStatus.FAILED, error=f"gave up: {error}")
        logger.warning("Mail %s failed after %d attempts: %s", claimed.message_id, claimed.attempt, error)
        return Result("failed", detail=error)
    wait = backoff(claimed.attempt)
    outbox.finish(claimed.id, claimed.attempt, OutboxStatus.PENDING, error=error,
                  retry_at=utcnow() + timedelta(seconds=wait))
    logger.info("Mail %s attempt %d failed (%s); retry in %.0f s.", claimed.message_id, claimed.attempt, error, wait)
    return Result("retry", retry_in=wait, detail=error)
