"""The scheduler's jobs as domain functions, on SQLite and PostgreSQL (no processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from core.scheduling import maintenance, schedule
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Translation, utcnow
from core.storage.models_scheduling import DailyStats, JobRun
from tests import seed
from tests.support import ROOT


@pytest.fixture
def settings(stack, clean_db):  # type: ignore[no-untyped-def]
    """Settings with a 5-minute stuck threshold and 30-day retention."""
    db.configure(stack.database_url)
    return stack.settings(stuck_after_seconds=300, redispatch_max_attempts=2, retention_rejected_days=30)


def age(comment_id: int, **columns: datetime) -> None:
    """Move a comment's timestamps into the past."""
    with db.session_scope() as session:
        session.execute(update(Comment).where(Comment.id == comment_id).values(**columns))


def run(job, settings, now=None):  # type: ignore[no-untyped-def]
    """Run one job function in its own transaction."""
    with db.session_scope() as session:
        return maintenance.JOB_FUNCTIONS[job](session, settings, now or utcnow())


def test_redispatch_sends_stuck_and_never_dispatched_comments_once(settings):
    now = utcnow()
    stuck = seed.comment(status=Status.PENDING)
    never_sent = seed.comment(status=Status.PENDING)
    in_flight = seed.comment(status=Status.PENDING)
    age(stuck, created_at=now - timedelta(minutes=10), updated_at=now - timedelta(minutes=10), dispatched_at=now)
    age(never_sent, created_at=now - timedelta(seconds=30), updated_at=now - timedelta(seconds=30))
    age(in_flight, created_at=now - timedelta(minutes=10), updated_at=now - timedelta(seconds=5), dispatched_at=now)
    outcome = run("redispatch", settings, now)
    assert sorted(outcome.checks) == sorted([stuck, never_sent])
    # Sent work is not sent again until it has been stuck for another STUCK_AFTER_SECONDS.
    assert run("redispatch", settings, now + timedelta(seconds=60)).checks == []


def test_redispatch_gives_up_after_the_limit(settings):
    now = utcnow()
    comment_id = seed.comment(status=Status.PENDING, translations={"fr": {"status": "pending"}})
    age(comment_id, created_at=now - timedelta(hours=1), updated_at=now - timedelta(hours=1), dispatched_at=now)
    for step in range(2):
        assert run("redispatch", settings, now + timedelta(minutes=10 * step)).checks == [comment_id]
    outcome = run("redispatch", settings, now + timedelta(minutes=30))
    assert outcome.checks == [] and outcome.detail["held"] == 1
    with db.session_scope() as session:
        comment = session.get(Comment, comment_id)
        assert comment.status == Status.FLAGGED and "re-dispatches" in comment.check_error


def test_redispatch_resends_stuck_translations_and_fails_them_at_the_limit(settings):
    now = utcnow()
    comment_id = seed.comment(status=Status.PUBLISHED, translations={"fr": {"status": "pending"}})
    with db.session_scope() as session:
        session.execute(update(Translation).values(created_at=now - timedelta(hours=1),
                                                   updated_at=now - timedelta(hours=1)))
    assert run("redispatch", settings, now).translations == [(comment_id, "fr")]
    assert run("redispatch", settings, now + timedelta(minutes=10)).translations == [(comment_id, "fr")]
    assert run("redispatch", settings, now + timedelta(minutes=20)).detail["failed"] == 1
    with db.session_scope() as session:
        translation = session.scalars(select(Translation)).one()
        assert translation.status == "failed" and "re-dispatches" in translation.reason


def test_redispatch_never_touches_decided_comments(settings):
    now = utcnow()
    comment_id = seed.comment(status=Status.REJECTED)
    age(comment_id, created_at=now - timedelta(hours=1), updated_at=now - timedelta(hours=1))
    with db.session_scope() as session:
        session.execute(update(Comment).values(decision="reject", decided_at=now))
    assert run("redispatch", settings, now).checks == []


def test_purge_deletes_old_rejected_and_keeps_decisions_without_text(settings):
    now = utcnow()
    old = seed.comment(status=Status.REJECTED, translations={"fr": "secret"})
    recent = seed.comment(status=Status.REJECTED)
    published = seed.comment(status=Status.PUBLISHED)
    with db.session_scope() as session:
        for comment_id, when in ((old, now - timedelta(days=31)), (recent, now - timedelta(days=29)),
                                 (published, now - timedelta(days=90))):
            session.execute(update(Comment).where(Comment.id == comment_id).values(
                decision="reject" if comment_id != published else None, decided_at=when))
            session.add(AuditEvent(comment_id=comment_id, kind="decision", action="reject", actor="alice",
                                   reason="quoted: what the fuck", dedupe_key=f"decision:{comment_id}"))
    with db.session_scope() as session:
        assert maintenance.purge_candidates(session, settings, now) == [old]  # the dry-run count
    outcome = run("purge", settings, now)
    assert outcome.detail["deleted"] == 1 and outcome.detail["ids"] == [old]
    with db.session_scope() as session:
        assert session.get(Comment, old) is None and session.get(Comment, recent) is not None
        assert session.scalars(select(Translation)).all() == []
        event = session.scalars(select(AuditEvent).where(AuditEvent.comment_id == old)).one()
        assert (event.action, event.actor, event.reason, event.redacted) == ("reject", "alice", None, True)
        purge_event = session.scalars(select(AuditEvent).where(AuditEvent.action == "purge")).one()
        assert purge_event.detail["deleted"] == 1
    assert run("purge", settings, now).detail["deleted"] == 0


