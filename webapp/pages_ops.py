"""Operations pages: the scheduler's jobs (everyone), dead letters (admins)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.messaging import queues
from core.scheduling import overview, schedule
from webapp.auth import admin_required, current_identity, login_required
from webapp.sessions import get_session
from webapp.web import dispatcher, settings

bp = Blueprint("pages_ops", __name__, url_prefix="/moderation")


@bp.get("/scheduler")
@login_required
def scheduler() -> ResponseReturnValue:
    """Show each scheduled job with its last outcome and next run."""
    view = overview.overview(get_session(), settings())
    return render_template("moderation/scheduler.html", overview=view, jobs=schedule.JOBS,
                           is_admin=current_identity().is_admin)


@bp.post("/scheduler/<job>/trigger")
@login_required
@admin_required
def trigger(job: str) -> ResponseReturnValue:
    """Enqueue a job now (admins)."""
    if job not in schedule.JOBS:
        flash(f"No job named {job!r}.", "error")
    elif dispatcher().send_maintenance_now(job):
        flash(f"Enqueued {job}; a worker runs it shortly.", "ok")
    else:
        flash("RabbitMQ did not accept the message; try again later.", "error")
    return redirect(url_for("pages_ops.scheduler"))


@bp.get("/deadletters")
@login_required
@admin_required
def dead_letters() -> ResponseReturnValue:
    """List dead-lettered messages with their failure (admins)."""
    letters = queues.list_dead_letters(settings().broker_url)
    return render_template("moderation/deadletters.html", letters=letters)


@bp.post("/deadletters")
@login_required
@admin_required
def act_on_dead_letters() -> ResponseReturnValue:
    """Replay the selected (or all) dead letters, or purge them (admins)."""
    url = settings().broker_url
    action = request.form.get("action")
    if action == "purge":
        counts = queues.purge(url)
        flash(f"Purged {sum(counts.values())} dead letter(s).", "ok")
    elif action in ("replay", "replay_all"):
        ids = None if action == "replay_all" else set(request.form.getlist("message_id"))
        if ids is not None and not ids:
            flash("Select the messages to replay.", "warning")
        else:
            flash(f"Replayed {len(queues.replay(url, ids))} message(s).", "ok")
    else:
        flash("Unknown action.", "error")
    return redirect(url_for("pages_ops.dead_letters"))
