"""The scheduler daemon: a clock that only sends maintenance messages; the work runs in a worker.

    python scheduler.py                  run the daemon (active, or standby while another is active)
    python scheduler.py list             print each job with its last outcome and next run
    python scheduler.py trigger JOB      enqueue JOB now (--dry-run for purge: only count)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings
from core.logs import configure_logging
from core.messaging.dispatch import get_dispatcher
from core.scheduling import maintenance, overview, schedule
from core.storage import db
from core.storage.db import session_scope
from core.storage.models import utcnow

logger = logging.getLogger("parley.scheduler")

#: Settings of the scheduler process, read once; the process sends through its own broker ("scheduler" role).
settings = Settings.from_env()


class Daemon:
    """Fires the jobs while it holds the lease; a standby only renews its claim."""

    def __init__(self) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.specs = schedule.job_specs(settings)
        self.active = False
        self.stopping = False
        self.last_tick = time.monotonic()
        self.scheduler = BlockingScheduler(
            timezone="UTC",
            # Never drop a late run (the default grace is 1 s); coalesce a backlog into one run.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def send(self, job: str, slot: datetime, manual: bool = False) -> bool:
        """Enqueue (job, slot); a broker outage is logged, and the catch-up sends it later."""
        if not get_dispatcher(settings, role="scheduler").send_maintenance(job, slot.isoformat(), manual):
            logger.warning("Could not enqueue %s for %s; will retry.", job, slot.isoformat())
            return False
        logger.info("Enqueued %s for slot %s.", job, slot.isoformat(), extra={"job": job})
        return True

    def renew_lease(self) -> None:
        """Take or keep the active role; a database outage makes this process step down."""
        self.last_tick = time.monotonic()
        try:
            with session_scope() as session:
                active = schedule.acquire_lease(session, self.holder, settings.scheduler_lease_seconds)
        except SQLAlchemyError as exc:
            logger.warning("Lease check failed (%s); standing by.", str(exc).splitlines()[0][:200])
            active = False
        if active and not self.active:
            logger.info("Active scheduler is now %s.", self.holder)
            self.active = True
            self.catch_up(grace=timedelta(0))
        elif not active and self.active:
            logger.warning("Lost the scheduler lease; standing by.")
        self.active = active

    def fire(self, job: str) -> None:
        """Send the slot that just came due (only while active)."""
        if self.active:
            self.send(job, self.specs[job].latest_slot(utcnow()))

    def catch_up(self, grace: timedelta = timedelta(seconds=60)) -> None:
        """Send each job's latest slot that is missing from the ledger: once, never a backlog."""
        if not self.active:
            return
        now = utcnow()
        try:
            with session_scope() as session:
                slots = {name: spec.latest_slot(now) for name, spec in self.specs.items()}
                missing = [(name, slot) for name, slot in slots.items() if not schedule.has_run(session, name, slot)]
        except SQLAlchemyError as exc:
            logger.warning("Catch-up skipped: %s", str(exc).splitlines()[0][:200])
            return
        for job, slot in missing:
            if slot <= now - grace:
                logger.info("Catching up %s for missed slot %s.", job, slot.isoformat())
                self.send(job, slot)

    def health(self) -> tuple[int, dict[str, object]]:
        """Return the liveness answer: 200 while the clock ticks, 503 once it stalled."""
        age = time.monotonic() - self.last_tick
        alive = age < 3 * max(1, settings.scheduler_lease_seconds // 3) + 5
        body = {"status": "ok" if alive else "stalled", "active": self.active, "holder": self.holder,
                "last_tick_seconds_ago": round(age, 1)}
        return (200 if alive else 503), body

    def serve_health(self, port: int, host: str = "127.0.0.1") -> None:
        """Answer ``GET /healthz`` on *host*:*port* from a daemon thread (loopback unless configured)."""
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                status, body = daemon.health() if self.path == "/healthz" else (404, {"error": "not found"})
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: object) -> None:
                pass  # probes every few seconds would drown the log

        server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
        logger.info("Liveness on http://%s:%d/healthz", host, port)

    def release(self) -> None:
        """Hand the lease over at once on a clean stop."""
        try:
            with session_scope() as session:
                schedule.release_lease(session, self.holder)
        except SQLAlchemyError:
            pass  # it expires by itself

    def on_signal(self, signum: int, _frame: object) -> None:
        """Stop on SIGTERM: leave at once before the loop runs, else wake the loop to stop it."""
        if self.stopping:
            return  # a repeated signal: the stop is under way
        self.stopping = True
        logger.info("Received signal %d, stopping.", signum)
        if not self.scheduler.running:
            # Before start() (or after it returned): there is no loop to wake, so leave like Ctrl-C.
            raise KeyboardInterrupt
        # Not from this handler: it runs in the main thread, maybe inside the scheduler's submit, which holds
        # the pool's non-reentrant lock that shutdown() takes too (a stop that hung until SIGKILL in CI).
        threading.Thread(target=self.shutdown_scheduler, name="stop", daemon=True).start()

    def shutdown_scheduler(self) -> None:
        """Stop the scheduler's loop without waiting for running jobs (called off the signal handler)."""
        try:
            self.scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass  # it stopped by itself meanwhile

    def run(self) -> int:
        """Run until SIGTERM or Ctrl-C."""
        lease_every = max(1, settings.scheduler_lease_seconds // 3)
        self.scheduler.add_job(self.renew_lease, "interval", seconds=lease_every, id="lease",
                               next_run_time=utcnow())
        self.scheduler.add_job(self.catch_up, "interval", seconds=settings.catchup_interval_seconds, id="catchup")
        for name, spec in self.specs.items():
            self.scheduler.add_job(self.fire, spec.trigger, args=[name], id=name)

        if settings.scheduler_health_port:
            self.serve_health(settings.scheduler_health_port, settings.scheduler_health_host)
        try:
            signal.signal(signal.SIGTERM, self.on_signal)
            logger.info("Scheduler %s started: %s.", self.holder,
                        ", ".join(f"{s.name} ({s.schedule})" for s in self.specs.values()))
            self.scheduler.start()
        except KeyboardInterrupt:
            logger.info("Interrupted, stopping.")
        self.release()
        logger.info("Scheduler stopped.")
        return 0


def list_jobs() -> int:
    """Print each job with its last outcome and next run."""
    with session_scope() as session:
        view = overview.overview(session, settings)
    for job in view["jobs"]:
        run = job["last_run"]
        last = f"{run['status']} slot={run['slot']} finished={run['finished_at'] or '-'} {run['detail'] or ''}" \
            if run else "never run"
        sys.stdout.write(f"{job['job']:12} {job['schedule']:24} next={job['next_run'] or '-'}  last: {last}\n")
    sys.stdout.write(f"active scheduler: {view['active_scheduler'] or 'none'}\n")
    return 0


def trigger(job: str, dry_run: bool) -> int:
    """Enqueue *job* now (a manual slot), or print the purge count with --dry-run."""
    if dry_run:
        if job != "purge":
            sys.stderr.write("--dry-run is only available for purge\n")
            return 2
        with session_scope() as session:
            count = len(maintenance.purge_candidates(session, settings, utcnow()))
        sys.stdout.write(f"purge would delete {count} rejected comments older than "
                         f"{settings.retention_rejected_days} days\n")
        return 0
    if not get_dispatcher(settings, role="scheduler").send_maintenance_now(job):
        sys.stderr.write(f"could not enqueue {job}: the broker did not confirm it (see the log)\n")
        return 1
    sys.stdout.write(f"enqueued {job}\n")
    return 0


def main(argv: list[str]) -> int:
    """Parse the command line and run the daemon or a command."""
    configure_logging(settings)
    db.configure(settings.database_url, prepared=settings.database_prepared)
    parser = argparse.ArgumentParser(prog="scheduler.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("list", help="print jobs with their last outcome and next run")
    trig = sub.add_parser("trigger", help="enqueue one job now")
    trig.add_argument("job", choices=schedule.JOBS)
    trig.add_argument("--dry-run", action="store_true", help="purge only: print how many would be deleted")
    args = parser.parse_args(argv)
    if args.command == "list":
        return list_jobs()
    if args.command == "trigger":
        return trigger(args.job, args.dry_run)
    return Daemon().run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
