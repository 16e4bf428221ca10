"""Send one outbox row, whatever its kind: the notifications actor's one entry point."""

from __future__ import annotations

from collections.abc import Callable

from core.config import Settings
from core.notifications import mailer, outbox, webhooks
from core.notifications.webhooks import Result

#: The sender of each kind of row; each claims the row itself (so running one twice is safe).
SENDERS: dict[str, Callable[[int, Settings], Result]] = {"webhook": webhooks.deliver, "mail": mailer.deliver}


def attempt(outbox_id: int, settings: Settings) -> tuple[str | None, Result]:
    """Make one attempt at outbox row *outbox_id*; return the row's kind (None if there is no such row) and
    the result, ``skipped`` when the row is unknown, not due, held or done."""
    kind = outbox.kind_of(outbox_id)
    sender = SENDERS.get(kind or "")
    if sender is None:
        return kind, Result("skipped", detail=f"no sender for kind {kind!r}")
    return kind, sender(outbox_id, settings)


def deliver(outbox_id: int, settings: Settings) -> Result:
    """Make one attempt at outbox row *outbox_id*; ``skipped`` when it is unknown, not due, held or done."""
    return attempt(outbox_id, settings)[1]
