"""Validate a posted comment: the fields a client may set, normalised identically for every database."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.comments.text import clean_field
from core.config import Settings
from core.errors import ValidationError
from core.languages import normalize_language

MAX_THREAD_CHARS = 200
MAX_AUTHOR_CHARS = 100
MAX_EMAIL_CHARS = 254
#: The widget's hidden field: people never see it, so a filled one means a bot (stored, never shown).
HONEYPOT_FIELD = "website"
#: The largest id any database holds; a larger parent_id is unknown.
_MAX_ID = 2**63 - 1
#: One address: a local part, one @, a domain of dot-separated labels (letters, digits, hyphens; IDN allowed).
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@(?=.{1,253}$)(?:[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?\.)+[^\W\d_]{2,63}")


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
    #: Set by the web process (core.signals): the normalised body's hash, the keyed hash of the client address.
    fingerprint: str | None = None
    client_hash: str | None = None


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
    parent_id, errors["parent_id"] = _parent_id(data.get("parent_id"))
    email, errors["email"] = _email(data.get("email"))
    notify = data.get("notify_replies", False)
    if not isinstance(notify, bool):
        notify, errors["notify_replies"] = False, "notify_replies must be true or false"
    errors = {name: reason for name, reason in errors.items() if reason}
    if errors:
        raise ValidationError("invalid comment", fields=errors)
    honeypot = data.get(HONEYPOT_FIELD) not in (None, "", False)
    return NewComment(thread=thread, author=author, body=body, lang=lang,  # type: ignore[arg-type]
                      parent_id=parent_id, email=email, notify_replies=notify, honeypot=honeypot)


def _parent_id(value: object) -> tuple[int | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
        return None, "parent_id must be the id of a comment"
    return value, None


def email_address(value: object) -> tuple[str | None, str | None]:
    """Validate an address (a comment's or a moderator's); return ``(address, None)`` or ``(None, reason)``."""
    return _email(value)


def _email(value: object) -> tuple[str | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if not isinstance(value, str):
        return None, "email must be a string"
    value = value.strip()
    if len(value) > MAX_EMAIL_CHARS:
        return None, f"email is longer than {MAX_EMAIL_CHARS} characters"
    if not _EMAIL.fullmatch(value):
        return None, "email is not a valid address"
    local, _, domain = value.rpartition("@")
    # The domain is case-insensitive: one spelling per address.
    return f"{local}@{domain.lower()}", None


def translation_langs(targets: Iterable[str], lang: str | None) -> tuple[str, ...]:
    """Return the languages a comment in *lang* is translated into, in the order its view lists them."""
    return tuple(sorted(target for target in targets if target != lang))
