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

from core import ratelimit
from core.errors import RateLimited
from core.moderation import accounts
from core.moderation.accounts import Identity
from webapp.security import csrf_token, csrf_valid
from webapp.sessions import get_session

bp = Blueprint("auth", __name__, url_prefix="/moderation")

#: Login attempts allowed per client address and per account name in one window.
LOGIN_LIMIT_PER_IP, LOGIN_LIMIT_PER_NAME, LOGIN_WINDOW = 20, 10, 300


def current_identity() -> Identity | None:
    """Return the moderator behind this request (bearer token or login session), or None."""
    if "identity" not in g:
        identity = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            identity = accounts.resolve(get_session(), header[7:].strip(), "token")
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
    """Show the login form; on POST check the password (throttled) and start a fresh session."""
    if request.method == "POST":
        name = request.form.get("name", "")[:100]
        password = request.form.get("password", "")[:1000]
        db = get_session()
        try:
            ratelimit.hit(db, f"login-ip:{request.remote_addr}", LOGIN_LIMIT_PER_IP, LOGIN_WINDOW)
            ratelimit.hit(db, f"login-name:{name.lower()}", LOGIN_LIMIT_PER_NAME, LOGIN_WINDOW)
        except RateLimited as exc:
            db.rollback()
            flash(f"Too many login attempts. Try again in {exc.retry_after} seconds.")
            return render_template("auth/login.html", name=name), 429, {"Retry-After": str(exc.retry_after)}
        db.commit()  # failed attempts must count even though no login happens
        identity = accounts.authenticate(db, name, password)
        if identity is None:
            current_app.logger.warning("Failed moderator login for %r from %s", name, request.remote_addr)
            flash("Unknown name or wrong password.")
            return render_template("auth/login.html", name=name), 401
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
