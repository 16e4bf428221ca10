"""Public JSON API: post a comment or a reply, read one, list a thread, count threads; the author's edit and delete."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from datetime import datetime
from functools import partial

from flask import Blueprint, Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from core.comments import authors, edits, intake, reading, replies, text, validation, views
from core.errors import NotFound, ValidationError
from core.languages import normalize_language
from core.messaging import marks
from core.notifications import addresses, events, outbox
from core.signals import spam
from core.storage import paging
from core.storage.models import Status, utcnow
from webapp.metrics import DISPATCH_FAILURES
from webapp.sessions import get_session
from webapp.web import dispatcher, read_json, send_outbox, settings

bp = Blueprint("api", __name__, url_prefix="/api")
logger = logging.getLogger(__name__)

#: The header an author proves ownership with (the token of the 202 answer).
TOKEN_HEADER = "X-Author-Token"
#: Changes whenever the listing's JSON does for the same rows (a new field, a new rule), so old ETags lapse.
LISTING_FORMAT = "listing-2"
#: The most threads one count request may name.
MAX_COUNT_THREADS = 100


@bp.post("/comments")
def post_comment() -> ResponseReturnValue:
    """Accept a comment or a reply for moderation: 202 with the author token, then checked and translated."""
    config = settings()
    # Stamped with the keys the check counts copies and bursts by (only a keyed hash of the address is kept).
    new = spam.stamped(validation.validate(read_json(), config), config, request.remote_addr)
    if new.parent_id is not None:
        # One read before the write; a top-level comment keeps PostgreSQL's single checkout and statement.
        new = replies.resolve_parent(get_session(), new, config.max_reply_depth)
    token, token_hash = authors.new_token()
    new = replace(new, author_token_hash=token_hash)
    now = utcnow()
    # A honeypot comment is held as it is stored: nothing to check, nothing to translate.
    langs = () if new.honeypot else validation.translation_langs(config.translation_targets, new.lang)
    key, limit = f"post:{request.remote_addr}", config.rate_limit_per_minute
    # A comment giving an address takes the session path on both databases: a new address's confirmation
    # mail is written to the outbox in the comment's own transaction.
    also = partial(addresses.on_posted, settings=config, now=now) if new.email and config.mail_enabled else None
    comment_id = intake.store(new, langs, key=key, limit=limit, now=now, session=get_session, also=also)
    if not new.honeypot:
        send_check(comment_id, now)
    if also is not None:
        # Not confirmed by the broker: the scheduler's re-dispatch sends the row.
        outbox.send_all(outbox.written(get_session()), dispatcher().send_notification)
    view = views.pending_view(comment_id, new, langs, now)
    view["author_token"] = token
    response = jsonify(view)
    response.status_code = 202
    response.headers["Location"] = url_for("api.get_comment", comment_id=comment_id)
    return response


def send_check(comment_id: int, created_at: datetime) -> None:
    """Send the check of *comment_id* (posted at *created_at*), committed already; re-dispatched if this fails."""
    # The confirmation is written off the request path, in this process's next batch: the comment is
    # accepted either way, so no database failure after the commit can turn it into a 503 that makes the
    # client post it again.
    if dispatcher().send_check(comment_id):
        marks.MARKS.add(comment_id, created_at)
    else:
        DISPATCH_FAILURES.inc()


@bp.get("/comments/<int:comment_id>")
def get_comment(comment_id: int) -> ResponseReturnValue:
    """Return the public view of one comment; its author (``X-Author-Token``) also sees a body not yet shown."""
    session, policy = get_session(), settings().moderation_policy
    comment = reading.get(session, comment_id)
    count = reading.reply_counts(session, [comment_id], policy).get(comment_id, 0)
    if comment.status == Status.DELETED and not count:
        raise NotFound(f"comment {comment_id} does not exist")
    if authors.owns(comment, request.headers.get(TOKEN_HEADER)):
        return conditional(views.own_view(comment, policy, count), vary=TOKEN_HEADER)
    return conditional(views.public_view(comment, policy, reply_count=count), vary=TOKEN_HEADER)


@bp.patch("/comments/<int:comment_id>")
def edit_comment(comment_id: int) -> ResponseReturnValue:
    """Replace the body of the author's comment: 200 with it, pending again, then checked and translated again."""
    data = read_json()
    body = data.get("body") if isinstance(data, dict) else None
    config, session, now = settings(), get_session(), utcnow()
    comment = edits.edit(session, comment_id, request.headers.get(TOKEN_HEADER), body, config, now,
                         fingerprint=spam.fingerprint)
    session.commit()
    if comment.status == Status.PENDING:
        send_check(comment_id, comment.created_at)
    count = reading.reply_counts(session, [comment_id], config.moderation_policy).get(comment_id, 0)
    return jsonify(views.own_view(comment, config.moderation_policy, count))


