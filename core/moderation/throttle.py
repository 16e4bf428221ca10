"""Login throttling (OWASP): failures only, per (account, client address) pair, with exponential backoff.

A stranger's failures from their addresses delay only their own pairs, so they cannot lock the owner out; a much
higher ceiling per client address, across every account, slows credential stuffing. A success resets its pair.
The state lives in the database, so every web process sees the same counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session

from core.storage.db import dialect_insert
from core.storage.models import LoginFailure

#: Failures of one (account, address) pair allowed before each further attempt must wait.
PAIR_FREE_FAILURES = 5
#: Failures from one client address, over every account, allowed before its attempts must wait.
ADDRESS_FREE_FAILURES = 100
#: The first wait, doubled at every further failure, up to the cap (seconds).
FIRST_DELAY, MAX_DELAY = 1.0, 900.0
#: A key's failures are forgotten this long after its latest one (and purged by the nightly job).
MEMORY_SECONDS = 24 * 3600
#: The clock (seconds since the epoch); tests replace it instead of sleeping.
clock: Callable[[], float] = time.time


def pair_key(name: str, address: str) -> str:
    """Return the key of the failures of account *name* from client *address*."""
    return f"pair:{name.lower()}@{address}"[:200]


def address_key(address: str) -> str:
    """Return the key of every failure from client *address*."""
    return f"addr:{address}"[:200]


def delay(failures: int, free: int) -> float:
    """Return how long after the latest failure the next attempt must wait (0 while under *free*)."""
    if failures < free:
        return 0.0
    return min(MAX_DELAY, FIRST_DELAY * 2.0 ** min(failures - free, 32))


def retry_after(session: Session, name: str, address: str) -> int:
    """Return the seconds to wait before account *name* may be tried from *address* (0: try now)."""
    now = clock()
    keys = {pair_key(name, address): PAIR_FREE_FAILURES, address_key(address): ADDRESS_FREE_FAILURES}
    wait = 0.0
    for key, failures, last_at in session.execute(
        select(LoginFailure.key, LoginFailure.failures, LoginFailure.last_at).where(LoginFailure.key.in_(keys))
    ):
        if now - last_at < MEMORY_SECONDS:
            wait = max(wait, last_at + delay(failures, keys[key]) - now)
    return math.ceil(wait) if wait > 0 else 0


def record_failure(session: Session, name: str, address: str) -> None:
    """Count one failed login of *name* from *address*, for the pair and for the address."""
    now = clock()
    insert = dialect_insert(session)
    for key in (pair_key(name, address), address_key(address)):
        statement = insert(LoginFailure).values(key=key, failures=1, last_at=now)
        # One atomic statement per key, so concurrent failures in several processes all count.
        session.execute(statement.on_conflict_do_update(index_elements=["key"], set_={
            "failures": case((LoginFailure.last_at < now - MEMORY_SECONDS, 1), else_=LoginFailure.failures + 1),
            "last_at": now,
        }))


def record_success(session: Session, name: str, address: str) -> None:
    """Forget the failures of the pair that just logged in (the address's count stays)."""
    session.execute(delete(LoginFailure).where(LoginFailure.key == pair_key(name, address)))


def forget_old(session: Session, now: float) -> int:
    """Delete failures older than MEMORY_SECONDS at *now* (nightly); return how many keys were dropped."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.last_at < now - MEMORY_SECONDS))
    return result.rowcount or 0
