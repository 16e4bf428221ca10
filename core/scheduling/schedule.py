"""Periodic jobs: their triggers, scheduled slots, the run ledger and the active-scheduler lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.config import Settings
from core.storage.models import utcnow
from core.storage.models_scheduling import JobRun, SchedulerLease

#: Interval slots are aligned on this instant, so every scheduler process computes the same slots.
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
LEASE = "scheduler"
JOBS = ("redispatch", "purge", "daily_stats", "digest")


@dataclass(frozen=True)
class JobSpec:
    """A periodic job: its name, trigger and a human description of the schedule."""

    name: str
    trigger: CronTrigger | IntervalTrigger
    schedule: str

    def latest_slot(self, now: datetime) -> datetime:
        """Return the most recent scheduled time at or before *now*."""
        if isinstance(self.trigger, IntervalTrigger):
            seconds = self.trigger.interval.total_seconds()
            return EPOCH + timedelta(seconds=((now - EPOCH).total_seconds() // seconds) * seconds)
        # Cron: walk forward from a week back (nightly jobs take a handful of steps).
        slot, probe = None, now - timedelta(days=8)
        while True:
            nxt = self.trigger.get_next_fire_time(slot, probe)
            if nxt is None or nxt > now:
                return slot or now
            slot, probe = nxt, nxt + timedelta(microseconds=1)

    def next_slot(self, now: datetime) -> datetime | None:
        """Return the next scheduled time after *now*."""
        return self.trigger.get_next_fire_time(None, now + timedelta(microseconds=1))


def job_specs(settings: Settings) -> dict[str, JobSpec]:
    """Return the jobs with their triggers from *settings* (UTC)."""
    interval = settings.redispatch_interval_seconds
    return {
        "redispatch": JobSpec("redispatch", IntervalTrigger(seconds=interval, start_date=EPOCH, timezone=UTC),
                              f"every {interval} s"),
        "purge": JobSpec("purge", CronTrigger.from_crontab(settings.purge_cron, timezone=UTC),
                         f"cron {settings.purge_cron} UTC"),
        "daily_stats": JobSpec("daily_stats", CronTrigger.from_crontab(settings.daily_stats_cron, timezone=UTC),
                               f"cron {settings.daily_stats_cron} UTC"),
        "digest": JobSpec("digest", IntervalTrigger(minutes=settings.moderator_digest_minutes, start_date=EPOCH,
                                                    timezone=UTC), f"every {settings.moderator_digest_minutes} min"),
    }


def parse_slot(value: str) -> datetime:
    """Parse an ISO slot sent in a message (always UTC)."""
    slot = datetime.fromisoformat(value)
    return slot.replace(tzinfo=UTC) if slot.tzinfo is None else slot.astimezone(UTC)


def claim_run(session: Session, job: str, slot: datetime, manual: bool, stale_after: timedelta) -> bool:
    """Record that (job, slot) starts now; False if it already ran, or runs elsewhere (not stale)."""
    try:
        with session.begin_nested():
            session.add(JobRun(job=job, slot=slot, manual=manual, status="running", attempts=1, started_at=utcnow()))
        return True
    except IntegrityError:
        pass
    now = utcnow()
    # A failed run may be retried; a "running" one only when it was abandoned (worker killed).
    return bool(session.execute(
        update(JobRun)
        .where(JobRun.job == job, JobRun.slot == slot)
        .where((JobRun.status == "failed") | ((JobRun.status == "running") & (JobRun.started_at < now - stale_after)))
        .values(status="running", attempts=JobRun.attempts + 1, started_at=now, finished_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount)


def finish_run(session: Session, job: str, slot: datetime, status: str, detail: dict[str, Any]) -> None:
    """Record the outcome of (job, slot)."""
    session.execute(
        update(JobRun).where(JobRun.job == job, JobRun.slot == slot)
        .values(status=status, detail=detail, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def has_run(session: Session, job: str, slot: datetime) -> bool:
    """Tell whether (job, slot) is in the ledger (running, done or failed)."""
    return session.scalar(select(JobRun.id).where(JobRun.job == job, JobRun.slot == slot)) is not None


def last_runs(session: Session) -> dict[str, JobRun]:
    """Return the latest ledger row of each job."""
    latest: dict[str, JobRun] = {}
    for run in session.scalars(select(JobRun).order_by(JobRun.started_at.desc()).limit(500)):
        latest.setdefault(run.job, run)
    return latest


def last_success(session: Session) -> dict[str, datetime]:
    """Return when each job last finished successfully."""
    rows = session.execute(select(JobRun.job, JobRun.finished_at).where(JobRun.status == "done")
                           .order_by(JobRun.finished_at.desc()).limit(500))
    result: dict[str, datetime] = {}
    for job, finished in rows:
        result.setdefault(job, finished)
    return result


def acquire_lease(session: Session, holder: str, seconds: int) -> bool:
    """Take or renew the active-scheduler lease for *holder*; False while another holds it."""
    now = utcnow()
    expires = now + timedelta(seconds=seconds)
    renewed = session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == LEASE)
        .where((SchedulerLease.holder == holder) | (SchedulerLease.expires_at < now))
        .values(holder=holder, expires_at=expires)
        .execution_options(synchronize_session=False)
    ).rowcount
    if renewed:
        return True
    try:
        with session.begin_nested():
            session.add(SchedulerLease(name=LEASE, holder=holder, expires_at=expires))
        return True
    except IntegrityError:
        return False


def release_lease(session: Session, holder: str) -> None:
    """Give the lease up (clean shutdown), so a standby takes over at once."""
    session.execute(
        update(SchedulerLease).where(SchedulerLease.name == LEASE, SchedulerLease.holder == holder)
        .values(expires_at=utcnow() - timedelta(seconds=1))
        .execution_options(synchronize_session=False)
    )


def lease_holder(session: Session) -> tuple[str, datetime] | None:
    """Return the current lease holder and expiry, if any."""
    lease = session.get(SchedulerLease, LEASE)
    return (lease.holder, lease.expires_at) if lease else None
