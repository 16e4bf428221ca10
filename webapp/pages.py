"""Moderator pages: the review queue (with its reasons), one comment, decisions (single and bulk) and the audit log."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.comments import reading
from core.errors import Conflict, NotFound, ValidationError
from core.moderation import audit, bans, decisions, review
from core.storage import paging
from core.storage.models import Action, Status
from webapp.auth import current_identity, login_required, safe_next
from webapp.sessions import get_session
from webapp.web import dispatcher, error_message, send_outbox, settings

logger = logging.getLogger(__name__)

bp = Blueprint("pages", __name__, url_prefix="/moderation")
bp.add_app_template_filter(review.signal_texts, "signal_texts")

#: The queue's status choices, in the order of the tabs.
STATUS_TABS = (Status.FLAGGED, Status.PENDING, Status.PUBLISHED, Status.REJECTED, review.ALL)
AUDIT_KINDS = ("decision", "system", "ban")
PAST_TENSE = {Action.APPROVE: "approved", Action.REJECT: "rejected"}


@bp.get("/")
@login_required
def queue() -> ResponseReturnValue:
    """Show a page of the queue: flagged comments by default, filtered by status, thread and text."""
    try:
        flt = review.parse_filter(request.args)
        limit = paging.parse_limit(request.args.get("limit"))
        after_id = paging.decode_cursor(request.args.get("cursor"))
    except ValidationError as exc:
        flash(f"Filter ignored: {error_message(exc)}", "error")
        flt, limit, after_id = review.Filter(), 20, 0
    session = get_session()
    rows, next_id = review.page(session, flt, limit=limit, after_id=after_id)
    next_url = url_for("pages.queue", **flt.as_dict(), cursor=paging.encode_cursor(next_id)) if next_id else None
    return render_template(
        "moderation/queue.html", rows=rows, flt=flt, tabs=STATUS_TABS, counts=review.status_counts(session),
        matching=review.count(session, flt), next_url=next_url, paged=after_id > 0,
        here=request.full_path.rstrip("?"), reasons=review.REASONS,
    )


@bp.get("/comments/<int:comment_id>")
@login_required
def comment(comment_id: int) -> ResponseReturnValue:
    """Show everything about one comment: texts, translations, checks, decision and its audit trail."""
    session = get_session()
    try:
        row = reading.get(session, comment_id)
    except NotFound:
        abort(404, f"Comment {comment_id} doesn't exist.")
    events, _ = audit.page(session, comment_id=comment_id, limit=100, before_id=None)
    return render_template("moderation/comment.html", c=row, events=events, here=request.path,
                           author_bans=bans.of_comment(session, row, settings()))


@bp.post("/comments/<int:comment_id>/decision")
@login_required
def decide(comment_id: int) -> ResponseReturnValue:
    """Approve or reject one comment with an optional reason, then go back to where the moderator was."""
    target = safe_next(request.form.get("next"))
    session = get_session()
    try:
        decision = decisions.validate({"action": request.form.get("action"), "reason": request.form.get("reason")})
        decisions.decide(session, comment_id, decision, current_identity().name, settings())
    except (ValidationError, NotFound, Conflict) as exc:
        session.rollback()
        flash(f"Comment {comment_id} not changed: {error_message(exc)}", "error")
        return redirect(target)
    session.commit()
    send_outbox(session)
    logger.info("Comment %d %s by %s", comment_id, PAST_TENSE[decision.action], current_identity().name)
    if decision.action == Action.APPROVE:
        decisions.send_translations(session, dispatcher(), [comment_id])
    flash(f"Comment {comment_id} {PAST_TENSE[decision.action]}.", "ok")
    return redirect(target)


def summarize(results: list[dict[str, Any]], action: str) -> tuple[str, str]:
    """Return a flash message and category for the per-id results of a bulk decision."""
    done = [r for r in results if r["result"] == "ok"]
    failed = [r for r in results if r["result"] != "ok"]
    message = f"{PAST_TENSE[action].capitalize()} {len(done)} of {len(results)} comments."
    if failed:
        shown = "; ".join(r["message"] for r in failed[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        message += f" Not changed: {shown}{more}."
    return message, "ok" if not failed else "warning"


@bp.post("/decisions")
@login_required
def decide_many() -> ResponseReturnValue:
    """Approve or reject the selected comments, or every comment matching the filter (``bulk=action:scope``)."""
    target = safe_next(request.form.get("next"))
    action, _, scope = request.form.get("bulk", "").partition(":")
    session = get_session()
    error = None
    ids: list[int] = []
    try:
        decision = decisions.validate({"action": action, "reason": request.form.get("reason")})
        if scope == "filter":
            # The form's "reason" is the decision's; the filter's reason travels as "filter_reason".
            flt = review.parse_filter({**request.form.to_dict(), "reason": request.form.get("filter_reason")})
            ids = review.matching_ids(session, flt, decisions.MAX_BULK)
        else:
            ids = [paging.parse_id(v, "ids") for v in request.form.getlist("ids")]
            if ids:
                ids = decisions.parse_ids(ids)
    except ValidationError as exc:
        error = error_message(exc)
    if error is None and not ids:
        error = "Nothing matches the filter." if scope == "filter" else "Select at least one comment first."
    if error is not None:
        flash(error, "error")
        return redirect(target)
    results = decisions.decide_many(session, ids, decision, current_identity().name, settings())
    session.commit()
    send_outbox(session)
    ok = [r["id"] for r in results if r["result"] == "ok"]
    logger.info("Bulk %s of %d comments by %s: %d applied", action, len(ids), current_identity().name, len(ok))
    if decision.action == Action.APPROVE:
        decisions.send_translations(session, dispatcher(), ok)
    flash(*summarize(results, decision.action))
    return redirect(target)


@bp.get("/audit", endpoint="audit")
@login_required
def audit_page() -> ResponseReturnValue:
    """Show decision and system events, newest first, optionally for one comment or one kind."""
    comment_id = request.args.get("comment_id", "").strip()
    kind = request.args.get("kind", "")
    try:
        if comment_id:
            paging.parse_id(comment_id, "comment_id")
        before_id = audit.decode_cursor(request.args.get("cursor"))
    except ValidationError as exc:
        flash(f"Filter ignored: {error_message(exc)}", "error")
        comment_id, before_id = "", None
    kind = kind if kind in AUDIT_KINDS else ""
    events, next_id = audit.page(get_session(), comment_id=int(comment_id) if comment_id else None,
                                     limit=50, before_id=before_id, kind=kind or None)
    args = {k: v for k, v in {"comment_id": comment_id, "kind": kind}.items() if v}
    next_url = url_for("pages.audit", **args, cursor=audit.encode_cursor(next_id)) if next_id else None
    return render_template("moderation/audit.html", events=events, comment_id=comment_id, kind=kind,
                           kinds=AUDIT_KINDS, next_url=next_url, paged=before_id is not None)
