"""Moderator pages for bans: ban a comment's author from its page, list the bans, lift one."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.errors import Conflict, NotFound, ValidationError
from core.moderation import audit, bans
from core.storage.models_signals import BanScope
from webapp.auth import current_identity, login_required
from webapp.sessions import get_session
from webapp.web import dispatcher, error_message, settings

logger = logging.getLogger(__name__)

bp = Blueprint("pages_bans", __name__, url_prefix="/moderation")


@bp.post("/comments/<int:comment_id>/ban")
@login_required
def ban(comment_id: int) -> ResponseReturnValue:
    """Ban the author of a comment by address or client; with "reject existing", follow the job's progress."""
    back = url_for("pages.comment", comment_id=comment_id)
    session = get_session()
    try:
        ban_request = bans.validate({
            "comment_id": comment_id, "scope": request.form.get("scope"), "reason": request.form.get("reason"),
            "reject_existing": request.form.get("reject_existing") == "1",
        })
        row = bans.create(session, ban_request, current_identity().name, settings())
    except (ValidationError, NotFound, Conflict) as exc:
        session.rollback()
        flash(f"Author not banned: {error_message(exc)}", "error")
        return redirect(back)
    session.commit()
    if row.task_id is None:
        flash(f"Author banned by {row.scope} (ban {row.id}): their new comments are held.", "ok")
        return redirect(back)
    if not dispatcher().send_task(row.task_id):
        logger.warning("Task %d of ban %d not confirmed by the broker", row.task_id, row.id)
    flash(f"Author banned by {row.scope} (ban {row.id}); rejecting their undecided comments.", "ok")
    return redirect(url_for("pages_words.job", job_id=row.task_id))


@bp.get("/bans")
@login_required
def bans_page() -> ResponseReturnValue:
    """Show the bans in force, newest first (``?all=1``: lifted ones too)."""
    include_removed = request.args.get("all") == "1"
    try:
        before_id = audit.decode_cursor(request.args.get("cursor"))
    except ValidationError as exc:
        flash(f"Filter ignored: {error_message(exc)}", "error")
        before_id = None
    rows, next_id = bans.page(get_session(), include_removed=include_removed, limit=50, before_id=before_id)
    args = {"all": "1"} if include_removed else {}
    next_url = url_for("pages_bans.bans_page", **args, cursor=audit.encode_cursor(next_id)) if next_id else None
    return render_template("moderation/bans.html", bans=rows, include_removed=include_removed, next_url=next_url,
                           paged=before_id is not None, scopes=BanScope.ALL)


@bp.post("/bans/<int:ban_id>/remove")
@login_required
def remove(ban_id: int) -> ResponseReturnValue:
    """Lift a ban, then go back to the list."""
    session = get_session()
    try:
        bans.remove(session, ban_id, current_identity().name)
    except (NotFound, Conflict) as exc:
        session.rollback()
        flash(f"Ban {ban_id} not lifted: {error_message(exc)}", "error")
        return redirect(url_for("pages_bans.bans_page"))
    session.commit()
    flash(f"Ban {ban_id} lifted.", "ok")
    return redirect(url_for("pages_bans.bans_page"))
