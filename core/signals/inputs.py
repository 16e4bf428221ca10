"""The SQL that reads a comment's signal inputs in the check's claim: one scalar subquery per count, each on an
index (fingerprint, created_at), (email, created_at) or (client_hash, created_at).

Windows are measured back from the comment's own ``created_at`` and count earlier ids only, so a check that
runs late (a re-dispatch) judges the comment exactly as a prompt one would have.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Table,
    bindparam,
    case,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from core.config import Settings
from core.signals import trust
from core.storage.models import Comment, Status
from core.storage.models_signals import Ban, BanScope


class seconds_before(FunctionElement):  # noqa: N801 (a SQL function's name)
    """A timestamp column minus a number of seconds (a bound parameter), comparable with the same column."""

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(seconds_before, "postgresql")
def _seconds_before_pg(element: seconds_before, compiler: SQLCompiler, **kw: Any) -> str:
    column, seconds = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({column} - {seconds} * INTERVAL '1 second')"


@compiles(seconds_before, "sqlite")
def _seconds_before_sqlite(element: seconds_before, compiler: SQLCompiler, **kw: Any) -> str:
    # The stored text is 'YYYY-MM-DD HH:MM:SS.ffffff': the same shape (milliseconds) compares as text.
    column, seconds = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"strftime('%Y-%m-%d %H:%M:%f', {column}, '-' || {seconds} || ' seconds')"


class qualified(FunctionElement):  # noqa: N801 (a SQL construct's name)
    """A subquery of a RETURNING clause with its columns named by table (SQLAlchemy drops the names on SQLite,
    which would make ``sig_c.email = comments.email`` read ``email = email``)."""

    inherit_cache = True

    def __init__(self, expression: ColumnElement[Any]) -> None:
        super().__init__(expression)
        self.type = expression.type


@compiles(qualified)
def _qualified(element: qualified, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **{**kw, "include_table": True})


#: Counts of copies and bursts stop here (or one past their threshold, if higher): a text copied ten thousand
#: times must not cost ten thousand rows per check, and no decision needs the exact figure beyond it.
COUNT_CAP = 100


def _earlier_within(other: Table, row: Table, name: str, seconds: str) -> ColumnElement[int]:
    """Count the comments (this one included) with *row*'s value of column *name* in the *seconds* before it,
    up to the parameter ``<seconds>_cap``."""
    earlier = (
        select(literal_column("1")).select_from(other)
        .where(other.c[name] == row.c[name], other.c.id <= row.c.id,
               other.c.created_at >= seconds_before(row.c.created_at, bindparam(seconds, type_=Integer)))
        .limit(bindparam(f"{seconds}_cap", type_=Integer())).correlate(row).subquery()
    )
    count = select(func.count()).select_from(earlier).scalar_subquery()
    return _unless_null(row.c[name], count, literal_column("0"))


def _unless_null(key: ColumnElement[Any], value: ColumnElement[Any], null_value: ColumnElement[Any]) -> Any:
    """Return *value*, or *null_value* without running its subquery when *key* is NULL (no address, short text)."""
    return case((key.is_(None), null_value), else_=value)


def columns(row: Table) -> list[ColumnElement[Any]]:
    """Return the claim's extra columns for the comment *row*, in the order :func:`read` takes them.

    Parameters of the statement: ``duplicate_seconds``, ``burst_seconds``, their ``_cap``, ``trusted_after``,
    ``rejected_since`` (:func:`params`).
    """
    other = Comment.__table__.alias("sig_c")
    bans = Ban.__table__
    published_by = [
        _unless_null(row.c[name], exists().where(other.c[name] == row.c[name], other.c.id < row.c.id,
                                                 trust.status_of(other) == Status.PUBLISHED), false())
        for name in ("email", "client_hash")
    ]
    active = bans.c.removed_at.is_(None)
    counts = [
        _earlier_within(other, row, "fingerprint", "duplicate_seconds"),
        _earlier_within(other, row, "email", "burst_seconds"),
        _earlier_within(other, row, "client_hash", "burst_seconds"),
        or_(*published_by),
        _unless_null(row.c.client_hash, exists().where(bans.c.scope == BanScope.CLIENT,
                                                       bans.c.value_hash == row.c.client_hash, active), false()),
        # Bans by address store its HMAC, which SQL cannot compute: this says whether any exists at all.
        exists().where(bans.c.scope == BanScope.EMAIL, active),
        *trust.pieces(row),
    ]
    return [row.c.lang, row.c.email, row.c.fingerprint, *(qualified(count) for count in counts)]


def params(settings: Settings, now: datetime) -> dict[str, Any]:
    """Return the parameters of :func:`columns` under *settings*."""
    return {"duplicate_seconds": settings.duplicate_window_minutes * 60,
            "duplicate_seconds_cap": max(COUNT_CAP, settings.duplicate_max + 1),
            "burst_seconds": settings.burst_window_seconds,
            "burst_seconds_cap": max(COUNT_CAP, settings.burst_max + 1),
            "trusted_after": settings.trusted_after_approved, "rejected_since": trust.since(now)}


#: How many columns :func:`columns` adds.
COUNT = 12
