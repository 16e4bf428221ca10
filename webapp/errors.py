"""Turn every error into a JSON body with a status code; never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, flash, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from core.errors import BrokerUnavailable, Conflict, Forbidden, NotFound, RateLimited, ValidationError

logger = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> ResponseReturnValue:
    """Build the contract's error body ``{"error": {"code", "message", "fields"?}}``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return jsonify({"error": error}), status


def _rollback() -> None:
    from flask import g

    session = g.get("db_session")
    if session is not None:
        session.rollback()


def handle_validation(exc: ValidationError) -> ResponseReturnValue:
    """400 with the reasons, or 415 for a body that is not JSON."""
    _rollback()
    status = 415 if exc.code == "unsupported_media_type" else 400
    return error_response(status, exc.code, exc.message, exc.fields)


def handle_not_found(exc: NotFound) -> ResponseReturnValue:
    """404 for an unknown object."""
    return error_response(404, "not_found", str(exc))


def handle_conflict(exc: Conflict) -> ResponseReturnValue:
    """409 for a transition the object's state forbids."""
    _rollback()
    return error_response(409, "conflict", str(exc))


def handle_forbidden(exc: Forbidden) -> ResponseReturnValue:
    """403 for a caller without the right to act (a missing or wrong author token)."""
    _rollback()
    return error_response(403, "forbidden", str(exc))


def handle_rate_limited(exc: RateLimited) -> ResponseReturnValue:
    """429 with Retry-After."""
    _rollback()
    body, status = error_response(429, "rate_limited", str(exc))
    return body, status, {"Retry-After": str(exc.retry_after)}


def handle_database_down(exc: Exception) -> ResponseReturnValue:
    """503 when the database cannot be reached; the client may retry."""
    if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError) and not exc.connection_invalidated:
        return handle_unexpected(exc)
    logger.error("Database unavailable: %s", str(exc).splitlines()[0][:300])
    try:
        _rollback()
    except DBAPIError:
        pass  # the connection is gone already; the session is discarded on teardown
    body, status = error_response(503, "database_unavailable", "the database is unavailable, retry later")
    return body, status, {"Retry-After": "5"}


def handle_broker_unavailable(exc: BrokerUnavailable) -> ResponseReturnValue:
    """503 with Retry-After when RabbitMQ cannot be reached: JSON for the APIs; a flash or error page for pages."""
    logger.warning("Broker unavailable on %s %s: %s", request.method, request.path, exc.__cause__ or exc)
    _rollback()
    headers = {"Retry-After": str(exc.retry_after)}
    if wants_json():
        body, status = error_response(503, "broker_unavailable", str(exc))
        return body, status, headers
    if request.method == "POST" and shows_page(request.path):
        flash(str(exc), "error")
        return redirect(request.path)
    return render_template("error.html", code=503, name="Service Unavailable", description=str(exc)), 503, headers


def shows_page(path: str) -> bool:
    """Tell whether *path* also answers GET (a form posted there can redirect back to it)."""
    try:
        current_app.url_map.bind_to_environ(request.environ).match(path, method="GET")
    except HTTPException:
        return False
    return True


def wants_json() -> bool:
    """Tell whether the client gets JSON errors (the APIs) rather than an HTML page."""
    return not request.path.startswith("/moderation") or request.accept_mimetypes.best == "application/json"


def handle_http(exc: HTTPException) -> ResponseReturnValue:
    """Werkzeug's errors (404, 405, 413, ...) as JSON for the APIs, as a page for the moderator pages."""
    if not wants_json():
        page = render_template("error.html", code=exc.code, name=exc.name, description=exc.description)
        return page, exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    message = exc.description or exc.name
    if exc.code == 413:
        message = f"request body is larger than {request.max_content_length} bytes"
    body, status = error_response(exc.code or 500, code, message)
    headers = dict(exc.get_headers()) if exc.code == 405 else {}
    headers.pop("Content-Type", None)
    return body, status, headers


def handle_unexpected(exc: Exception) -> ResponseReturnValue:
    """500 without details; the traceback goes to the log only."""
    logger.exception("Unhandled error on %s %s", request.method, request.path)
    try:
        _rollback()
    except DBAPIError:
        pass
    return error_response(500, "internal_error", "internal error")


def init_app(app: Flask) -> None:
    """Register the handlers on *app*."""
    app.register_error_handler(ValidationError, handle_validation)
    app.register_error_handler(NotFound, handle_not_found)
    app.register_error_handler(Conflict, handle_conflict)
    app.register_error_handler(Forbidden, handle_forbidden)
    app.register_error_handler(RateLimited, handle_rate_limited)
    app.register_error_handler(BrokerUnavailable, handle_broker_unavailable)
    app.register_error_handler(OperationalError, handle_database_down)
    app.register_error_handler(PoolTimeout, handle_database_down)
    app.register_error_handler(DBAPIError, handle_database_down)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(Exception, handle_unexpected)
