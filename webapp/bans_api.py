"""Moderator JSON API for bans: ban a comment's author by address or client, list bans, lift one."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from core.moderation import audit, bans
from core.storage import paging
from webapp.auth import api_auth_required, current_identity
from webapp.sessions import get_session
from webapp.web import dispatcher, read_json, settings

logger = logging.getLogger(__name__)

bp = Blueprint("bans_api", __name__, url_prefix="/api/moderation/bans")
bp.before_request(api_auth_required(lambda: None))


@bp.post("")
def create() -> ResponseReturnValue:
    """Ban the author of ``comment_id`` by ``scope``: 201; 400, 404, or 409 when already banned."""
    ban_request = bans.validate(read_json())
    session = get_session()
    ban = bans.create(session, ban_request, current_identity().name, settings())
    session.commit()
    if ban.task_id is not None and not dispatcher().send_task(ban.task_id):
        logger.warning("Task %d of ban %d not confirmed by the broker", ban.task_id, ban.id)
    return jsonify(bans.view(ban)), 201, {"Location": f"/api/moderation/bans/{ban.id}"}


@bp.get("")
def list_bans() -> ResponseReturnValue:
    """Return the bans in force, newest first (``?all=1``: lifted ones too)."""
    include_removed = request.args.get("all", "") in ("1", "true", "yes")
    limit = paging.parse_limit(request.args.get("limit"))
    rows, next_id = bans.page(get_session(), include_removed=include_removed, limit=limit,
                              before_id=audit.decode_cursor(request.args.get("cursor")))
    return jsonify({"bans": [bans.view(b) for b in rows],
                    "next_cursor": audit.encode_cursor(next_id) if next_id else None})


@bp.get("/<int:ban_id>")
def get_ban(ban_id: int) -> ResponseReturnValue:
    """Return one ban."""
    return jsonify(bans.view(bans.get(get_session(), ban_id)))


@bp.delete("/<int:ban_id>")
def remove(ban_id: int) -> ResponseReturnValue:
    """Lift a ban: 200 with it; 404, or 409 when already lifted."""
    session = get_session()
    ban = bans.remove(session, ban_id, current_identity().name)
    session.commit()
    return jsonify(bans.view(ban))
