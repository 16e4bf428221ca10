"""Moderator pages for the word lists: add and remove words, preview a change, rescan, follow a job."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.errors import Conflict, NotFound, ValidationError
from core.moderation import tasks, wordlists
from core.storage.models import Task
from webapp.auth import current_identity, login_required
from webapp.sessions import get_session
from webapp.web import dispatcher, error_message

logger = logging.getLogger(__name__)

bp = Blueprint("pages_words", __name__, url_prefix="/moderation")

JOB_TITLES = {tasks.PREVIEW: "Preview", tasks.RESCAN: "Rescan", tasks.BAN_REJECT: "Ban: rejecting"}


def read_change() -> wordlists.Change:
    """Return the change the form describes (``op``, ``kind``, ``word``); raise ValidationError."""
    return wordlists.validate_change(
        {"op": request.form.get("op", "add"), "kind": request.form.get("kind"), "word": request.form.get("word")}
    )


def start_task(kind: str, params: dict[str, str]) -> Task:
    """Start a job for a worker; warn when the broker did not take it yet."""
    job, sent = tasks.start(get_session(), dispatcher(), kind, params, current_identity().name)
    if not sent:
        flash("The job is queued but could not reach a worker yet; it will start once the broker is back.", "warning")
    return job


@bp.get("/words")
@login_required
def words() -> ResponseReturnValue:
    """Show the banned and allowed words in force, their version, history and recent jobs."""
    session = get_session()
    return render_template("moderation/words.html", lists=wordlists.current(session),
                           history=wordlists.history(session, limit=30), jobs=tasks.recent(session, 5),
                           titles=JOB_TITLES)


@bp.post("/words")
@login_required
def change_words() -> ResponseReturnValue:
    """Add or remove a word; every worker checks with the new version from its next comment on."""
    session = get_session()
    try:
        change = read_change()
        version = wordlists.apply(session, change, current_identity().name)
    except (ValidationError, Conflict, NotFound) as exc:
        session.rollback()
        flash(f"Word lists not changed: {error_message(exc)}", "error")
        return redirect(url_for("pages_words.words"))
    session.commit()
    verb = "Added" if change.op == "add" else "Removed"
    where = "to" if change.op == "add" else "from"
    flash(f"{verb} “{change.word}” {where} the {change.kind} words (version {version}). "
          "Rescan to apply it to existing comments.", "ok")
    return redirect(url_for("pages_words.words"))


@bp.post("/words/preview")
@login_required
def preview() -> ResponseReturnValue:
    """Start counting how many comments a change would flag or unflag; show the job (no-JS path)."""
    try:
        change = read_change()
    except ValidationError as exc:
        flash(f"Nothing to preview: {error_message(exc)}", "error")
        return redirect(url_for("pages_words.words"))
    job = start_task(tasks.PREVIEW, {"op": change.op, "kind": change.kind, "word": change.word})
    return redirect(url_for("pages_words.job", job_id=job.id))


@bp.post("/words/rescan")
@login_required
def rescan() -> ResponseReturnValue:
    """Start re-checking every undecided comment with the lists in force; show the job (no-JS path)."""
    job = start_task(tasks.RESCAN, {})
    return redirect(url_for("pages_words.job", job_id=job.id))


@bp.get("/jobs/<int:job_id>")
@login_required
def job(job_id: int) -> ResponseReturnValue:
    """Show a job's progress; the page refreshes itself until the job is finished."""
    try:
        row = tasks.get(get_session(), job_id)
    except NotFound:
        abort(404, f"Task {job_id} doesn't exist.")
    return render_template("moderation/job.html", job=row, title=JOB_TITLES.get(row.kind, row.kind),
                           running=row.status in ("queued", "running"))
