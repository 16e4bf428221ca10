"""Fixed-window rate limits kept in the database, so they hold across every web process."""

from __future__ import annotations

import time

from sqlalchemy import delete
from sqlalchemy.orm import Session

from core.db import dialect_insert
from core.errors import RateLimited
from core.models import RateLimit


def hit(session: Session, key: str, limit: int, window_seconds: int = 60) -> int:
    """Count one event for *key*; raise RateLimited once *limit* events happened in this window."""
    now = time.time()
    window = int(now // window_seconds)
    statement = dialect_insert(session)(RateLimit).values(key=key, window=window, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=["key", "window"], set_={"count": RateLimit.count + 1}
    ).returning(RateLimit.count)
    count = session.execute(statement).scalar_one()
    if count == 1:
        # First event of a new window: forget this key's old windows.
        session.execute(delete(RateLimit).where(RateLimit.key == key, RateLimit.window < window))
    if count > limit:
        raise RateLimited(retry_after=max(1, int((window + 1) * window_seconds - now) + 1))
    return count
