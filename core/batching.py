"""Group commit: concurrent callers' items run together as one batch, one batch at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class _Slot(Generic[K, R]):
    """One caller's item and, once its batch ran, its outcome."""

    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: K) -> None:
        self.item = item
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[K, R]):
    """Runs ``run(items) -> {item: result}`` for items submitted from many threads, in batches.

    No timer and no waiting for company: a caller that finds no batch running runs at once (a batch of
    one when the process is idle); callers arriving while a batch runs queue up and go together in the
    next one. Under load, batches grow to the number of busy threads, and so the fixed cost of a batch
    (database round trips, commits) is shared out.
    """

    def __init__(self, run: Callable[[Sequence[K]], dict[K, R]], max_size: int = 64) -> None:
        """Batch *run* over at most *max_size* items."""
        self._run = run
        self._max_size = max_size
        self._cond = threading.Condition()
        self._queue: list[_Slot[K, R]] = []
        self._busy = False

    def submit(self, item: K) -> R:
        """Run *item* in the next batch and return its result, or raise what the batch raised."""
        slot: _Slot[K, R] = _Slot(item)
        with self._cond:
            self._queue.append(slot)
            while not slot.done:
                if self._busy:
                    self._cond.wait()
                    continue
                batch, self._queue = self._queue[: self._max_size], self._queue[self._max_size :]
                self._busy = True
                self._cond.release()
                try:
                    self._execute(batch)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _execute(self, batch: list[_Slot[K, R]]) -> None:
        """Run one batch and hand each caller its outcome."""
        try:
            results = self._run([slot.item for slot in batch])
        except BaseException as exc:  # not handled here: re-raised in every caller of the batch
            for slot in batch:
                slot.error, slot.done = exc, True
            return
        for slot in batch:
            slot.result, slot.done = results.get(slot.item), True