def test_purge_forgets_every_finished_rate_limit_window_and_keeps_the_current_ones(settings):
    """A client that never came back leaves its windows behind: the nightly purge drops them, of every key."""
    from core import ratelimit
    from core.storage.models import RateLimit

    clock, window = ratelimit.window_now()
    with db.session_scope() as session:
        session.add_all([RateLimit(key="post:10.0.0.1", window=window - 1440, count=3),  # a day ago, never back
                         RateLimit(key="post:10.0.0.2", window=window - 1, count=9),
                         RateLimit(key="post:10.0.0.2", window=window, count=2),
                         RateLimit(key="post:10.0.0.3", window=window, count=1)])
    outcome = run("purge", settings, datetime.fromtimestamp(clock, UTC))
    assert outcome.detail["rate_limit_windows"] == 2
    with db.session_scope() as session:
        kept = session.execute(select(RateLimit.key, RateLimit.window).order_by(RateLimit.key)).all()
    assert [tuple(row) for row in kept] == [("post:10.0.0.2", window), ("post:10.0.0.3", window)]


def test_daily_stats_upsert_is_idempotent(settings):
    yesterday = utcnow() - timedelta(days=1)
    for _ in range(3):
        comment_id = seed.comment(status=Status.PUBLISHED)
        age(comment_id, created_at=yesterday)
    run("daily_stats", settings)
    run("daily_stats", settings)
    with db.session_scope() as session:
        rows = session.scalars(select(DailyStats).order_by(DailyStats.day)).all()
        assert len(rows) == 2
        assert rows[-1].day == yesterday.date() and rows[-1].posted == 3 and rows[-1].published == 3


def test_day_boundaries_do_not_depend_on_the_process_time_zone(stack, settings):
    # A comment at 23:30 UTC belongs to that UTC day whatever TZ the worker runs in.
    late = datetime.now(UTC).replace(hour=23, minute=30, second=0, microsecond=0) - timedelta(days=1)
    comment_id = seed.comment(status=Status.PUBLISHED)
    age(comment_id, created_at=late)
    code = ("from datetime import date; from core.storage import db; from core.scheduling import maintenance; "
            f"db.configure({stack.database_url!r});\n"
            "with db.session_scope() as s: maintenance.store_daily_stats(s, date.fromisoformat("
            f"{late.date().isoformat()!r}), date.fromisoformat({(late.date() + timedelta(days=1)).isoformat()!r}))")
    for tz in ("Pacific/Kiritimati", "America/Los_Angeles"):
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env={**os.environ, "TZ": tz}, timeout=60)
        with db.session_scope() as session:
            rows = {r.day: r.posted for r in session.scalars(select(DailyStats))}
        assert rows == {late.date(): 1, late.date() + timedelta(days=1): 0}, tz


def test_ledger_runs_each_slot_once(settings):
    slot = datetime(2026, 1, 1, 3, 30, tzinfo=UTC)
    assert maintenance.run("daily_stats", slot, settings) is not None
    assert maintenance.run("daily_stats", slot, settings) is None
    assert maintenance.run("daily_stats", slot + timedelta(days=1), settings) is not None
    with db.session_scope() as session:
        runs = session.scalars(select(JobRun).order_by(JobRun.slot)).all()
        assert [(r.job, r.status) for r in runs] == [("daily_stats", "done")] * 2


def test_slots_are_aligned_and_cron_is_utc(settings):
    specs = schedule.job_specs(settings)
    now = datetime(2026, 11, 27, 22, 54, 37, tzinfo=UTC)
    assert specs["redispatch"].latest_slot(now) == datetime(2026, 11, 27, 22, 54, tzinfo=UTC)
    assert specs["purge"].latest_slot(now) == datetime(2026, 11, 27, 3, 30, tzinfo=UTC)
    assert specs["purge"].next_slot(now) == datetime(2026, 11, 28, 3, 30, tzinfo=UTC)
    assert specs["daily_stats"].latest_slot(datetime(2026, 11, 28, 0, 10, tzinfo=UTC)) == \
        datetime(2026, 11, 27, 0, 15, tzinfo=UTC)


def test_lease_has_one_holder_until_it_expires(settings):
    with db.session_scope() as session:
        assert schedule.acquire_lease(session, "a", 30)
        assert not schedule.acquire_lease(session, "b", 30)
        assert schedule.acquire_lease(session, "a", 30)
        schedule.release_lease(session, "a")
        assert schedule.acquire_lease(session, "b", 30)
        assert not schedule.acquire_lease(session, "a", 30)
