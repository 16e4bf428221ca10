"""Maintenance actors on queue ``maintenance``: the scheduler's jobs and moderators' background tasks."""

from __future__ import annotations

import dramatiq

from actors.broker import dispatcher, settings
from actors.envelope import require_id
from core.errors import ValidationError
from core.messaging.broker import MAINTENANCE_QUEUE, RUN_MAINTENANCE, RUN_TASK
from core.moderation import tasks
from core.notifications import outbox
from core.scheduling import maintenance, schedule


@dramatiq.actor(
    actor_name=RUN_MAINTENANCE, queue_name=MAINTENANCE_QUEUE, max_retries=5, min_backoff=2_000,
    max_backoff=120_000, throws=(ValidationError, TypeError, ValueError),
)
def run_maintenance(job: str, slot: str, manual: bool = False) -> None:
    """Run scheduler job *job* for the scheduled *slot* once (the ledger drops repeats)."""
    if job not in maintenance.JOB_FUNCTIONS:
        raise ValidationError(f"unknown job {job!r}")
    outcome = maintenance.run(job, schedule.parse_slot(slot), settings, manual=manual)
    if outcome is None:
        return
    # Sent after the job's transaction committed.
    for comment_id in outcome.checks:
        dispatcher.send_check(comment_id)
    for comment_id in outcome.classifications:
        dispatcher.send_classification(comment_id)
    for comment_id, lang in outcome.translations:
        dispatcher.send_translation(comment_id, lang)
    for task_id in outcome.tasks:
        dispatcher.send_task(task_id)
    outbox.send_all(outcome.notifications, dispatcher.send_notification)


@dramatiq.actor(
    actor_name=RUN_TASK, queue_name=MAINTENANCE_QUEUE, max_retries=3, min_backoff=1_000, max_backoff=30_000,
    throws=(ValidationError, TypeError),
    time_limit=int(tasks.TIME_LIMIT.total_seconds() * 1000),
)
def run_task(task_id: int) -> None:
    """Run moderators' background task *task_id* (word-list preview, rescan, a ban's rejections); a second delivery
    is a no-op."""
    tasks.run(require_id(task_id), settings, dispatcher.send_notification)
