"""One database session per request, on one pooled connection, closed on teardown."""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy.orm import Session

from core.storage import db


def get_session() -> Session:
    """Return this request's session, bound to a connection taken on first use."""
    if "db_session" not in g:
        # One checkout (and one pre-ping) per request: a session on the engine hands its connection back at
        # every commit and takes, and pings, another one for its next statement.
        g.db_connection = db.engine().connect()
        g.db_session = db.new_session(bind=g.db_connection)
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    """Roll back whatever the request did not commit, close its session and return its connection."""
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
    connection = g.pop("db_connection", None)
    if connection is not None:
        connection.close()


def init_app(app: Flask) -> None:
    """Register the session teardown on *app*."""
    app.teardown_appcontext(close_session)
