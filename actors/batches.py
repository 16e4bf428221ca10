"""The batching shell the check and the model stage share: a comment's message runs in its worker's batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from actors.broker import dispatcher
from actors.middleware import in_redelivery_lane
from core.logs import log_context
from core.notifications import outbox
from core.storage.batching import GroupCommit

R = TypeVar("R")


#: The comments of one message: one id, or a check batch's list for the model.
Job = tuple[int, ...]


class Batched(Generic[R]):
    """Runs ``run(comment_ids) -> {id: outcome or error}`` for the messages a worker's threads hold at once."""

    def __init__(self, actor_name: str, run: Callable[[Sequence[int]], dict[int, R | Exception]],
                 linger_ms: int = 0) -> None:
        """Batch *run* for actor *actor_name* (named in the lines logged while a batch runs); see GroupCommit's
        *linger* for *linger_ms*."""
        self._actor_name, self._run = actor_name, run
        # A batch is up to 64 comments, whether from single messages or lists: lists that arrive together share
        # one run (for the model, one call: its fixed cost is most of the work for a few texts).
        self._batches: GroupCommit[Job, dict[int, R | Exception]] = GroupCommit(
            self._jobs, linger=linger_ms / 1000, weight=len)

    def _jobs(self, jobs: Sequence[Job]) -> dict[Job, dict[int, R | Exception]]:
        """Run the comments of *jobs* as one batch; return each job's outcomes."""
        outcomes = self._logged(list(dict.fromkeys(comment_id for job in jobs for comment_id in job)))
        return {job: {i: outcomes[i] for i in job if i in outcomes} for job in jobs}

    def _logged(self, comment_ids: Sequence[int]) -> dict[int, R | Exception]:
        # The lines logged meanwhile are about the batch, not about this thread's own message.
        context = log_context.set({"actor": self._actor_name, "batch": list(comment_ids)})
        try:
            return self._run(comment_ids)
        finally:
            log_context.reset(context)

    def run_all(self, comment_ids: Sequence[int]) -> dict[int, R | Exception]:
        """Run *comment_ids* (one message's) in a batch, with what other threads hold; return each one's outcome
        or error."""
        if in_redelivery_lane():
            # The message may be the one that killed a worker: one comment at a time, each committed before the
            # next, so the others are done when the culprit kills it again (its attempts then hold it).
            outcomes: dict[int, R | Exception] = {}
            for comment_id in comment_ids:
                outcomes.update(self._logged([comment_id]))
            return outcomes
        return self._batches.submit(tuple(comment_ids))

    def outcome(self, comment_id: int) -> R | None:
        """Return *comment_id*'s outcome (None: nothing to do); raise its own error, for the actor's retries."""
        # A redelivered message may be the one that killed a worker: it runs alone, never in a batch.
        if in_redelivery_lane():
            result = self._logged([comment_id]).get(comment_id)
        else:
            result = self._batches.submit((comment_id,)).get(comment_id)
        if isinstance(result, Exception):
            raise result  # retried with backoff (max_retries); its attempts are counted in the database
        return result


def send_follow_up(comment_id: int, langs: Sequence[str], notifications: Sequence[int]) -> None:
    """Send what a committed outcome released: its translations, then its outbox rows (one the broker does not
    take is re-sent by the re-dispatch). After the commit, so a translation never races ahead of its comment."""
    for lang in langs:
        dispatcher.send_translation(comment_id, lang)
    outbox.send_all(notifications, dispatcher.send_notification)
