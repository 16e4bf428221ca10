"""Write the mail of an outbox row when it is sent: its words in the reader's language, its links, its checks.

Rendering at send time lets the sender check the state of the moment: nothing goes to an address that has
unsubscribed or bounced since, and no reply mail for a reply hidden or deleted since.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.comments import reading
from core.config import Settings
from core.notifications import addresses
from core.notifications.mail import Mail
from core.notifications.mail_texts import language, text
from core.notifications.outbox import Claimed
from core.storage.models import Comment, Status

#: The most characters of a comment quoted in a mail (the rest is cut with an ellipsis).
MAX_QUOTE = 2000


class Skip(Exception):
    """The row's mail must not be sent (address unsubscribed or bounced, comment hidden): ``reason`` says why."""


def _quote(body: str | None) -> str:
    body = body or ""
    return body if len(body) <= MAX_QUOTE else body[:MAX_QUOTE].rstrip() + "…"


def _shown_body(comment: Comment) -> str:
    return (comment.censored_body or comment.body) if comment.status == Status.FLAGGED else comment.body


def render(session: Session, row: Claimed, settings: Settings) -> Mail:
    """Return the mail of outbox *row*; raise Skip when it must not go out any more."""
    payload = row.payload or {}
    template, to = payload.get("template"), row.recipient or ""
    state = addresses.find(session, to)
    if state is None or state.unsubscribed_at or state.bounced_at:
        raise Skip("address unsubscribed or bounced" if state else "address unknown")
    if template != "confirm" and not state.confirmed_at:
        raise Skip("address not confirmed")
    lang = language(payload.get("lang"), state.lang)
    mail = Mail(to=to, subject="", lang=lang, message_id=row.message_id,
                unsubscribe_url=addresses.unsubscribe_url(settings, to))
    if template == "confirm":
        _confirm(session, row, mail, settings)
    elif template == "reply":
        _reply(session, row, mail, settings)
    elif template == "digest":
        _digest(session, payload, mail, settings)
    else:
        raise Skip(f"unknown mail template {template!r}")
    mail.blocks += [("p", text(lang, "footer")), ("link", text(lang, "unsubscribe"), mail.unsubscribe_url or "")]
    return mail


def _confirm(session: Session, row: Claimed, mail: Mail, settings: Settings) -> None:
    comment = session.get(Comment, row.comment_id) if row.comment_id else None
    author, thread = (comment.author, comment.thread) if comment else ("?", "?")
    mail.subject = text(mail.lang, "confirm.subject")
    mail.blocks += [("p", text(mail.lang, "confirm.intro", author=author, thread=thread)),
                    ("p", text(mail.lang, "confirm.ask")),
                    ("link", text(mail.lang, "confirm.link"), addresses.confirm_url(settings, row.payload["token"])),
                    ("p", text(mail.lang, "confirm.ignore"))]


def _reply(session: Session, row: Claimed, mail: Mail, settings: Settings) -> None:
    reply = session.get(Comment, row.comment_id) if row.comment_id else None
    if reply is None or not reading.is_visible(reply, settings.moderation_policy):
        raise Skip("the reply is no longer visible")
    parent = session.get(Comment, reply.parent_id) if reply.parent_id else None
    mail.subject = text(mail.lang, "reply.subject", author=reply.author)
    mail.blocks += [("p", text(mail.lang, "reply.intro", author=reply.author, thread=reply.thread)),
                    ("quote", _quote(_shown_body(reply)))]
    if parent is not None and parent.status != Status.DELETED:
        mail.blocks += [("p", text(mail.lang, "reply.yours")), ("quote", _quote(parent.body))]


def _digest(session: Session, payload: dict, mail: Mail, settings: Settings) -> None:
    ids = [int(i) for i in payload.get("comment_ids", [])]
    rows = session.scalars(select(Comment).where(Comment.id.in_(ids)).order_by(Comment.id)).all() if ids else []
    mail.subject = text(mail.lang, "digest.subject", count=payload.get("count", len(ids)))
    mail.blocks.append(("p", text(mail.lang, "digest.intro")))
    for comment in rows:
        mail.blocks += [("p", f"#{comment.id} · {comment.thread} · {comment.author}"),
                        ("quote", _quote(_shown_body(comment))[:300]),
                        ("link", f"#{comment.id}", f"{settings.public_base_url}/moderation/comments/{comment.id}")]
    mail.blocks.append(("link", text(mail.lang, "digest.link"), f"{settings.public_base_url}/moderation/"))
