"""Profanity check actor: a thin shell over ``core.moderation.checking.check_comments``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

import dramatiq

from actors.batches import Batched, send_follow_up
from actors.broker import dispatcher, settings
from actors.envelope import require_id
from core.errors import ValidationError
from core.messaging.broker import CHECK_PROFANITY, MODERATION_QUEUE
from core.moderation import checking
from core.storage.models import Status

logger = logging.getLogger(__name__)


#: What each batch passed to the model, by the first of its comments: that comment's thread sends it once the
#: batch is over. Sent inside the batch, the publish's wait for its confirm held up every thread of the batch and
#: the next batch too (a process runs one batch at a time).
_for_the_model: dict[int, list[int]] = {}


def _check_batch(comment_ids: Sequence[int]) -> dict[int, checking.Checked | Exception]:
    """Check a batch of comments (run by one of the batch's threads for all of them)."""
    # The last attempt counts as running until the re-dispatch would consider it stuck.
    busy_for = timedelta(seconds=settings.stuck_after_seconds)
    outcomes = checking.check_comments(comment_ids, settings.check_max_attempts, busy_for, settings)
    # Committed. What the batch passed goes to the model's own workers in one message, not one per comment: a
    # publish with its confirm per comment was a third of the check's cost (a lost send is re-dispatched: the
    # check marked each comment awaits_model).
    passed = sorted(i for i, o in outcomes.items() if isinstance(o, checking.Checked) and o.classify)
    if passed:
        _for_the_model[passed[0]] = passed
    return outcomes


#: The messages that the worker threads of this process run at the same time are checked together:
#: two database statements for the batch instead of two per comment.
_batches: Batched[checking.Checked] = Batched(CHECK_PROFANITY, _check_batch, settings.check_linger_ms)


@dramatiq.actor(
    actor_name=CHECK_PROFANITY,
    queue_name=MODERATION_QUEUE,
    max_retries=10,
    min_backoff=1_000,
    max_backoff=300_000,
    throws=(ValidationError, TypeError),
)
def check_profanity(comment_id: int) -> None:
    """Check comment *comment_id* for profanity, then queue its translations; safe to run twice."""
    comment_id = require_id(comment_id)
    outcome = _batches.outcome(comment_id)
    passed = _for_the_model.pop(comment_id, None)  # this comment's thread sends its batch's message for the model
    if passed:
        dispatcher.send_classifications(passed)
    if outcome is None:
        logger.info("Comment %d needs no check (done, decided, held or unknown).", comment_id)
        return
    # The common outcome is not worth a line per comment at INFO (a busy site checks hundreds a second).
    logger.log(logging.INFO if outcome.status == Status.FLAGGED else logging.DEBUG,
               "Comment %d checked: %s", comment_id, outcome.status)
    send_follow_up(comment_id, outcome.langs, outcome.notifications)
