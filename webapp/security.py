"""Security by default: cookie flags, CSRF tokens on every form, CSP, anti-framing, no-store and HSTS headers."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import Flask, Response, abort, current_app, request, session

from core.moderation import passwords

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Moderator pages and API answers hold private data: no browser or proxy may keep a copy.
PRIVATE_PREFIXES = ("/moderation", "/api/moderation")
#: Pages a token in their link authenticates (RFC 8058 one-click unsubscribe posts come without a session).
TOKEN_LINKS = ("/notifications/",)
HSTS = "max-age=31536000; includeSubDomains"


def csrf_token() -> str:
    """Return this session's CSRF token, creating it on first use."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def csrf_valid() -> bool:
    """Tell whether the request carries this session's CSRF token (form field or header)."""
    expected = session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER) or (request.form.get(CSRF_FIELD) if request.form else None)
    return bool(expected and sent and hmac.compare_digest(str(expected), str(sent)))


def protect_forms() -> None:
    """Refuse state-changing page requests without the CSRF token (the JSON API checks its own)."""
    if request.method in UNSAFE_METHODS and not request.path.startswith(("/api/", *TOKEN_LINKS)) and not csrf_valid():
        abort(400, "The form has expired or did not come from this site (CSRF token missing or invalid).")


def add_headers(response: Response) -> Response:
    """Set CSP, anti-framing and no-sniff headers on every response; no-store on moderators'; HSTS in production."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(PRIVATE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
    if current_app.config["PARLEY"].is_production:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    """Configure session cookies and the password hashing cost; register the CSRF check and the headers."""
    production = app.config["PARLEY"].is_production
    passwords.configure(app.config["PARLEY"].password_scrypt_n)
    app.config.update(
        SESSION_COOKIE_NAME="parley_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.before_request(protect_forms)
    app.after_request(add_headers)
