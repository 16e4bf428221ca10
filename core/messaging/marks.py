"""Record confirmed dispatches off the request path: one UPDATE every ~50 ms for everything a process sent.

A POST used to note ``dispatched_at`` in a second transaction of its own (pool checkout, pre-ping, UPDATE,
COMMIT). Now the request only queues (id, created_at) here, and a daemon thread per process writes the queue
with one ``UPDATE … WHERE (id, created_at) IN (…)``. A mark that never arrives (the process died, the database
failed) costs one duplicate check message: the scheduler's re-dispatch sends comments with no ``dispatched_at``
again after UNDISPATCHED_GRACE, and the check ignores a comment already checked.

Both backends use this path. SQLite could afford the synchronous mark, but one path means the tests of either
backend exercise what production runs, and SQLite's single writer gains the most from fewer write transactions.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from core.storage import db
from core.storage.models import Comment, utcnow

logger = logging.getLogger(__name__)

_comments = Comment.__table__
#: Note the confirmed check messages of many comments at once. Rows are named by (id, created_at): a late mark
#: must never land on another comment that reused the id (SQLite hands out the highest rowid again after a
#: delete). updated_at is left alone: the mark is bookkeeping, not progress, and it may now land after the
#: check has run, whose time updated_at keeps (the claim and the re-dispatch read it; the public sees it).
MARK_DISPATCHED = (
    update(_comments)
    .where(tuple_(_comments.c.id, _comments.c.created_at).in_(bindparam("keys", expanding=True)))
    .values(
        dispatched_at=bindparam("now"),
        dispatch_attempts=_comments.c.dispatch_attempts + 1,
        updated_at=_comments.c.updated_at,
    )
)



def mark_dispatched(connection: Connection, keys: Sequence[tuple[int, datetime]], now: datetime) -> int:
    """Record that the broker confirmed the check messages of the comments *keys* (id, created_at)."""
    return connection.execute(MARK_DISPATCHED, {"keys": list(keys), "now": now}).rowcount

#: The most comments one UPDATE names (each takes two bound values; SQLite allows 32766).
MAX_BATCH = 500


class DispatchMarks:
    """Comments whose check message the broker confirmed, written in batches by one daemon thread per process."""

    def __init__(self, interval: float = 0.05) -> None:
        """Write the queued marks every *interval* seconds."""
        self.interval = interval
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[int, datetime]] = []
        self._thread: threading.Thread | None = None
        self._pid = 0

    def after_fork(self) -> None:
        """Forget the parent's state in a forked child: its lock may be held, its marks are its own to write."""
        self._reset()

    def add(self, comment_id: int, created_at: datetime) -> None:
        """Queue the mark of comment *comment_id*, stored at *created_at*, for the next batch."""
        with self._lock:
            self._pending.append((comment_id, created_at))
            # Started on first use in each process: gunicorn may fork after import, and threads do not survive
            # a fork. A writer that died of an unexpected error is replaced the same way.
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="dispatch-marks", daemon=True)
                self._thread.start()

    def pending(self) -> int:
        """Return how many marks wait for the next batch."""
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write every queued mark now; return how many comments were marked."""
        with self._lock:
            batch, self._pending = self._pending, []
        marked = 0
        for start in range(0, len(batch), MAX_BATCH):
            keys = batch[start:start + MAX_BATCH]
            try:
                with db.engine().begin() as connection:
                    marked += mark_dispatched(connection, keys, utcnow())
            except SQLAlchemyError as exc:
                # Not retried: the scheduler's re-dispatch sends these checks again, which is harmless.
                logger.warning("Could not mark %d comments dispatched (first id %d): %s", len(keys), keys[0][0],
                               str(exc).splitlines()[0][:200])
        return marked

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()


#: This process's marks (the web's POST adds to it).
MARKS = DispatchMarks()
os.register_at_fork(after_in_child=MARKS.after_fork)
# A clean shutdown (gunicorn's worker exits through sys.exit) writes what the last interval queued.
atexit.register(MARKS.flush)
