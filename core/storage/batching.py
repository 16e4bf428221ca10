"""Group commit: concurrent callers' items run together as one batch, one batch at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class _Slot(Generic[K, R]):
    """One caller's item, the lock its thread sleeps on, and its outcome once its batch ran."""

    __slots__ = ("done", "error", "item", "lead", "result", "wake")

    def __init__(self, item: K) -> None:
        self.item = item
        self.wake = threading.Lock()
        # Held from the start; released when this caller is to lead the next batch, and when its batch is done.
        self.wake.acquire()
        self.lead = self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None


def _one(_item: object) -> int:
    """Weigh any item 1: the default, a batch counts its items."""
    return 1


class GroupCommit(Generic[K, R]):
    """Runs ``run(items) -> {item: result}`` for items submitted from many threads, in batches.

    A caller that finds no batch running runs at once, as a batch of one: nothing waits for company, so
    an idle process adds no latency. Callers arriving while a batch runs queue up; when it ends, the
    first of them leads all of them as the next batch. Under load, batches grow to the number of busy
    threads and the fixed cost of a batch (database round trips, commits) is shared out. Each waiting
    thread sleeps on its own lock and is woken once, so there is no thundering herd on every batch.

    At moderate rates callers come one at a time and every batch is of one. With *linger*, a leader that
    is alone but sees steady traffic (the last two items came less than *linger* apart) waits that long
    before it runs, so the items arriving meanwhile join its batch; an idle process still runs at once.
    """

    def __init__(self, run: Callable[[Sequence[K]], dict[K, R]], max_size: int = 64, linger: float = 0.0,
                 weight: Callable[[K], int] | None = None) -> None:
        """Batch *run* over items weighing at most *max_size* together (each weighs 1 unless *weight* says; one
        item heavier than that runs alone); a leader may wait *linger* seconds for company (see below)."""
        self._run = run
        self._max_size = max_size
        self._weight: Callable[[K], int] = weight or _one
        self._linger = linger
        self._mutex = threading.Lock()
        self._queue: list[_Slot[K, R]] = []
        self._running = False
        self._last_arrival = 0.0
        self._busy = False

    def submit(self, item: K) -> R:
        """Run *item* in a batch and return its result, or raise what the batch raised."""
        slot: _Slot[K, R] = _Slot(item)
        now = time.monotonic()
        with self._mutex:
            self._queue.append(slot)
            # Steady traffic (the previous item came within the linger): items arrive one by one, too far apart
            # to meet in a running batch, so a short wait lets a few share one batch's round trips and commits.
            self._busy = now - self._last_arrival < self._linger
            self._last_arrival = now
            lead = not self._running
            if lead:
                self._running = True
        while True:
            if lead:
                self._lead()
            if slot.done:
                break
            slot.wake.acquire()
            lead = slot.lead and not slot.done
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _batch_size(self) -> int:
        """Return how many queued items the next batch takes (at least one)."""
        taken = total = 0
        for slot in self._queue:
            total += self._weight(slot.item)
            if taken and total > self._max_size:
                break
            taken += 1
        return taken

    def _lead(self) -> None:
        """Run the queued items as one batch, then hand the lead to the first caller still waiting."""
        if self._busy and len(self._queue) == 1 and self._weight(self._queue[0].item) == 1:
            # Alone under steady traffic: wait (at most *linger*) for company. Never with a backlog queued, nor
            # for an item that is a batch itself (a list): those are company enough, and a wait per batch would
            # cap the rate at threads / linger.
            time.sleep(self._linger)
        with self._mutex:
            size = self._batch_size()
            batch, self._queue = self._queue[:size], self._queue[size:]
        try:
            try:
                results = self._run([slot.item for slot in batch])
            except BaseException as exc:  # not handled here: re-raised in every caller of the batch
                for slot in batch:
                    slot.error = exc
            else:
                for slot in batch:
                    slot.result = results.get(slot.item)
        finally:  # whatever happened, the next batch gets a leader and every caller of this one wakes up
            with self._mutex:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].wake.release()
                else:
                    self._running = False
            for slot in batch:
                # One release per slot: it wakes a waiting caller (the leader's own thread is not waiting).
                slot.done = True
                slot.wake.release()
