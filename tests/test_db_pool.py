"""The engine's pre-ping: only a connection that sat idle is pinged, and a dead one is replaced unseen."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.storage import db


@pytest.fixture
def engine(stack, monkeypatch):  # type: ignore[no-untyped-def]
    """A PostgreSQL engine as Parley makes it, with its pings counted."""
    if stack.backend != "postgresql":
        pytest.skip("the pool's pre-ping is PostgreSQL's (SQLite has no server to lose)")
    made = db.make_engine(stack.database_url)
    pings: list[int] = []
    real = made.dialect.do_ping
    monkeypatch.setattr(made.dialect, "do_ping", lambda connection: pings.append(1) or real(connection))
    made.pings = pings  # type: ignore[attr-defined]
    yield made
    made.dispose()


def backend_pid(engine) -> int:  # type: ignore[no-untyped-def]
    """Return the server process of the connection the pool hands out next."""
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(engine):
    first = backend_pid(engine)
    assert backend_pid(engine) == first and backend_pid(engine) == first  # the same pooled connection
    assert engine.pings == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced_before_use(engine, stack, monkeypatch):
    dead = backend_pid(engine)
    with db.make_engine(stack.database_url).connect() as other:  # the server drops it while it sits in the pool
        assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dead}).scalar_one()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it had sat idle past the threshold
    fresh = backend_pid(engine)  # no error: the ping found it dead and the pool connected again
    assert fresh != dead and len(engine.pings) >= 1
