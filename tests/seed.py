"""Test data as the product would have left it: moderators who log in with ``PASSWORD`` or a token, and comments
in any state with their translations and decisions.

Each function works in its own transaction on ``core.storage.db``; pass ``session`` to add to yours instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.moderation import accounts
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Translation, utcnow

PASSWORD = "correct horse battery staple"


@contextmanager
def _transaction(session: Session | None) -> Iterator[Session]:
    """Use the caller's *session*, or a transaction of its own."""
    if session is not None:
        yield session
    else:
        with db.session_scope() as own:
            yield own


def moderator(name: str = "alice", role: str = "moderator", session: Session | None = None) -> None:
    """Create a moderator who logs in with ``PASSWORD``."""
    with _transaction(session) as session:
        accounts.create(session, name, PASSWORD, role)


def moderator_token(name: str = "alice", role: str = "moderator", session: Session | None = None) -> str:
    """Create a moderator; return an API token for it."""
    with _transaction(session) as session:
        accounts.create(session, name, PASSWORD, role)
        return accounts.issue_token(session, name)


def comment(
    body: str = "What a load of shit, honestly.",
    *,
    status: str = Status.FLAGGED,
    author: str = "Ada",
    thread: str = "blog/post-1",
    lang: str | None = "en",
    words: Iterable[str] = ("shit",),
    translations: dict[str, str | dict[str, Any]] | None = None,
    created_at: datetime | None = None,
    session: Session | None = None,
    **columns: Any,
) -> int:
    """Insert a comment as the worker would have left it in *status* (flagged by default); return its id.

    A flagged comment, or one with a ``decision``, matched *words* and is censored; a pending one is not checked
    yet. ``translations`` maps a language to its text (a done translation) or to a dict of Translation columns.
    Any other Comment column can be given in *columns*.
    """
    created = created_at or utcnow()
    flagged = status == Status.FLAGGED or columns.get("decision") is not None
    words = list(words) if flagged else []
    row = Comment(
        thread=thread, author=author, body=body, lang=lang, status=status, created_at=created, updated_at=created,
        checked_at=None if status == Status.PENDING else created,
        flagged_at=created if flagged else None,
        matched_words=words,
        censored_body=censor(body, words),
        **columns,
    )
    for code, value in (translations or {}).items():
        translation = value if isinstance(value, dict) else {"status": "done", "text": value}
        row.translations.append(Translation(lang=code, **translation))
    with _transaction(session) as session:
        session.add(row)
        session.flush()
        return row.id


def decision(comment_id: int, action: str, moderator: str, reason: str | None = None,
             at: datetime | None = None, session: Session | None = None) -> None:
    """Record a moderator's decision on a flagged comment as the app does: the comment and one audit event."""
    at = at or utcnow()
    with _transaction(session) as session:
        row = session.get(Comment, comment_id)
        row.status = Status.PUBLISHED if action == "approve" else Status.REJECTED
        row.decision, row.decided_by, row.decision_reason, row.decided_at = action, moderator, reason, at
        session.add(AuditEvent(comment_id=comment_id, kind="decision", action=action, actor=moderator,
                               reason=reason, at=at))


def censor(body: str, words: Iterable[str]) -> str:
    """Return *body* with each of *words* replaced by ``****``."""
    for word in words:
        body = body.replace(word, "****")
    return body
