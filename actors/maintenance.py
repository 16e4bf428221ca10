"""Maintenance actors on queue ``maintenance``: moderator jobs (preview, rescan)."""

from __future__ import annotations

import dramatiq

from actors.moderation import require_id
from core import jobs
from core.broker import MAINTENANCE_QUEUE, RUN_JOB
from core.errors import ValidationError


@dramatiq.actor(
    actor_name=RUN_JOB, queue_name=MAINTENANCE_QUEUE, max_retries=3, min_backoff=1_000, max_backoff=30_000,
    throws=(ValidationError, TypeError), time_limit=30 * 60_000,
)
def run_job(job_id: int) -> None:
    """Run moderator job *job_id* (word-list preview or rescan); a second delivery is a no-op."""
    jobs.run(require_id(job_id))
