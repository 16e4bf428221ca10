"""Moderators' banned and allowed words: every change is a new, audited version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from core.comments.text import clean_field
from core.errors import Conflict, NotFound, ValidationError
from core.moderation import audit
from core.storage.db import session_scope
from core.storage.models import WordEntry, WordListVersion

if TYPE_CHECKING:
    from core.profanity.engine import Engine

KINDS = ("banned", "allowed")
OPS = ("add", "remove")


@dataclass(frozen=True)
class Lists:
    """The word lists at one version."""

    version: int
    banned: tuple[str, ...]
    allowed: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    """A requested change: add or remove a word from one list."""

    op: str
    kind: str
    word: str


def validate_change(data: Any) -> Change:
    """Check ``{"op", "kind", "word"}``; raise ValidationError."""
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    errors: dict[str, str] = {}
    op = data.get("op", "add")
    kind = data.get("kind")
    if op not in OPS:
        errors["op"] = "op must be 'add' or 'remove'"
    if kind not in KINDS:
        errors["kind"] = "kind must be 'banned' or 'allowed'"
    word, problem = clean_field(data.get("word"), name="word", max_chars=100)
    if problem:
        errors["word"] = problem
    if errors:
        raise ValidationError("invalid word list change", fields=errors)
    return Change(op=op, kind=kind, word=" ".join(word.casefold().split()))  # type: ignore[union-attr]


#: The version number of the word lists in force (0 before any change); the claims read it as a subquery.
VERSION = select(func.coalesce(func.max(WordListVersion.id), 0))
#: The same query as SQL text, for the prepared statements of core.moderation.checking.
VERSION_SQL = str(VERSION.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def current_version(session: Session) -> int:
    """Return the version number of the word lists (0 before any change)."""
    return session.scalar(VERSION) or 0


def current(session: Session) -> Lists:
    """Return the word lists now in force."""
    entries = session.execute(select(WordEntry.kind, WordEntry.word).order_by(WordEntry.word)).all()
    return Lists(
        version=current_version(session),
        banned=tuple(w for k, w in entries if k == "banned"),
        allowed=tuple(w for k, w in entries if k == "allowed"),
    )


def apply(session: Session, change: Change, moderator: str) -> int:
    """Apply *change*, record the new version and an audit event; return the version."""
    existing = session.scalar(select(WordEntry).where(WordEntry.word == change.word, WordEntry.kind == change.kind))
    if change.op == "add":
        if existing is not None:
            raise Conflict(f"{change.word!r} is already in the {change.kind} list")
        session.add(WordEntry(word=change.word, kind=change.kind, added_by=moderator))
    else:
        if existing is None:
            raise NotFound(f"{change.word!r} is not in the {change.kind} list")
        session.execute(delete(WordEntry).where(WordEntry.id == existing.id))
    version = WordListVersion(op=change.op, kind=change.kind, word=change.word, changed_by=moderator)
    session.add(version)
    session.flush()
    audit.record(
        session, kind="system", action=f"wordlist_{change.op}", actor=moderator,
        detail={"kind": change.kind, "word": change.word, "version": version.id},
    )
    return version.id


def history(session: Session, limit: int = 50) -> list[WordListVersion]:
    """Return the latest changes, newest first."""
    return list(session.scalars(select(WordListVersion).order_by(WordListVersion.id.desc()).limit(limit)))


def engine_for(lists: Lists) -> Engine:
    """Return the profanity engine for *lists* (compiled once per version and process; previews uncached)."""
    from core.profanity import engine

    if lists.version < 0:
        return engine.Engine(banned=lists.banned, allowed=lists.allowed)
    return engine.get_engine(banned=lists.banned, allowed=lists.allowed, version=lists.version)


def with_change(lists: Lists, change: Change) -> Lists:
    """Return *lists* as they would be after *change* (for a preview), under a version of -1."""
    banned, allowed = set(lists.banned), set(lists.allowed)
    target = banned if change.kind == "banned" else allowed
    (target.add if change.op == "add" else target.discard)(change.word)
    return Lists(version=-1, banned=tuple(sorted(banned)), allowed=tuple(sorted(allowed)))


def current_engine(session: Session) -> Engine:
    """Return the engine for the lists in force, reading only their version when it is unchanged."""
    global _latest
    version = current_version(session)
    cached = _latest
    if cached is not None and cached[0] == version:
        return cached[1]
    lists = current(session)
    engine = engine_for(lists)
    _latest = (lists.version, engine)
    return engine


def engine_at(version: int) -> Engine:
    """Return the engine of word-list *version* (as read with a claim), loading the lists when it is new."""
    cached = _latest
    if cached is not None and cached[0] == version:
        return cached[1]
    with session_scope() as session:
        return current_engine(session)


#: The engine of the newest version this process has seen.
_latest: tuple[int, Engine] | None = None
