"""Trust: an author with a confirmed address and a clean approved history skips the soft signals.

Trusted (contract): a confirmed address, at least TRUSTED_AFTER_APPROVED published comments by it (none of
them rejected by a moderator), and no rejected comment in the last ``REJECTION_DAYS`` days.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
)

from core.config import Settings
from core.storage.models import Action, Comment, Status
from core.storage.models_notifications import MailAddress

#: How long a rejection keeps an author from being trusted.
REJECTION_DAYS = 30


def is_trusted(confirmed: bool, approved: int, rejected_recently: bool, settings: Settings) -> bool:
    """Tell whether an author with these pieces of history is trusted."""
    return bool(confirmed) and not rejected_recently and approved >= settings.trusted_after_approved


def since(now: datetime) -> datetime:
    """Return the start of the window a rejection counts in."""
    return now - timedelta(days=REJECTION_DAYS)


def status_of(comments: Table) -> ColumnElement[str]:
    """The status of *comments* for a test that must not drive the plan (the same value, through ``lower``).

    An author's earlier comments are found by the author's index; ``status = 'published'`` on the bare column
    let PostgreSQL walk the (status, id) index instead, hoping for an early match, and read every published
    comment of the site before the author's few (hundreds of rows per check in the knee's profile).
    """
    return func.lower(comments.c.status)


def pieces(row: Table) -> tuple[ColumnElement[bool], ColumnElement[int], ColumnElement[bool]]:
    """Return the SQL of each piece for the comment *row* (confirmed, approved count, rejected recently).

    The counts are only read for a confirmed address (most are not: one index probe then); the approved count
    stops at ``:trusted_after`` rows, so a prolific author costs no more than a new one. Parameters:
    ``trusted_after`` (the setting) and ``rejected_since`` (:func:`since`).
    """
    comments = Comment.__table__.alias("trust_c")
    addresses = MailAddress.__table__
    confirmed = exists().where(addresses.c.address == row.c.email, addresses.c.confirmed_at.is_not(None))
    approved = (
        select(literal_column("1")).select_from(comments)
        .where(comments.c.email == row.c.email, status_of(comments) == Status.PUBLISHED,
               or_(comments.c.decision.is_(None), comments.c.decision == Action.APPROVE))
        .limit(bindparam("trusted_after", type_=Integer())).correlate(row).subquery()
    )
    approved_count = select(func.count()).select_from(approved).scalar_subquery()
    rejected = exists().where(
        comments.c.email == row.c.email,
        or_(status_of(comments) == Status.REJECTED, comments.c.decision == Action.REJECT),
        func.coalesce(comments.c.decided_at, comments.c.updated_at) >= bindparam("rejected_since",
                                                                                  type_=comments.c.updated_at.type),
    )
    known = and_(row.c.email.is_not(None), confirmed)
    return (known, case((known, approved_count), else_=0), case((known, rejected), else_=false()))
