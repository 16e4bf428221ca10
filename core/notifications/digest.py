"""The moderator digest: every MODERATOR_DIGEST_MINUTES, one mail per subscribed moderator listing newly
flagged comments, none when nothing is new. The scheduler's run ledger makes each slot run once; each run
covers from where the last finished run stopped (its ``until``), so a missed slot loses nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.comments.validation import email_address
from core.config import Settings
from core.errors import NotFound, ValidationError
from core.notifications import addresses, outbox
from core.storage.models import Comment, Status
from core.storage.models_accounts import Moderator
from core.storage.models_notifications import OutboxKind
from core.storage.models_scheduling import JobRun

JOB = "digest"
DIGEST_EVENT = "mail.digest"
#: The most comments one digest lists (the count in its subject is the full one).
MAX_LISTED = 50


def moderator(session: Session, name: str) -> Moderator:
    """Return moderator *name*; raise NotFound."""
    found = session.scalar(select(Moderator).where(Moderator.name == name))
    if found is None:
        raise NotFound(f"moderator {name} does not exist")
    return found


def set_email(session: Session, name: str, email: str, settings: Settings) -> str:
    """Give moderator *name* the digest address *email* (validated; confirmed as an admin gave it); return it."""
    address, problem = email_address(email)
    if problem or not address:
        raise ValidationError("invalid email", fields={"email": problem or "email is required"})
    found = moderator(session, name)
    found.email = address
    addresses.ensure_confirmed(session, address, settings)
    return address


def set_notify(session: Session, name: str, on: bool) -> Moderator:
    """Turn moderator *name*'s digest on or off; raise ValidationError when turning it on without an address."""
    found = moderator(session, name)
    if on and not found.email:
        raise ValidationError("no email", fields={"email": f"give {name} an address first (moderators create --email)"})
    found.notify_digest = on
    return found


def _since(session: Session, now: datetime, settings: Settings) -> datetime:
    """Return where the last finished digest stopped, or one period back."""
    details = session.scalars(select(JobRun.detail).where(JobRun.job == JOB, JobRun.status == "done")
                              .order_by(JobRun.finished_at.desc()).limit(1)).all()
    until = (details[0] or {}).get("until") if details else None
    if until:
        return datetime.fromisoformat(until)
    return now - timedelta(minutes=settings.moderator_digest_minutes)


def collect(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """Write one digest mail per subscribed moderator listing comments flagged since the last digest.

    Returns the run's detail for the ledger (``until`` is where the next run starts).
    """
    since = _since(session, now, settings)
    detail: dict[str, Any] = {"until": now.isoformat(), "flagged": 0, "mails": 0}
    if not settings.mail_enabled:
        return detail
    ids = session.scalars(
        select(Comment.id).where(Comment.status == Status.FLAGGED, Comment.decision.is_(None),
                                 Comment.honeypot.is_(False), Comment.flagged_at > since, Comment.flagged_at <= now)
        .order_by(Comment.id)
    ).all()
    detail["flagged"] = len(ids)
    if not ids:
        return detail
    readers = session.scalars(select(Moderator).where(Moderator.notify_digest.is_(True), Moderator.disabled.is_(False),
                                                      Moderator.email.is_not(None)).order_by(Moderator.id))
    for reader in readers:
        if not addresses.deliverable(addresses.find(session, reader.email or "")):
            continue
        outbox.record(session, kind=OutboxKind.MAIL, event=DIGEST_EVENT, comment_id=None,
                      recipient=addresses.normalize(reader.email or ""),
                      payload={"template": "digest", "comment_ids": list(ids[:MAX_LISTED]), "count": len(ids),
                               "lang": "en"})
        detail["mails"] += 1
    return detail
