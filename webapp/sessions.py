"""One database session per request, closed on teardown."""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy.orm import Session

from core import db


def get_session() -> Session:
    """Return this request's session, opening it on first use."""
    if "db_session" not in g:
        g.db_session = db.new_session()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    """Roll back whatever the request did not commit and close its session."""
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    """Register the session teardown on *app*."""
    app.teardown_appcontext(close_session)
