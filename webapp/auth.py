"""Moderator authentication: login sessions for pages, bearer tokens for the JSON API."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from core.moderation import accounts, throttle
from core.moderation.accounts import Identity
from webapp.security import csrf_token, csrf_valid
from webapp.sessions import get_session

bp = Blueprint("auth", __name__, url_prefix="/moderation")


def current_identity() -> Identity | None:
    """Return the moderator behind this request (bearer token or login session), or None."""
    if "identity" not in g:
        identity = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            identity = accounts.resolve(get_session(), header[7:].strip(), "token")
            get_session().commit()  # keep the token's last use even when the request only reads
            g.auth_kind = "token"
        elif session.get("sid"):
            identity = accounts.resolve(get_session(), session["sid"], "session")
            g.auth_kind = "session"
        g.identity = identity
    return g.identity


def api_auth_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer 401 unless a moderator is authenticated; cookie-authenticated writes need the CSRF header."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_identity() is None:
            abort(401, "moderator authentication required (Authorization: Bearer <token>)")
        if g.auth_kind == "session" and request.method != "GET" and not csrf_valid():
            abort(400, "missing or invalid X-CSRF-Token header")
        return view(*args, **kwargs)

    return wrapped


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Redirect to the login page unless a moderator is logged in."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_identity() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse (403) moderators without the admin role."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        identity = current_identity()
        if identity is None or not identity.is_admin:
            abort(403, "this needs the admin role")
        return view(*args, **kwargs)

    return wrapped


def safe_next(target: str | None) -> str:
    """Return *target* if it is a path on this site, else the queue (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("pages.queue")


@bp.route("/login", methods=("GET", "POST"))
def login() -> ResponseReturnValue:
    """Show the login form; on POST check the password (unless throttled) and start a fresh session."""
    if request.method == "POST":
        name = request.form.get("name", "")[:100]
        password = request.form.get("password", "")[:1000]
        address = request.remote_addr or "unknown"
        db = get_session()
        wait = throttle.retry_after(db, name, address)
        if wait:
            # The password is not even looked at: guessing during the wait teaches nothing and costs nothing.
            current_app.logger.warning("Throttled moderator login for %r from %s (%d s)", name, address, wait)
            flash(f"Too many failed logins. Try again in {wait} seconds.")
            return render_template("auth/login.html", name=name), 429, {"Retry-After": str(wait)}
        identity = accounts.authenticate(db, name, password)
        if identity is None:
            throttle.record_failure(db, name, address)
            db.commit()
            current_app.logger.warning("Failed moderator login for %r from %s", name, address)
            flash("Unknown name or wrong password.")
            return render_template("auth/login.html", name=name), 401
        throttle.record_success(db, name, address)
        if session.get("sid"):
            accounts.close_session(db, session["sid"])
        sid = accounts.open_session(db, identity)
        db.commit()
        # A new session on every login: nothing from before (fixation) survives.
        session.clear()
        session.permanent = True
        session["sid"] = sid
        csrf_token()
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", name="")


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session, server-side too."""
    if session.get("sid"):
        accounts.close_session(get_session(), session["sid"])
        get_session().commit()
    session.clear()
    return redirect(url_for("auth.login"))
