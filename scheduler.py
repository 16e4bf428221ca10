"""The scheduler daemon: a clock that only sends maintenance messages (see ``actors``)."""

from __future__ import annotations

import logging
import signal
import sys

from apscheduler.schedulers.blocking import BlockingScheduler

from core.config import Settings
from core.logs import configure_logging

logger = logging.getLogger("parley.scheduler")


def build_scheduler() -> BlockingScheduler:
    """Return the scheduler with its jobs (UTC, coalesced, one instance at a time)."""
    return BlockingScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    )


def main(argv: list[str]) -> int:
    """Run the daemon until SIGTERM or Ctrl-C."""
    settings = Settings.from_env()
    configure_logging(settings)
    scheduler = build_scheduler()

    def stop(signum: int, _frame: object) -> None:
        logger.info("Received signal %d, stopping.", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    logger.info("Scheduler started with %d jobs.", len(scheduler.get_jobs()))
    try:
        scheduler.start()
    except KeyboardInterrupt:
        logger.info("Interrupted, stopping.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
