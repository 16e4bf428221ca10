"""What moderators and operators see of the scheduler: jobs, last outcome, next run, active process."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.comments.views import iso
from core.config import Settings
from core.scheduling import schedule
from core.storage.models import utcnow


def overview(session: Session, settings: Settings) -> dict[str, Any]:
    """Return every job with its schedule, last run and next run, and the active scheduler."""
    now = utcnow()
    last = schedule.last_runs(session)
    successes = schedule.last_success(session)
    jobs = []
    for name, spec in schedule.job_specs(settings).items():
        run = last.get(name)
        jobs.append({
            "job": name,
            "schedule": spec.schedule,
            "next_run": iso(spec.next_slot(now)),
            "last_success": iso(successes.get(name)),
            "last_run": None if run is None else {
                "slot": iso(run.slot), "status": run.status, "manual": run.manual, "attempts": run.attempts,
                "started_at": iso(run.started_at), "finished_at": iso(run.finished_at), "detail": run.detail,
            },
        })
    lease = schedule.lease_holder(session)
    active = lease is not None and lease[1].replace(tzinfo=None) > now.replace(tzinfo=None)
    return {"jobs": jobs, "active_scheduler": lease[0] if active and lease else None}
