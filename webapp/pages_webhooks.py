"""The webhooks admin page: endpoints (add, disable, enable again), their recent deliveries and redelivery."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.errors import NotFound, ValidationError
from core.notifications import endpoints, outbox
from webapp.auth import admin_required, current_identity, login_required
from webapp.sessions import get_session
from webapp.web import dispatcher, error_message, settings

logger = logging.getLogger(__name__)

bp = Blueprint("pages_webhooks", __name__, url_prefix="/moderation")

#: How many of an endpoint's deliveries its page lists, newest first.
DELIVERIES_SHOWN = 50


def render_listing(secret: str | None = None, added_id: int | None = None) -> str:
    """Render the endpoints page; *secret* is the new endpoint's, shown this once."""
    return render_template("moderation/webhooks.html", endpoints=endpoints.listing(get_session()),
                           events=outbox.EVENTS, reason=endpoints.disabled_reason, secret=secret,
                           added_id=added_id)


@bp.get("/webhooks")
@login_required
@admin_required
def webhooks() -> ResponseReturnValue:
    """List the webhook endpoints with their state, and the form to add one (admins)."""
    return render_listing()


@bp.post("/webhooks")
@login_required
@admin_required
def add() -> ResponseReturnValue:
    """Add an endpoint (its URL checked as the CLI checks it); show its signing secret once (admins)."""
    session = get_session()
    try:
        endpoint, secret = endpoints.add(session, request.form.get("url", ""), request.form.getlist("events"),
                                         settings())
    except ValidationError as exc:
        session.rollback()
        flash(f"Webhook not added: {error_message(exc)}", "error")
        return redirect(url_for("pages_webhooks.webhooks"))
    endpoint_id = endpoint.id
    session.commit()
    logger.info("Webhook endpoint %d added by %s.", endpoint_id, current_identity().name)
    # Rendered, not redirected: the secret must not travel in the (signed, readable) session cookie.
    return render_listing(secret=secret, added_id=endpoint_id)


def change_state(endpoint_id: int, enable: bool) -> ResponseReturnValue:
    """Enable (failure count reset) or disable an endpoint; back to where the form was."""
    session = get_session()
    try:
        (endpoints.enable if enable else endpoints.disable)(session, endpoint_id)
    except NotFound as exc:
        abort(404, str(exc))
    session.commit()
    verb = "enabled" if enable else "disabled"
    logger.info("Webhook endpoint %d %s by %s.", endpoint_id, verb, current_identity().name)
    flash(f"Webhook {endpoint_id} {verb}.", "ok")
    back = request.form.get("back") == "endpoint"
    return redirect(url_for("pages_webhooks.endpoint", endpoint_id=endpoint_id) if back
                    else url_for("pages_webhooks.webhooks"))


@bp.post("/webhooks/<int:endpoint_id>/enable")
@login_required
@admin_required
def enable(endpoint_id: int) -> ResponseReturnValue:
    """Enable an endpoint again, its consecutive failures reset (admins)."""
    return change_state(endpoint_id, enable=True)


@bp.post("/webhooks/<int:endpoint_id>/disable")
@login_required
@admin_required
def disable(endpoint_id: int) -> ResponseReturnValue:
    """Disable an endpoint: no new deliveries, pending ones fail at their next attempt (admins)."""
    return change_state(endpoint_id, enable=False)


@bp.get("/webhooks/<int:endpoint_id>")
@login_required
@admin_required
def endpoint(endpoint_id: int) -> ResponseReturnValue:
    """Show an endpoint and its latest deliveries, each finished one with a redeliver button (admins)."""
    session = get_session()
    try:
        found = endpoints.get(session, endpoint_id)
        rows = endpoints.deliveries(session, endpoint_id, DELIVERIES_SHOWN)
    except NotFound as exc:
        abort(404, str(exc))
    return render_template("moderation/webhooks_endpoint.html", endpoint=found, deliveries=rows,
                           reason=endpoints.disabled_reason(found), redeliverable=endpoints.REDELIVERABLE,
                           shown=DELIVERIES_SHOWN)


@bp.post("/webhooks/<int:endpoint_id>/redeliver")
@login_required
@admin_required
def redeliver(endpoint_id: int) -> ResponseReturnValue:
    """Send a delivery again: the same delivery id and body, fresh attempts (as ``webhooks redeliver``)."""
    session = get_session()
    delivery_id = request.form.get("delivery_id", "")[:100]
    try:
        outbox_id = endpoints.redeliver(session, delivery_id, endpoint_id)
    except (NotFound, ValidationError) as exc:
        session.rollback()
        flash(f"Not redelivered: {error_message(exc)}", "error")
        return redirect(url_for("pages_webhooks.endpoint", endpoint_id=endpoint_id))
    session.commit()
    logger.info("Webhook delivery %s redelivered by %s.", delivery_id, current_identity().name)
    if outbox.send_all([outbox_id], dispatcher().send_notification):
        flash(f"Redelivery of {delivery_id} queued.", "ok")
    else:
        flash(f"Redelivery of {delivery_id} recorded; the broker did not confirm it, the re-dispatch will send it.",
              "warning")
    return redirect(url_for("pages_webhooks.endpoint", endpoint_id=endpoint_id))
