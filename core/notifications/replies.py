"""Reply notifications: when a reply becomes visible, one mail to its parent's confirmed, opted-in author."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.comments import reading
from core.config import Settings
from core.notifications import addresses, outbox
from core.storage.models import Comment, Status
from core.storage.models_notifications import Outbox, OutboxKind

logger = logging.getLogger(__name__)
REPLY_EVENT = "mail.reply"


def recipient(session: Session, reply: Comment, policy: str) -> tuple[Comment, str] | None:
    """Return the parent and the address to tell of visible *reply*, or None when nobody is to be told.

    Nobody is told of a hidden reply, of a reply to a comment without an opted-in address, of a reply by the
    parent's own author (the same address), or when the address is not confirmed, unsubscribed or bounced.
    """
    if reply.parent_id is None or not reading.is_visible(reply, policy):
        return None
    parent = session.get(Comment, reply.parent_id)
    if parent is None or parent.status == Status.DELETED or not parent.email or not parent.notify_replies:
        return None
    address = addresses.normalize(parent.email)
    if reply.email and addresses.normalize(reply.email) == address:
        return None
    if not addresses.deliverable(addresses.find(session, address)):
        return None
    return parent, address


def on_visible(session: Session, comment: Comment, settings: Settings) -> bool:
    """Call in the transaction that makes *comment* visible (published or approved): write its reply mail.

    At most one mail per reply, ever: a reply made visible again (edited, re-checked) is not announced twice.
    Return whether a mail was written to the outbox.
    """
    if not settings.mail_enabled:
        return False
    found = recipient(session, comment, settings.moderation_policy)
    if found is None:
        return False
    parent, address = found
    already = session.scalar(select(Outbox.id).where(Outbox.kind == OutboxKind.MAIL, Outbox.event == REPLY_EVENT,
                                                     Outbox.comment_id == comment.id).limit(1))
    if already is not None:
        return False
    outbox.record(session, kind=OutboxKind.MAIL, event=REPLY_EVENT, comment_id=comment.id, recipient=address,
                  payload={"template": "reply", "parent_id": parent.id, "lang": parent.lang})
    return True


def on_visible_ids(session: Session, comment_ids: list[int], settings: Settings) -> int:
    """Call :func:`on_visible` for each of *comment_ids* (a batch the check just published); return mails written."""
    if not settings.mail_enabled or not comment_ids:
        return 0
    # The batch was written with Core updates: load the rows as they are now, not as the session last saw them.
    replies = session.scalars(select(Comment).where(Comment.id.in_(comment_ids), Comment.parent_id.is_not(None))
                              .execution_options(populate_existing=True))
    return sum(on_visible(session, reply, settings) for reply in replies)
