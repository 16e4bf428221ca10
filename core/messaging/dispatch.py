"""Send actor messages by name with a hard deadline, so a request never waits on a sick broker."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import dramatiq

from core.config import Settings
from core.messaging.broker import (
    CHECK_PROFANITY,
    MAINTENANCE_QUEUE,
    MODERATION_QUEUE,
    RUN_MAINTENANCE,
    RUN_TASK,
    TRANSLATE_COMMENT,
    TRANSLATION_QUEUE,
    build_broker,
)

logger = logging.getLogger(__name__)


class Dispatcher:
    """Publishes messages from a small thread pool and gives up waiting after ``timeout`` seconds."""

    def __init__(self, broker: dramatiq.Broker, timeout: float, threads: int = 4) -> None:
        self.broker = broker
        self.timeout = timeout
        # pika connections are per thread; a pool keeps a stuck publish from pinning request threads.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="parley-publish")

    def send(self, queue: str, actor: str, *args: object) -> bool:
        """Enqueue ``actor(*args)`` on *queue*; return True once the broker confirmed it in time."""
        message = dramatiq.Message(queue_name=queue, actor_name=actor, args=args, kwargs={}, options={})
        future = self._pool.submit(self.broker.enqueue, message)
        try:
            future.result(timeout=self.timeout)
        except FutureTimeout:
            future.cancel()
            logger.warning("Publishing %s%r timed out after %.1f s; left for re-dispatch.", actor, args, self.timeout)
            return False
        except (dramatiq.errors.DramatiqError, OSError) as exc:
            logger.warning("Publishing %s%r failed (%s); left for re-dispatch.", actor, args, exc)
            return False
        return True

    def send_check(self, comment_id: int) -> bool:
        """Ask the workers to check comment *comment_id*."""
        return self.send(MODERATION_QUEUE, CHECK_PROFANITY, comment_id)

    def send_translation(self, comment_id: int, lang: str) -> bool:
        """Ask the workers to translate comment *comment_id* into *lang*."""
        return self.send(TRANSLATION_QUEUE, TRANSLATE_COMMENT, comment_id, lang)

    def send_maintenance_now(self, job: str) -> str | None:
        """Enqueue scheduler job *job* for a manual slot of now; return the slot, or None if not sent."""
        from core.storage.models import utcnow

        slot = utcnow().isoformat()
        return slot if self.send(MAINTENANCE_QUEUE, RUN_MAINTENANCE, job, slot, True) else None

    def send_task(self, task_id: int) -> bool:
        """Ask a worker to run moderators' background task *task_id*."""
        return self.send(MAINTENANCE_QUEUE, RUN_TASK, task_id)

    def close(self) -> None:
        """Stop the publishing threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)


_lock = threading.Lock()
_dispatchers: dict[tuple[str, float], Dispatcher] = {}


def get_dispatcher(settings: Settings) -> Dispatcher:
    """Return this process's dispatcher for *settings* (created on first use, after any fork)."""
    key = (settings.broker_url, settings.publish_timeout_seconds)
    with _lock:
        if key not in _dispatchers:
            broker = build_broker(settings, role="web")
            _dispatchers[key] = Dispatcher(broker, settings.publish_timeout_seconds)
        return _dispatchers[key]
