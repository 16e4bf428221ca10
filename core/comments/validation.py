"""Validate a posted comment: the fields a client may set, normalised identically for every database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.comments.text import clean_field
from core.config import Settings
from core.errors import ValidationError
from core.languages import normalize_language

MAX_THREAD_CHARS = 200
MAX_AUTHOR_CHARS = 100


@dataclass(frozen=True)
class NewComment:
    """A validated comment, ready to store."""

    thread: str
    author: str
    body: str
    lang: str | None
    #: A reply's parent (its thread and status checked by ``replies.resolve_parent``) and the reply's depth.
    parent_id: int | None = None
    depth: int = 0
    email: str | None = None
    notify_replies: bool = False
    #: SHA-256 hex of the author token answered once with the 202.
    author_token_hash: str | None = None
    #: The widget's hidden field was filled: stored as flagged, never shown.
    honeypot: bool = False


def validate(data: Any, settings: Settings) -> NewComment:
    """Check and normalise a decoded JSON request; raise ValidationError listing every bad field."""
    if not isinstance(data, Mapping):
        raise ValidationError("request body must be a JSON object")
    errors: dict[str, str] = {}
    thread, errors["thread"] = clean_field(data.get("thread"), name="thread", max_chars=MAX_THREAD_CHARS)
    if thread is not None and any(char.isspace() for char in thread):
        thread, errors["thread"] = None, "thread must not contain whitespace"
    author, errors["author"] = clean_field(data.get("author"), name="author", max_chars=MAX_AUTHOR_CHARS)
    body, errors["body"] = clean_field(
        data.get("body"), name="body", max_chars=settings.max_comment_chars, multiline=True
    )
    lang: str | None = None
    raw_lang = data.get("lang")
    if raw_lang is not None:
        if not isinstance(raw_lang, str):
            errors["lang"] = "lang must be a string"
        elif raw_lang.strip():
            lang = normalize_language(raw_lang)
            if lang is None:
                errors["lang"] = f"unsupported language code {raw_lang[:20]!r}"
    errors = {name: reason for name, reason in errors.items() if reason}
    if errors:
        raise ValidationError("invalid comment", fields=errors)
    return NewComment(thread=thread, author=author, body=body, lang=lang)  # type: ignore[arg-type]


def translation_langs(targets: Iterable[str], lang: str | None) -> tuple[str, ...]:
    """Return the languages a comment in *lang* is translated into, in the order its view lists them."""
    return tuple(sorted(target for target in targets if target != lang))
