"""Offensive-language model actor: a thin shell over ``core.moderation.classifying.classify_comments``.

Its queue (``classification``) has workers of its own: the model's package loads scikit-learn (about 110 MiB),
which the ``moderation`` workers never import (core.signals.model loads it on the first score).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

import dramatiq

from actors.batches import Batched, send_follow_up
from actors.broker import settings
from actors.envelope import require_id, require_ids
from core.errors import ValidationError
from core.messaging.broker import CLASSIFICATION_QUEUE, CLASSIFY_COMMENT, CLASSIFY_COMMENTS
from core.moderation import classifying
from core.storage.models import Status

logger = logging.getLogger(__name__)


def _classify_batch(comment_ids: Sequence[int]) -> dict[int, classifying.Classified | Exception]:
    """Run the model stage on a batch of comments (run by one of the batch's threads for all of them)."""
    # The last attempt counts as running until the re-dispatch would consider it stuck.
    return classifying.classify_comments(comment_ids, settings, timedelta(seconds=settings.stuck_after_seconds))


#: The messages this process's worker threads run at the same time are scored together: one model call and
#: one transaction for the batch (a call's fixed cost is most of the work for a few texts).
_batches: Batched[classifying.Classified] = Batched(CLASSIFY_COMMENT, _classify_batch, settings.classify_linger_ms)


def _finish(comment_id: int, outcome: classifying.Classified) -> None:
    """Log a committed outcome (a takedown or hold at INFO) and send what it released."""
    logger.log(logging.INFO if outcome.status == Status.FLAGGED else logging.DEBUG,
               "Comment %d classified: %s", comment_id, outcome.status)
    # A translation held back until the comment passed is sent only now.
    send_follow_up(comment_id, outcome.langs, outcome.notifications)


@dramatiq.actor(
    actor_name=CLASSIFY_COMMENT,
    queue_name=CLASSIFICATION_QUEUE,
    max_retries=10,
    min_backoff=1_000,
    max_backoff=300_000,
    throws=(ValidationError, TypeError),
)
def classify_comment(comment_id: int) -> None:
    """Score comment *comment_id* with the offensive-language model, then publish, hold or take it down."""
    comment_id = require_id(comment_id)
    outcome = _batches.outcome(comment_id)
    if outcome is None:
        logger.info("Comment %d needs no classification (done, decided, held, edited or unknown).", comment_id)
        return
    _finish(comment_id, outcome)


@dramatiq.actor(
    actor_name=CLASSIFY_COMMENTS,
    queue_name=CLASSIFICATION_QUEUE,
    max_retries=10,
    min_backoff=1_000,
    max_backoff=300_000,
    throws=(ValidationError, TypeError),
)
def classify_comments(comment_ids: list[int]) -> None:
    """Score the comments a check batch passed (*comment_ids*) in one model batch; safe to run twice."""
    outcomes = _batches.run_all(require_ids(comment_ids))
    failed = [outcome for outcome in outcomes.values() if isinstance(outcome, Exception)]
    for comment_id, outcome in outcomes.items():
        if isinstance(outcome, classifying.Classified):
            _finish(comment_id, outcome)
    if failed:
        # Retried with backoff: the comments done above are no longer awaiting the model, so only the rest run.
        raise failed[0]
