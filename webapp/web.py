"""What every blueprint shares: settings, the dispatcher, the JSON body reader, flash wording, template filters."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Flask, current_app, request
from gunicorn.http.errors import ParseException as FramingError
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from core.comments import matches, views
from core.config import Settings
from core.errors import Conflict, NotFound, ValidationError
from core.messaging.dispatch import Dispatcher, get_dispatcher
from core.notifications import outbox
from core.storage.models import Comment
from webapp import textview
from webapp.auth import current_identity


class UnsupportedMediaType(ValidationError):
    """The request body is not declared as JSON."""


def settings() -> Settings:
    """Return the app's settings."""
    return current_app.config["PARLEY"]


def dispatcher() -> Dispatcher:
    """Return this process's dispatcher for the app's broker."""
    return get_dispatcher(settings())


def send_outbox(session: Session) -> int:
    """Send the outbox rows *session* wrote; call it after the commit (a send not confirmed is swept later)."""
    ids = outbox.written(session)
    return outbox.send_all(ids, dispatcher().send_notification) if ids else 0


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json() -> Any:
    """Decode the request body as strict UTF-8 JSON; raise ValidationError with the reason."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json", code="unsupported_media_type")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("JSON must be encoded as UTF-8", code="unsupported_media_type")
    try:
        raw = request.get_data(cache=False)  # MAX_CONTENT_LENGTH applies, with or without Content-Length
    except (FramingError, OSError):
        # gunicorn parses a chunked body only as it is read: broken framing or a client gone mid-body.
        raise ValidationError("request body could not be read", code="malformed") from None
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body is cut at the limit rather than refused; a full buffer means it was longer.
        raise RequestEntityTooLarge()
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ValidationError("request body is not valid UTF-8", code="malformed") from None
    except (ValueError, RecursionError) as exc:
        reason = "too deeply nested" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise ValidationError(f"request body is not valid JSON: {reason}", code="malformed") from None


def error_message(exc: ValidationError | NotFound | Conflict) -> str:
    """Return a one-line explanation of a domain error for a flash message."""
    if isinstance(exc, ValidationError):
        return "; ".join(exc.fields.values()) or exc.message
    return str(exc)


def when(value: datetime | None) -> str:
    """Format a stored time as ``YYYY-MM-DD HH:MM UTC`` (SQLite returns naive UTC values)."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


def duration(seconds: float | None) -> str:
    """Format a number of seconds as ``42 s``, ``3 min 20 s`` or ``5 h 12 min``."""
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def detail_text(detail: dict[str, Any] | None) -> str:
    """Render an audit event's detail as ``key: value · key: value`` (escaped by the template)."""
    if not detail:
        return ""
    parts = []
    for key, value in detail.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key}: {shown}")
    return " · ".join(parts)


def comment_warnings(comment: Comment) -> list[str]:
    """Return the warning badges for everything a comment shows: author, thread, body, translations."""
    texts = [comment.author, comment.thread, comment.body, *(t.text for t in comment.translations)]
    return textview.warnings("\n".join(text for text in texts if text))


def all_matched_words(comment: Comment) -> list[str]:
    """Return the words matched in a comment (body and author name) and in its translations, each once."""
    words = matches.body_words(comment.matched_words) + matches.author_words(comment.matched_words)
    for translation in comment.translations:
        words += translation.matched_words or []
    return list(dict.fromkeys(words))


FILTERS = {
    "show_text": textview.show_text, "text_warnings": textview.warnings, "iso": views.iso, "when": when,
    "duration": duration, "detail_text": detail_text, "comment_warnings": comment_warnings,
    "all_matched_words": all_matched_words, "body_words": matches.body_words, "author_words": matches.author_words,
}


def init_app(app: Flask) -> None:
    """Register the template filters and globals on *app*."""
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals["current_identity"] = current_identity
