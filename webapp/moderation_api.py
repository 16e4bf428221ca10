"""Moderator JSON API: the queue, decisions, audit, statistics, word lists and jobs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from core.comments import reading, views
from core.errors import ValidationError
from core.moderation import audit, decisions, review, tasks, wordlists
from core.scheduling import stats
from core.storage import paging
from webapp.auth import api_auth_required, current_identity
from webapp.sessions import get_session
from webapp.web import dispatcher, read_json, send_outbox, settings

bp = Blueprint("moderation_api", __name__, url_prefix="/api/moderation")
bp.before_request(api_auth_required(lambda: None))


@bp.get("/comments")
def list_comments() -> ResponseReturnValue:
    """Return a page of the queue (flagged by default; `?reason=links` those held for a reason), moderator view."""
    flt = review.parse_filter(request.args)
    limit = paging.parse_limit(request.args.get("limit"))
    after_id = paging.decode_cursor(request.args.get("cursor"))
    rows, next_id = review.page(get_session(), flt, limit=limit, after_id=after_id)
    return jsonify({"comments": [review.moderator_view(c) for c in rows],
                    "next_cursor": paging.encode_cursor(next_id) if next_id else None})


@bp.get("/comments/<int:comment_id>")
def get_comment(comment_id: int) -> ResponseReturnValue:
    """Return the full view of one comment."""
    return jsonify(review.moderator_view(reading.get(get_session(), comment_id)))


@bp.post("/comments/<int:comment_id>/decision")
def decide(comment_id: int) -> ResponseReturnValue:
    """Approve or reject one comment: 200, 404, or 409 if already decided or still pending."""
    request_ = decisions.validate(read_json())
    session = get_session()
    comment = decisions.decide(session, comment_id, request_, current_identity().name, settings())
    session.commit()
    send_outbox(session)
    if request_.action == "approve":
        decisions.send_translations(session, dispatcher(), [comment_id])
    return jsonify(review.moderator_view(comment))


@bp.post("/decisions")
def decide_many() -> ResponseReturnValue:
    """Decide many comments: by ``ids``, or every comment matching ``filter``; one result per id."""
    data = read_json()
    request_ = decisions.validate(data)
    session = get_session()
    if isinstance(data, dict) and "filter" in data and "ids" not in data:
        if not isinstance(data["filter"], dict):
            raise ValidationError("invalid filter", fields={"filter": "an object with status, thread, q"})
        ids = review.matching_ids(session, review.parse_filter(data["filter"]), decisions.MAX_BULK)
    else:
        ids = decisions.parse_ids(data.get("ids") if isinstance(data, dict) else None)
    results = decisions.decide_many(session, ids, request_, current_identity().name, settings())
    session.commit()
    send_outbox(session)
    if request_.action == "approve":
        decisions.send_translations(session, dispatcher(), [r["id"] for r in results if r["result"] == "ok"])
    summary: dict[str, Any] = {"ok": 0, "conflict": 0, "not_found": 0}
    for result in results:
        summary[result["result"]] += 1
    return jsonify({"results": results, "summary": summary})


@bp.get("/audit", endpoint="audit")
def audit_events() -> ResponseReturnValue:
    """Return decision and system events, newest first."""
    raw_id = request.args.get("comment_id")
    comment_id = None if raw_id is None else paging.parse_id(raw_id, "comment_id")
    limit = paging.parse_limit(request.args.get("limit"), default=50)
    events, next_id = audit.page(get_session(), comment_id=comment_id,
                                     limit=limit, before_id=audit.decode_cursor(request.args.get("cursor")))
    return jsonify({"events": [audit.view(e) for e in events],
                    "next_cursor": audit.encode_cursor(next_id) if next_id else None})


@bp.get("/stats")
def daily_stats() -> ResponseReturnValue:
    """Return daily counts and moderation latency for the last ``days`` days (UTC)."""
    days = stats.parse_days(request.args.get("days"))
    return jsonify({"days": stats.recent(get_session(), days)})


@bp.get("/wordlists")
def get_wordlists() -> ResponseReturnValue:
    """Return the banned and allowed words in force, their version and the latest changes."""
    session = get_session()
    lists = wordlists.current(session)
    history = [{"version": v.id, "op": v.op, "kind": v.kind, "word": v.word, "by": v.changed_by,
                "at": views.iso(v.at)} for v in wordlists.history(session)]
    return jsonify({"version": lists.version, "banned": list(lists.banned), "allowed": list(lists.allowed),
                    "history": history})


@bp.post("/wordlists")
def change_wordlists() -> ResponseReturnValue:
    """Add or remove a word; every worker uses the new version on its next check."""
    change = wordlists.validate_change(read_json())
    session = get_session()
    version = wordlists.apply(session, change, current_identity().name)
    session.commit()
    return jsonify({"version": version, "op": change.op, "kind": change.kind, "word": change.word}), 201


def start_task(kind: str, params: dict[str, Any]) -> ResponseReturnValue:
    """Start a job for a worker; 202 with the job."""
    job, _sent = tasks.start(get_session(), dispatcher(), kind, params, current_identity().name)
    return jsonify(tasks.view(job)), 202, {"Location": f"/api/moderation/jobs/{job.id}"}


@bp.post("/wordlists/preview")
def preview() -> ResponseReturnValue:
    """Count how many undecided comments a change would flag or unflag (run by a worker)."""
    change = wordlists.validate_change(read_json())
    return start_task(tasks.PREVIEW, {"op": change.op, "kind": change.kind, "word": change.word})


@bp.post("/rescan")
def rescan() -> ResponseReturnValue:
    """Re-check every undecided comment with the word lists in force (run by a worker)."""
    return start_task(tasks.RESCAN, {})


@bp.get("/jobs/<int:job_id>")
def get_job(job_id: int) -> ResponseReturnValue:
    """Return a job's status and progress."""
    return jsonify(tasks.view(tasks.get(get_session(), job_id)))
