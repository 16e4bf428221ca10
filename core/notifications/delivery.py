"""Send one outbox row, whatever its kind: the notifications actor's one entry point."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from core.config import Settings
from core.notifications import mailer, outbox, webhooks
from core.notifications.webhooks import Result
from core.storage.models_notifications import OutboxStatus

#: The sender of each kind of row, given the row claimed (each also claims it itself when called alone).
SENDERS: dict[str, Callable[..., Result]] = {"webhook": webhooks.deliver, "mail": mailer.deliver}


def attempt(outbox_id: int, settings: Settings) -> tuple[str | None, Result]:
    """Make one attempt at outbox row *outbox_id*; return the row's kind (None if there is no such row) and
    the result, ``skipped`` when the row is unknown, not due, held or done.

    The row is claimed first (its claim returns its kind), then sent by the sender of its kind.
    """
    claimed = outbox.claim(outbox_id, lease=timedelta(seconds=settings.outbox_lease_seconds))
    if claimed is None:
        return outbox.kind_of(outbox_id), Result("skipped")
    sender = SENDERS.get(claimed.kind)
    if sender is None:
        detail = f"no sender for kind {claimed.kind!r}"
        outbox.finish(claimed.id, claimed.attempt, OutboxStatus.FAILED, error=detail)
        return claimed.kind, Result("failed", detail=detail)
    return claimed.kind, sender(outbox_id, settings, claimed=claimed)


def deliver(outbox_id: int, settings: Settings) -> Result:
    """Make one attempt at outbox row *outbox_id*; ``skipped`` when it is unknown, not due, held or done."""
    return attempt(outbox_id, settings)[1]
