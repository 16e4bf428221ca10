"""Operations API for moderators: the scheduler's jobs (and triggering one, for admins)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from core import schedule, schedule_view
from core.broker import MAINTENANCE_QUEUE, RUN_MAINTENANCE
from core.dispatch import get_dispatcher
from core.errors import NotFound
from core.models import utcnow
from webapp.auth import admin_required, api_auth_required
from webapp.sessions import get_session

bp = Blueprint("ops_api", __name__, url_prefix="/api/moderation")
bp.before_request(api_auth_required(lambda: None))


@bp.get("/scheduler")
def scheduler_overview() -> ResponseReturnValue:
    """Return each scheduled job with its last outcome and next run."""
    return jsonify(schedule_view.overview(get_session(), current_app.config["PARLEY"]))


@bp.post("/scheduler/<job>/trigger")
@admin_required
def trigger(job: str) -> ResponseReturnValue:
    """Enqueue *job* now, as ``python scheduler.py trigger JOB`` does (admins only)."""
    if job not in schedule.JOBS:
        raise NotFound(f"no job named {job!r}")
    slot = utcnow().isoformat()
    sent = get_dispatcher(current_app.config["PARLEY"]).send(MAINTENANCE_QUEUE, RUN_MAINTENANCE, job, slot, True)
    if not sent:
        return jsonify({"error": {"code": "broker_unavailable", "message": "could not enqueue; retry later"}}), 503
    return jsonify({"job": job, "slot": slot, "enqueued": True}), 202
