"""Fixed-window rate limits kept in the database, so they hold across every web process."""

from __future__ import annotations

import time

from sqlalchemy import bindparam, delete
from sqlalchemy.orm import Session

from core.errors import RateLimited
from core.storage.db import dialect_insert
from core.storage.models import RateLimit

_rate_limits = RateLimit.__table__
#: Every key's finished windows. The nightly purge drops them: a request never pays for the cleanup, and the
#: windows of a client that never comes back go too (forgetting a key's old windows at its next hit missed those).
_FINISHED = delete(_rate_limits).where(_rate_limits.c.window < bindparam("window"))


def window_now(window_seconds: int = 60) -> tuple[float, int]:
    """Return the current time and the number of the fixed window it falls in."""
    now = time.time()
    return now, int(now // window_seconds)


def refusal(now: float, window: int, window_seconds: int = 60) -> RateLimited:
    """Return the error for an event over the limit, telling the client to wait for the next window."""
    return RateLimited(retry_after=max(1, int((window + 1) * window_seconds - now) + 1))


def hit(session: Session, key: str, limit: int, window_seconds: int = 60) -> int:
    """Count one event for *key*; raise RateLimited once *limit* events happened in this window."""
    now, window = window_now(window_seconds)
    statement = dialect_insert(session)(RateLimit).values(key=key, window=window, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=["key", "window"], set_={"count": RateLimit.count + 1}
    ).returning(RateLimit.count)
    count = session.execute(statement).scalar_one()
    if count > limit:
        raise refusal(now, window, window_seconds)
    return count


def forget_finished(session: Session, now: float, window_seconds: int = 60) -> int:
    """Delete the windows that ended before *now* (unix seconds), of every key; return how many went."""
    return session.execute(_FINISHED, {"window": int(now // window_seconds)}).rowcount
