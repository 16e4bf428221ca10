"""Engine and session handling; the caller of ``session_scope()`` owns the transaction."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

logger = logging.getLogger(__name__)


class Base(DeclarativeBase):
    """Declarative base of every Parley table."""


_lock = threading.Lock()
_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None
_url: str | None = None
_pid: int | None = None
_pre_ping = True
_autocommit: Engine | None = None
_prepared = True


def make_engine(url: str, *, pre_ping: bool = True, autocommit: bool = False, prepared: bool = True) -> Engine:
    """Create an engine tuned for Parley: pre-ping after idle, short connect timeout, SQLite WAL + busy timeout.

    *prepared* False runs the hot statements of core/storage/prepared.py without PREPARE (DATABASE_PREPARED).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)
        # One writer at a time: wait for the lock instead of failing with "database is locked".
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            # pysqlite's implicit BEGIN is deferred; take the write lock up front so two
            # writers never deadlock upgrading read locks (SQLITE_BUSY without waiting).
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    postgresql = parsed.get_backend_name() == "postgresql"
    engine = create_engine(
        url, pool_size=10, max_overflow=10, pool_timeout=5,
        connect_args={"connect_timeout": 3} if postgresql else {},
        isolation_level="AUTOCOMMIT" if autocommit else None, execution_options={"parley_prepared": prepared},
    )
    if postgresql:
        event.listen(engine, "connect", _utc_session)
    if pre_ping:
        _ping_after_idle(engine)
    return engine


#: A pooled connection idle this long is pinged before use; one returned more recently was working then.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_after_idle(engine: Engine) -> None:
    """Pre-ping only connections that sat idle (SQLAlchemy's pool_pre_ping pings on every checkout).

    Under load a connection goes back and out of the pool many times a second, and a ping on each checkout
    was 14 % of the web's samples at 350 POST/s: a round trip and a statement per request for nothing. A
    server restart still never reaches a request through an idle connection; one that happens within the
    second a connection was last used surfaces as that request's error, like a restart during the request.
    """

    def _idle_from_now(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["parley_idle_since"] = time.monotonic()

    # A new connection and one given back to the pool are both idle from now on.
    event.listen(engine, "connect", _idle_from_now)
    event.listen(engine, "checkin", _idle_from_now)

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        if time.monotonic() - record.info.get("parley_idle_since", 0.0) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc  # the pool replaces the connection and tries again


def _utc_session(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    """Set the session's time zone to UTC: day boundaries (stats, purge) never depend on the server's TZ."""
    # A SET rather than the startup parameter "options" (-c timezone=UTC), which PgBouncer refuses; PgBouncer tracks
    # TimeZone and sets it again on each server connection it lends this client (transaction pooling).
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.autocommit = autocommit


def dialect_insert(session: Session):  # type: ignore[no-untyped-def]
    """Return the INSERT construct of the session's dialect (it knows ON CONFLICT; the generic one does not)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def configure(url: str, *, pre_ping: bool | None = None, prepared: bool = True) -> None:
    """Point the process-wide session factory at *url* (idempotent for the same URL and *prepared*)."""
    global _engine, _factory, _url, _pid, _pre_ping, _autocommit, _prepared
    with _lock:
        if pre_ping is not None and pre_ping != _pre_ping:
            _pre_ping, _url = pre_ping, None
        if _url == url and _pid == os.getpid() and _prepared == prepared:
            return
        for old in {_engine, _autocommit} - {None}:
            # A forked child must not reuse the parent's sockets.
            old.dispose(close=_pid == os.getpid())  # type: ignore[union-attr]
        _engine = make_engine(url, pre_ping=_pre_ping, prepared=prepared)
        if _engine.dialect.name == "postgresql":
            # A pool of its own that stays in autocommit: switching a session connection back and forth on
            # every checkout costs more client CPU than the one-statement writes save (docs/BENCHMARKS.md).
            _autocommit = make_engine(url, pre_ping=_pre_ping, autocommit=True, prepared=prepared)
        else:
            # SQLite: each statement is its own implicit transaction once the BEGIN IMMEDIATE is left out.
            _autocommit = _engine.execution_options(isolation_level="AUTOCOMMIT")
        _factory = sessionmaker(bind=_engine, expire_on_commit=False)
        _url, _pid, _prepared = url, os.getpid(), prepared


def engine() -> Engine:
    """Return the configured engine."""
    if _engine is None:
        raise RuntimeError("core.storage.db.configure() has not been called")
    if _pid != os.getpid():
        configure(_url or "", prepared=_prepared)
    return _engine  # type: ignore[return-value]


def is_postgresql() -> bool:
    """Return True when the configured database is PostgreSQL (it has the one-statement writes)."""
    return engine().dialect.name == "postgresql"


def ping() -> None:
    """Run ``SELECT 1`` on a new connection; raise SQLAlchemyError when the database cannot answer."""
    with engine().connect() as connection:
        connection.exec_driver_sql("SELECT 1")


def autocommit_engine() -> Engine:
    """Return the engine whose connections run every statement as its own transaction."""
    engine()
    return _autocommit  # type: ignore[return-value]


def autocommit() -> Connection:
    """Return a connection on which every statement is its own transaction (for one-statement writes)."""
    return autocommit_engine().connect()


def new_session(bind: Connection | None = None) -> Session:
    """Return a new session bound to the configured engine, or to *bind*, a connection taken from it."""
    engine()
    return _factory() if bind is None else _factory(bind=bind)  # type: ignore[misc]


@contextmanager
def session_scope() -> Iterator[Session]:
    """Open a session, commit when the block succeeds, roll back when it raises, always close."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
