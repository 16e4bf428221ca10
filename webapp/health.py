"""Ops endpoints: liveness, readiness (database and broker) and metrics."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from core.errors import BrokerUnavailable
from core.messaging import queues
from core.storage import db
from webapp.web import settings

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Answer 200 while the process lives."""
    return jsonify({"status": "ok"})


def check_database() -> str:
    """Return "ok" or the reason the database cannot answer ``SELECT 1``."""
    try:
        db.ping()
    except SQLAlchemyError as exc:
        return f"error: {str(exc).splitlines()[0][:200]}"
    return "ok"


def check_broker(url: str, timeout: float = 1.0) -> str:
    """Return "ok" or the reason an AMQP connection to *url* could not be opened."""
    try:
        queues.ping(url, timeout)
    except BrokerUnavailable as exc:
        cause = exc.__cause__ or exc
        return f"error: {type(cause).__name__} {str(cause)[:200]}".strip()
    return "ok"


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Answer 200 when the database and the broker answer, 503 otherwise."""
    report = {"database": check_database(), "broker": check_broker(settings().broker_url)}
    ready = all(value == "ok" for value in report.values())
    return jsonify(report), 200 if ready else 503


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text: the web's request metrics and Parley's gauges."""
    from webapp.metrics import scrape

    return scrape()