@bp.delete("/comments/<int:comment_id>")
def delete_comment(comment_id: int) -> ResponseReturnValue:
    """Erase the author's comment (body, author, email): 204."""
    session = get_session()
    events.delete_comment(session, comment_id, request.headers.get(TOKEN_HEADER))
    session.commit()
    send_outbox(session)
    return "", 204


@bp.get("/threads/<path:thread>/comments")
def list_thread(thread: str) -> ResponseReturnValue:
    """Return a page of a thread's visible comments and replies (deleted ones with replies too), oldest first."""
    check_thread(thread)
    limit = paging.parse_limit(request.args.get("limit"))
    after_id = paging.decode_cursor(request.args.get("cursor"))
    langs = None
    if request.args.get("lang"):
        lang = normalize_language(request.args["lang"])
        if lang is None:
            raise ValidationError("invalid lang", fields={"lang": "unsupported language code"})
        langs = (lang,)
    session, policy = get_session(), settings().moderation_policy
    # The validator first, from one small aggregate: an unchanged thread answers 304 without the page's read.
    # Read before the page, a change in between only makes the next poll read again (never a stale 304).
    etag = thread_etag(reading.thread_version(session, thread), thread, policy, limit, after_id, langs)
    if request.if_none_match.contains_weak(etag):
        not_modified = Response(status=304)
        not_modified.set_etag(etag, weak=True)
        return not_modified
    rows, next_id = reading.list_thread(session, thread, policy=policy, limit=limit, after_id=after_id)
    counts = reading.reply_counts(session, [c.id for c in rows], policy)
    response = jsonify(
        {
            "comments": [views.public_view(c, policy, langs, counts.get(c.id, 0)) for c in rows],
            "next_cursor": paging.encode_cursor(next_id) if next_id else None,
        }
    )
    response.set_etag(etag, weak=True)
    return response


def thread_etag(version: tuple, *parts: object) -> str:
    """Return the listing's ETag: the thread's version with everything else the answer depends on."""
    return hashlib.sha256(repr((LISTING_FORMAT, version, parts)).encode()).hexdigest()[:32]


@bp.get("/counts")
def count_threads() -> ResponseReturnValue:
    """Return the number of visible comments of each thread named by ``thread`` (at most 100)."""
    threads = list(dict.fromkeys(request.args.getlist("thread")))
    if not threads or len(threads) > MAX_COUNT_THREADS:
        raise ValidationError("invalid threads", fields={"thread": f"name 1 to {MAX_COUNT_THREADS} threads"})
    for thread in threads:
        check_thread(thread)
    return jsonify({"counts": reading.thread_counts(get_session(), threads, settings().moderation_policy)})


def check_thread(thread: str) -> None:
    """Raise ValidationError for a thread name no POST accepts (too long, control characters, NUL)."""
    if len(thread) > validation.MAX_THREAD_CHARS or text.find_problem(thread, multiline=False):
        # No such thread can exist, and PostgreSQL would refuse the NUL in the query.
        raise ValidationError("invalid thread", fields={"thread": "not a valid thread name"})


def conditional(payload: dict, vary: str | None = None) -> Response:
    """Return *payload* as JSON with a weak ETag of its bytes; 304 when the client's If-None-Match matches."""
    response = jsonify(payload)
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32], weak=True)
    if vary:
        response.vary.add(vary)
    return response.make_conditional(request)
