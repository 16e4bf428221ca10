"""`make run`: migrate, then run web, worker and scheduler in the foreground; Ctrl-C stops all."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import DEFAULT_BROKER_URL, Settings  # noqa: E402
from core.logs import configure_logging  # noqa: E402

logger = logging.getLogger("parley.run")
BIN = Path(sys.executable).parent


#: How long `make run` waits for the local RabbitMQ it started to accept connections.
BROKER_START_SECONDS = 90.0


def broker_problem(url: str) -> str | None:
    """Return why RabbitMQ at *url* cannot be reached, or None."""
    from webapp.health import check_broker

    result = check_broker(url, timeout=3)
    return None if result == "ok" else result


def start_local_broker() -> bool:
    """Install (apt-get, when missing) and start the local RabbitMQ with scripts/ensure_services.sh; True if it did."""
    result = subprocess.run(["bash", str(ROOT / "scripts" / "ensure_services.sh"), "rabbitmq"], check=False)
    return result.returncode == 0


def ensure_broker(url: str, wait_seconds: float = BROKER_START_SECONDS) -> str | None:
    """Return why RabbitMQ at *url* is unusable, or None; the default local one is started first if it is down."""
    # A BROKER_URL the user chose is never started for them: it is theirs, and the message says how.
    problem = broker_problem(url)
    if problem is None or url != DEFAULT_BROKER_URL:
        return problem
    logger.info("No RabbitMQ at the default %s (%s): starting the local one (installing it if needed).",
                url.split("@")[-1], problem)
    if not start_local_broker():
        return "could not be installed or started by scripts/ensure_services.sh"
    deadline = time.monotonic() + wait_seconds
    while (problem := broker_problem(url)) is not None and time.monotonic() < deadline:
        time.sleep(1)
    return problem


def main() -> int:
    """Start the three processes and wait; stop them all when one exits or on Ctrl-C."""
    os.chdir(ROOT)
    settings = Settings.from_env()
    configure_logging(settings)
    quiet = [logging.getLogger(name) for name in ("pika", "webapp.health")]  # the message below says it all
    for noisy in quiet:
        noisy.setLevel(logging.CRITICAL)
    problem = ensure_broker(settings.broker_url)
    for noisy in quiet:
        noisy.setLevel(logging.NOTSET if noisy.name == "webapp.health" else logging.WARNING)
    if problem:
        logger.error(
            "RabbitMQ is not reachable at %s (%s). Start one with `rabbitmq-server -detached` "
            "(Debian: apt-get install rabbitmq-server) or `docker compose up -d rabbitmq`, "
            "or point BROKER_URL at yours.",
            settings.broker_url.split("@")[-1], problem,
        )
        return 2
    subprocess.run([str(BIN / "alembic"), "upgrade", "head"], check=True)
    commands = {
        "web": [str(BIN / "gunicorn"), "--bind", "127.0.0.1:5000", "--workers", "2", "--threads", "4",
                "--access-logfile", "-", "--forwarded-allow-ips", "", "webapp:create_app()"],
        "worker": [str(BIN / "dramatiq"), "actors", "--processes", "2", "--threads", "4"],
        "scheduler": [sys.executable, "scheduler.py"],
    }
    # Own sessions: Ctrl-C reaches only this script, which then stops each child exactly once
    # (a second signal deadlocks gunicorn's gthread worker while it is already shutting down).
    children = {name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in commands.items()}
    stopping: list[int] = []
    # Explicit handlers: a shell starting us in the background may have left SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: stopping.append(number))
    logger.info("Parley is running on http://127.0.0.1:5000 (Ctrl-C stops everything).")
    while not stopping and all(child.poll() is None for child in children.values()):
        time.sleep(0.2)
    if stopping:
        logger.info("Stopping.")
    else:
        logger.error("A process exited: %s", {n: c.returncode for n, c in children.items() if c.poll() is not None})
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
