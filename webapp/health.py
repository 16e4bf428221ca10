"""Ops endpoints: liveness, readiness (database and broker) and metrics."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from core.errors import BrokerUnavailable
from core.messaging import queues
from core.storage import db
from webapp.web import settings

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)
#: Peers that may read /metrics in production when no METRICS_TOKEN is set.
LOOPBACK = frozenset({"127.0.0.1", "::1"})


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Answer 200 while the process lives."""
    return jsonify({"status": "ok"})


def check_database() -> str:
    """Return "ok" or "unavailable"; the driver's message goes to the log, never to the client."""
    try:
        db.ping()
    except SQLAlchemyError as exc:
        logger.warning("Readiness: database unavailable (%s)", str(exc).splitlines()[0][:200])
        return "unavailable"
    return "ok"


def check_broker(url: str, timeout: float = 1.0) -> str:
    """Return "ok", "refused" or "unreachable"; the broker's message goes to the log, never to the client."""
    try:
        queues.ping(url, timeout)
    except BrokerUnavailable as exc:
        reason, cause = queues.failure_reason(exc), exc.__cause__ or exc
        logger.warning("Readiness: broker %s (%s: %s)", reason, type(cause).__name__, str(cause)[:200])
        return reason
    return "ok"


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Answer 200 when the database and the broker answer, 503 with reason codes otherwise."""
    report = {"database": check_database(), "broker": check_broker(settings().broker_url)}
    ready = all(value == "ok" for value in report.values())
    return jsonify(report), 200 if ready else 503


def metrics_refusal() -> ResponseReturnValue | None:
    """Return the 401 for a /metrics request that may not read them, or None when it may.

    With ``METRICS_TOKEN`` set, the request must carry ``Authorization: Bearer <token>`` (compared in
    constant time). Without it, production answers only loopback clients; other environments answer all.
    """
    token = settings().metrics_token
    if token:
        sent = request.headers.get("Authorization", "")
        if sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip().encode(), token.encode()):
            return None
    elif not settings().is_production or request.remote_addr in LOOPBACK:
        return None
    if token:
        message = "Metrics need the METRICS_TOKEN bearer token."
    else:
        message = "Metrics are served to loopback clients only unless METRICS_TOKEN is set."
    body = jsonify({"error": {"code": "unauthorized", "message": message}})
    return body, 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text: the web's request metrics and Parley's gauges."""
    refusal = metrics_refusal()
    if refusal is not None:
        return refusal
    from webapp.metrics import scrape

    return scrape()
