"""Helpers for moderator tests: accounts, seeded comments, authenticated JSON calls."""

from __future__ import annotations

import json
from typing import Any

from core.moderation import accounts
from core.storage import db
from core.storage.models import Comment, Status, Translation, utcnow

PASSWORD = "correct horse battery staple"


def make_moderator(name: str = "alice", role: str = "moderator") -> str:
    """Create a moderator; return an API token for it."""
    with db.session_scope() as session:
        accounts.create(session, name, PASSWORD, role)
        return accounts.issue_token(session, name)


def seed(body: str = "what the fuck", status: str = Status.FLAGGED, thread: str = "t", author: str = "Troll",
         words: list[str] | None = None, translation: dict[str, Any] | None = None, lang: str = "en") -> int:
    """Insert a comment as the worker would have left it; return its id."""
    with db.session_scope() as session:
        comment = Comment(thread=thread, author=author, body=body, lang=lang, status=status,
                          censored_body=body, matched_words=words if words is not None else ["fuck"],
                          checked_at=utcnow() if status != Status.PENDING else None,
                          flagged_at=utcnow() if status == Status.FLAGGED else None)
        if translation:
            comment.translations = [Translation(**translation)]
        session.add(comment)
        session.flush()
        return comment.id


def api(client, method: str, path: str, token: str | None, payload: Any = None):  # type: ignore[no-untyped-def]
    """Call the moderator API with a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if payload is not None:
        kwargs.update(data=json.dumps(payload), content_type="application/json")
    return getattr(client, method)(path, **kwargs)
