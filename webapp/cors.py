"""CORS for the public API, for ALLOWED_ORIGINS only: the widget on other sites reads and posts comments."""

from __future__ import annotations

from flask import Flask, Response, request

from webapp.web import settings

ALLOW_METHODS = "GET, POST, PATCH, DELETE"
ALLOW_HEADERS = "Content-Type, X-Author-Token"
#: Headers the widget may read from an answer (Location of a new comment, ETag, Retry-After of a 429/503).
EXPOSE_HEADERS = "Location, ETag, Retry-After"
#: How long a browser may keep a preflight's answer, in seconds.
MAX_AGE = "600"


def is_public_api(path: str) -> bool:
    """Tell whether *path* is part of the public API (never the moderator API or pages)."""
    return path in ("/api/comments", "/api/counts") or path.startswith(("/api/comments/", "/api/threads/"))


def allowed_origin() -> str | None:
    """Return the request's Origin when it is one of ALLOWED_ORIGINS and the path is public, else None."""
    origin = request.headers.get("Origin")
    if not origin or not is_public_api(request.path):
        return None
    return origin if origin.lower() in settings().allowed_origins else None


def answer_preflight() -> Response | None:
    """Answer a preflight (OPTIONS with Access-Control-Request-Method) from an allowed origin: 204."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    if allowed_origin() is None:
        return None  # Flask's own OPTIONS answer, without CORS headers: the browser refuses the request.
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
    response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    response.headers["Access-Control-Max-Age"] = MAX_AGE
    return response


def add_headers(response: Response) -> Response:
    """Add the CORS headers for an allowed origin; ``Vary: Origin`` on every public API answer (caches)."""
    if not is_public_api(request.path):
        return response
    response.vary.add("Origin")
    origin = allowed_origin()
    if origin is not None:
        # Never Access-Control-Allow-Credentials: the widget sends no cookie, authors prove themselves by token.
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method != "OPTIONS":
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return response


def init_app(app: Flask) -> None:
    """Register the preflight answer and the response headers on *app*."""
    app.before_request(answer_preflight)
    app.after_request(add_headers)
