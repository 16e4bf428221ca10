"""Helpers for the page and browser tests: seed moderators and comments, run the app on a real port."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from core import db, moderators
from core.models import Comment, Status, Translation, utcnow

PASSWORD = "correct horse battery staple"

#: Payloads that would run script if any user text reached the page unescaped.
XSS_BODY = "<script>alert('body')</script><img src=x onerror=\"alert('body-img')\">"
XSS_AUTHOR = "<img src=x onerror=alert('author')>"
XSS_TRANSLATION = "<svg onload=alert('translation')></svg><script>alert('tr')</script>"


def create_moderator(name: str = "alice", role: str = "moderator") -> None:
    """Create a moderator with the shared test password."""
    with db.session_scope() as session:
        moderators.create(session, name, PASSWORD, role)


def seed_comment(
    body: str = "What a load of shit, honestly.",
    *,
    status: str = Status.FLAGGED,
    author: str = "Ada",
    thread: str = "blog/post-1",
    lang: str | None = "en",
    words: Iterable[str] = ("shit",),
    translations: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    **fields: Any,
) -> int:
    """Insert a checked comment (flagged by default) with its translations; return its id.

    ``translations`` maps a language to its text (a done translation) or to a dict of Translation columns.
    """
    now = created_at or utcnow()
    flagged = status == Status.FLAGGED or fields.get("decision") is not None
    comment = Comment(
        thread=thread, author=author, body=body, lang=lang, status=status, created_at=now, updated_at=now,
        checked_at=None if status == Status.PENDING else now + timedelta(seconds=1),
        matched_words=list(words) if flagged else [],
        censored_body=body if not flagged else _censor(body, words),
        flagged_at=now + timedelta(seconds=1) if flagged else None,
        **fields,
    )
    for lang_code, value in (translations or {}).items():
        columns = value if isinstance(value, dict) else {"status": "done", "text": value}
        comment.translations.append(Translation(lang=lang_code, **columns))
    with db.session_scope() as session:
        session.add(comment)
        session.flush()
        return comment.id


def _censor(body: str, words: Iterable[str]) -> str:
    for word in words:
        body = body.replace(word, "****")
    return body


class LiveServer:
    """The Flask app served by werkzeug on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any, port: int) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.thread.join(5)
