"""Public JSON API: post a comment, read one, list a thread."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from gunicorn.http.errors import ParseException as FramingError
from werkzeug.exceptions import RequestEntityTooLarge

from core import ratelimit
from core.comments import intake, reading, text, validation, views
from core.config import Settings
from core.errors import ValidationError
from core.languages import normalize_language
from core.messaging import marks
from core.messaging.dispatch import get_dispatcher
from core.storage import db, paging
from core.storage.models import utcnow
from webapp.metrics import DISPATCH_FAILURES
from webapp.sessions import get_session

bp = Blueprint("api", __name__, url_prefix="/api")
logger = logging.getLogger(__name__)


class UnsupportedMediaType(ValidationError):
    """The request body is not declared as JSON."""


def settings() -> Settings:
    """Return the app's settings."""
    return current_app.config["PARLEY"]


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
        text = raw.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ValidationError("request body is not valid UTF-8", code="malformed") from None
    except (ValueError, RecursionError) as exc:
        reason = "too deeply nested" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise ValidationError(f"request body is not valid JSON: {reason}", code="malformed") from None


def _accept_in_session(new: validation.NewComment, langs: tuple[str, ...], key: str, limit: int, now: datetime) -> int:
    """Store *new* through the request's session and commit; return its id (the path of SQLite)."""
    session = get_session()
    if limit:
        ratelimit.hit(session, key, limit)
    comment_id = intake.create(session, new, langs, now).id
    session.commit()
    return comment_id


@bp.post("/comments")
def post_comment() -> ResponseReturnValue:
    """Accept a comment for moderation: 202, then checked and translated by the workers."""
    config = settings()
    new = validation.validate(read_json(), config)
    now = utcnow()
    langs = validation.translation_langs(config.translation_targets, new.lang)
    key, limit = f"post:{request.remote_addr}", config.rate_limit_per_minute
    if db.is_postgresql():
        # Rate-limit hit, comment and translations in one autocommitted statement on one connection.
        comment_id = intake.accept(new, langs, key=key, limit=limit, now=now)
    else:
        # SQLite has neither unnest() nor data-modifying CTEs; its single writer commits one short transaction.
        comment_id = _accept_in_session(new, langs, key, limit, now)
    # Sent only after the commit: the worker must find the row. If the broker is sick the comment stays
    # pending and the scheduler's re-dispatch sends it later. The confirmation is written off the request
    # path, in this process's next batch: the comment is accepted either way, so no database failure after
    # the commit can turn it into a 503 that makes the client post it again.
    if get_dispatcher(config).send_check(comment_id):
        marks.MARKS.add(comment_id, now)
    else:
        DISPATCH_FAILURES.inc()
    response = jsonify(views.pending_view(comment_id, new, langs, now))
    response.status_code = 202
    response.headers["Location"] = url_for("api.get_comment", comment_id=comment_id)
    return response


@bp.get("/comments/<int:comment_id>")
def get_comment(comment_id: int) -> ResponseReturnValue:
    """Return the public view of one comment."""
    comment = reading.get(get_session(), comment_id)
    return jsonify(views.public_view(comment, settings().moderation_policy))


@bp.get("/threads/<path:thread>/comments")
def list_thread(thread: str) -> ResponseReturnValue:
    """Return a page of a thread's visible comments, oldest first."""
    if len(thread) > validation.MAX_THREAD_CHARS or text.find_problem(thread, multiline=False):
        # No such thread can exist (a POST refuses it), and PostgreSQL would refuse the NUL in the query.
        raise ValidationError("invalid thread", fields={"thread": "not a valid thread name"})
    limit = paging.parse_limit(request.args.get("limit"))
    after_id = paging.decode_cursor(request.args.get("cursor"))
    langs = None
    if request.args.get("lang"):
        lang = normalize_language(request.args["lang"])
        if lang is None:
            raise ValidationError("invalid lang", fields={"lang": "unsupported language code"})
        langs = (lang,)
    policy = settings().moderation_policy
    rows, next_id = reading.list_thread(get_session(), thread, policy=policy, limit=limit, after_id=after_id)
    return jsonify(
        {
            "comments": [views.public_view(c, policy, langs) for c in rows],
            "next_cursor": paging.encode_cursor(next_id) if next_id else None,
        }
    )
