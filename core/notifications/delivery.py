"""Send one outbox row, whatever its kind: the notifications actor's one entry point."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta

from core.config import Settings
from core.notifications import bodies, mailer, outbox, webhooks
from core.notifications.webhooks import Result
from core.storage import db
from core.storage.batching import GroupCommit
from core.storage.models_notifications import OutboxKind, OutboxStatus

#: The sender of each kind of row, given the row claimed (each also claims it itself when called alone).
SENDERS: dict[str, Callable[..., Result]] = {"webhook": webhooks.deliver, "mail": mailer.deliver}


#: Tells apart two messages for the same row that meet in one batch: only the first gets the claim.
_tickets = itertools.count()


def _with_bodies(claimed: dict[int, outbox.Claimed], policy: str) -> dict[int, outbox.Claimed]:
    """Build the bodies of the claimed webhook rows at their first attempt, their comments in one read."""
    first = [row for row in claimed.values()
             if row.kind == OutboxKind.WEBHOOK and not (row.payload or {}).get("id")]
    comment_ids = [row.comment_id for row in first if row.comment_id is not None]
    if comment_ids:
        with db.autocommit() as connection:
            views = bodies.public_views(connection, comment_ids, policy)
    else:
        views = {}
    for row in first:
        view = views.get(row.comment_id) if row.comment_id is not None else None
        claimed[row.id] = replace(row, body=bodies.of(row.message_id, row.event, row.created_at, view))
    return claimed


@functools.cache
def _claims(lease_seconds: float, policy: str) -> GroupCommit[tuple[int, int], outbox.Claimed]:
    """Return this process's batcher of claims: the rows of the messages its threads run at once, one statement
    (and their webhooks' bodies, one more)."""
    lease = timedelta(seconds=lease_seconds)

    def claim_batch(items: Sequence[tuple[int, int]]) -> dict[tuple[int, int], outbox.Claimed]:
        claimed = _with_bodies(outbox.claim_many([outbox_id for outbox_id, _ticket in items], lease=lease), policy)
        first: dict[int, tuple[int, int]] = {}
        for item in items:
            first.setdefault(item[0], item)
        return {first[outbox_id]: row for outbox_id, row in claimed.items()}

    return GroupCommit(claim_batch)


def attempt(outbox_id: int, settings: Settings) -> tuple[str | None, Result]:
    """Make one attempt at outbox row *outbox_id*; return the row's kind (None if there is no such row) and
    the result, ``skipped`` when the row is unknown, not due, held or done.

    The row is claimed first (its claim returns its kind; the claims of the messages this process's threads
    run at the same time are one statement, and a webhook's first attempt gets its body with it), then sent by
    the sender of its kind.
    """
    claimed = _claims(settings.outbox_lease_seconds, settings.moderation_policy).submit((outbox_id, next(_tickets)))
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
