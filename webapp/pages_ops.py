"""Operations pages: the scheduler's jobs (everyone), dead letters (admins)."""

from __future__ import annotations

import pika.exceptions
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.messaging import queues
from core.messaging.dispatch import get_dispatcher
from core.scheduling import overview, schedule
from webapp.auth import admin_required, current_identity, login_required
from webapp.sessions import get_session

bp = Blueprint("pages_ops", __name__, url_prefix="/moderation")

#: What a broker that cannot be reached raises while we read its queues.
BROKER_ERRORS = (pika.exceptions.AMQPError, OSError)


@bp.get("/scheduler")
@login_required
def scheduler() -> ResponseReturnValue:
    """Show each scheduled job with its last outcome and next run."""
    view = overview.overview(get_session(), current_app.config["PARLEY"])
    return render_template("moderation/scheduler.html", overview=view, jobs=schedule.JOBS,
                           is_admin=current_identity().is_admin)


@bp.post("/scheduler/<job>/trigger")
@login_required
@admin_required
def trigger(job: str) -> ResponseReturnValue:
    """Enqueue a job now (admins)."""
    if job not in schedule.JOBS:
        flash(f"No job named {job!r}.", "error")
    elif get_dispatcher(current_app.config["PARLEY"]).send_maintenance_now(job):
        flash(f"Enqueued {job}; a worker runs it shortly.", "ok")
    else:
        flash("RabbitMQ did not accept the message; try again later.", "error")
    return redirect(url_for("pages_ops.scheduler"))


@bp.get("/deadletters")
@login_required
@admin_required
def dead_letters() -> ResponseReturnValue:
    """List dead-lettered messages with their failure (admins)."""
    letters, error = [], None
    try:
        letters = queues.list_dead_letters(current_app.config["PARLEY"].broker_url)
    except BROKER_ERRORS as exc:
        error = f"RabbitMQ cannot be reached: {type(exc).__name__}"
    return render_template("moderation/deadletters.html", letters=letters, error=error)


@bp.post("/deadletters")
@login_required
@admin_required
def act_on_dead_letters() -> ResponseReturnValue:
    """Replay the selected (or all) dead letters, or purge them (admins)."""
    url = current_app.config["PARLEY"].broker_url
    action = request.form.get("action")
    try:
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
    except BROKER_ERRORS as exc:
        flash(f"RabbitMQ cannot be reached: {type(exc).__name__}", "error")
    return redirect(url_for("pages_ops.dead_letters"))
