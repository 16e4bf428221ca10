"""Public JSON API: post a comment, read one, list a thread."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from core.comments import intake, reading, text, validation, views
from core.errors import ValidationError
from core.languages import normalize_language
from core.messaging import marks
from core.storage import paging
from core.storage.models import utcnow
from webapp.metrics import DISPATCH_FAILURES
from webapp.sessions import get_session
from webapp.web import dispatcher, read_json, settings

bp = Blueprint("api", __name__, url_prefix="/api")
logger = logging.getLogger(__name__)


@bp.post("/comments")
def post_comment() -> ResponseReturnValue:
    """Accept a comment for moderation: 202, then checked and translated by the workers."""
    config = settings()
    new = validation.validate(read_json(), config)
    now = utcnow()
    langs = validation.translation_langs(config.translation_targets, new.lang)
    key, limit = f"post:{request.remote_addr}", config.rate_limit_per_minute
    comment_id = intake.store(new, langs, key=key, limit=limit, now=now, session=get_session)
    # Sent only after the commit: the worker must find the row. If the broker is sick the comment stays
    # pending and the scheduler's re-dispatch sends it later. The confirmation is written off the request
    # path, in this process's next batch: the comment is accepted either way, so no database failure after
    # the commit can turn it into a 503 that makes the client post it again.
    if dispatcher().send_check(comment_id):
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
