"""Helpers for the page and browser tests: seed moderators and comments, run the app on a real port."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from core.moderation import accounts
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Translation, utcnow

PASSWORD = "correct horse battery staple"

#: Payloads that would run script if any user text reached the page unescaped.
XSS_BODY = "<script>alert('body')</script><img src=x onerror=\"alert('body-img')\">"
XSS_AUTHOR = "<img src=x onerror=alert('author')>"
XSS_TRANSLATION = "<svg onload=alert('translation')></svg><script>alert('tr')</script>"


def create_moderator(name: str = "alice", role: str = "moderator") -> None:
    """Create a moderator with the shared test password."""
    with db.session_scope() as session:
        accounts.create(session, name, PASSWORD, role)


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


#: Flagged comments for the screenshots: (author, thread, lang, body, matched words, translation, words in it).
SHOWCASE_QUEUE = [
    ("Greg Whitfield", "news/2025/city-council-budget", "en",
     "Another 15% rise in parking fees and not a single new bus line. Whoever signed this off is a complete "
     "asshole, and the council knows it.", ["asshole"], None, None),
    ("Jürgen Weiß", "news/2025/city-council-budget", "de",
     "Was für ein Bullshit-Haushalt. Die Stadt spart bei den Schulen und baut den dritten Kreisverkehr.",
     ["bullshit"], "What a bullshit budget. The city cuts schools and builds its third roundabout.", ["bullshit"]),
    ("Javier Ortega", "sport/derby-report", "es",
     "El árbitro fue un puto desastre, qué partido más lamentable.", [],
     "The referee was a fucking disaster, what a pathetic match.", ["fucking"]),
    ("Claire Dubois", "travel/north-lincolnshire", "en",
     "Greetings from Scunthorpe! Your photos of the steelworks at dusk are lovely.", ["cunt"], None, None),
    ("CryptoRewards_Official", "news/2025/city-council-budget", "en",
     "Free crypto giveaway for readers → claim at bit.ly/\u202egnp.exe\u202c", ["crypto giveaway"], None, None),
    ("نادية", "world/elections-2025", "ar",
     "هذا المرشح كاذب ولا يستحق صوت أحد", ["كاذب"], "This candidate is a liar and deserves nobody's vote.",
     ["liar"]),
]


def seed_showcase(days: int = 14) -> dict[str, int]:
    """Seed realistic data for the screenshots: a queue, two weeks of history, word lists, jobs."""
    import random

    from core.moderation import audit, wordlists
    from core.storage.models import Task

    rng = random.Random(7)
    now = utcnow()
    ids: dict[str, int] = {}
    authors = ["Priya N.", "Tom Baker", "lena_k", "Oskar", "M. Rossi", "Hannah", "Kwame A.", "Sofia L."]
    with db.session_scope() as session:
        for day in range(days, 0, -1):
            for _ in range(rng.randint(6, 16)):
                created = now - timedelta(days=day, minutes=rng.randint(0, 23 * 60))
                comment = Comment(thread=rng.choice(["news/2025/city-council-budget", "sport/derby-report",
                                                     "travel/north-lincolnshire"]),
                                  author=rng.choice(authors), body="Thanks for the article, very informative.",
                                  lang="en", status=Status.PUBLISHED, created_at=created, updated_at=created,
                                  checked_at=created + timedelta(seconds=2), matched_words=[])
                if rng.random() < 0.3:
                    decided = created + timedelta(minutes=rng.randint(3, 6 * 60 if day > 3 else 90))
                    action = "approve" if rng.random() < 0.55 else "reject"
                    comment.body = "Honestly this referee was shit, but fine, well played."
                    comment.matched_words = ["shit"]
                    comment.flagged_at = created + timedelta(seconds=2)
                    comment.status = Status.PUBLISHED if action == "approve" else Status.REJECTED
                    comment.decision, comment.decided_at = action, decided
                    comment.decided_by = rng.choice(["alice", "bob"])
                    comment.decision_reason = None if action == "approve" else rng.choice(
                        ["Insult aimed at another reader", "Spam link", None])
                    session.add(comment)
                    session.flush()
                    session.add(AuditEvent(comment_id=comment.id, kind="decision", action=action,
                                           actor=comment.decided_by, reason=comment.decision_reason, at=decided))
                else:
                    session.add(comment)
        for index, (author, thread, lang, body, words, text, text_words) in enumerate(SHOWCASE_QUEUE):
            created = now - timedelta(minutes=95 - index * 13)
            comment = Comment(thread=thread, author=author, body=body, lang=lang, status=Status.FLAGGED,
                              created_at=created, updated_at=created, checked_at=created + timedelta(seconds=1),
                              flagged_at=created + timedelta(seconds=1), matched_words=words,
                              censored_body=_censor(body, words))
            if text:
                comment.translations.append(Translation(lang="en", status="done", text=text,
                                                        matched_words=text_words))
            session.add(comment)
            session.flush()
            ids[author] = comment.id
            audit.record(session, kind="system", action="flagged", actor=audit.SYSTEM, comment_id=comment.id,
                         detail={"words": words or text_words, "source": "body" if words else "translation:en"},
                         dedupe_key=f"flagged:{comment.id}")
        changes = [("add", "banned", "crypto giveaway", "alice"), ("add", "allowed", "scunthorpe", "bob"),
                   ("add", "banned", "bit.ly", "alice"), ("remove", "banned", "bit.ly", "alice"),
                   ("add", "allowed", "dickens", "bob")]
        for op, kind, word, by in changes:
            wordlists.apply(session, wordlists.Change(op=op, kind=kind, word=word), by)
        session.add(Task(kind="wordlist_preview", params={"op": "add", "kind": "allowed", "word": "scunthorpe"},
                        status="done", done=41, total=41, created_by="bob",
                        result={"would_flag": 0, "would_unflag": 1, "examples": [ids["Claire Dubois"]]}))
        session.add(Task(kind="rescan", params={}, status="done", done=41, total=41, created_by="alice",
                        result={"flagged": 1, "unflagged": 0, "examples": [ids["CryptoRewards_Official"]]}))
    return ids
