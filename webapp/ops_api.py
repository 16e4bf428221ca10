"""Operations API: the scheduler's jobs for moderators; triggering jobs and dead letters for admins."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from core.errors import BrokerUnavailable, NotFound, ValidationError
from core.messaging import queues
from core.scheduling import overview, schedule
from webapp.auth import admin_required, api_auth_required
from webapp.sessions import get_session
from webapp.web import dispatcher, read_json, settings

bp = Blueprint("ops_api", __name__, url_prefix="/api/moderation")
bp.before_request(api_auth_required(lambda: None))


@bp.get("/scheduler")
def scheduler_overview() -> ResponseReturnValue:
    """Return each scheduled job with its last outcome and next run."""
    return jsonify(overview.overview(get_session(), settings()))


@bp.post("/scheduler/<job>/trigger")
@admin_required
def trigger(job: str) -> ResponseReturnValue:
    """Enqueue *job* now, as ``python scheduler.py trigger JOB`` does (admins only)."""
    if job not in schedule.JOBS:
        raise NotFound(f"no job named {job!r}")
    slot = dispatcher().send_maintenance_now(job)
    if slot is None:
        raise BrokerUnavailable("could not enqueue; retry later")
    return jsonify({"job": job, "slot": slot, "enqueued": True}), 202


@bp.get("/deadletters")
@admin_required
def dead_letters() -> ResponseReturnValue:
    """List dead-lettered messages of every queue (admins only)."""
    letters = queues.list_dead_letters(settings().broker_url)
    return jsonify({"dead_letters": [letter.as_dict() for letter in letters]})


@bp.post("/deadletters/replay")
@admin_required
def replay_dead_letters() -> ResponseReturnValue:
    """Replay ``{"message_ids": [...]}`` or ``{"all": true}`` back onto their queues (admins only)."""
    data = read_json()
    if not isinstance(data, dict) or not (data.get("all") is True or isinstance(data.get("message_ids"), list)):
        raise ValidationError("say which messages", fields={"message_ids": "a list of ids, or all: true"})
    ids = None if data.get("all") is True else {str(i) for i in data["message_ids"]}
    replayed = queues.replay(settings().broker_url, ids, queue_type=settings().broker_queue_type)
    return jsonify({"replayed": replayed})


@bp.post("/deadletters/purge")
@admin_required
def purge_dead_letters() -> ResponseReturnValue:
    """Delete every dead letter (admins only)."""
    return jsonify({"purged": queues.purge(settings().broker_url)})
