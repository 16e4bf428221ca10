"""The one way Parley sends messages: by actor name, confirmed by the broker, failures left for re-dispatch.

The web, the workers and the scheduler all send through a Dispatcher. The web and the scheduler give it a
deadline, so a request or a clock tick never waits on a sick broker; a worker sends from its own thread.
A send that fails is logged and returns False: nothing is lost, the scheduler's re-dispatch sends it again.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import dramatiq

from core.config import Settings
from core.messaging.broker import (
    CHECK_PROFANITY,
    CLASSIFICATION_QUEUE,
    CLASSIFY_COMMENT,
    CLASSIFY_COMMENTS,
    DELIVER_NOTIFICATION,
    MAINTENANCE_QUEUE,
    MODERATION_QUEUE,
    NOTIFICATIONS_QUEUE,
    RUN_MAINTENANCE,
    RUN_TASK,
    TRANSLATE_COMMENT,
    TRANSLATION_QUEUE,
    build_broker,
)
from core.storage.models import utcnow

logger = logging.getLogger(__name__)


class Dispatcher:
    """Publishes messages on *broker*; with a *timeout*, from a small thread pool that stops waiting in time."""

    def __init__(self, broker: dramatiq.Broker, timeout: float | None, threads: int = 4) -> None:
        """Send on *broker*; *timeout* None sends from the caller's thread (workers: pika's own timeouts apply)."""
        self.broker = broker
        self.timeout = timeout
        # pika connections are per thread; a pool keeps a stuck publish from pinning request threads.
        self._pool = (ThreadPoolExecutor(max_workers=threads, thread_name_prefix="parley-publish")
                      if timeout is not None else None)

    def send(self, queue: str, actor: str, *args: object) -> bool:
        """Enqueue ``actor(*args)`` on *queue*; return True once the broker confirmed it in time."""
        message = dramatiq.Message(queue_name=queue, actor_name=actor, args=args, kwargs={}, options={})
        try:
            if self._pool is None:
                self.broker.enqueue(message)
            else:
                try:
                    future = self._pool.submit(self.broker.enqueue, message)
                except RuntimeError as exc:  # the process is exiting: its pool takes no new work
                    logger.warning("Publishing %s%r skipped (%s); left for re-dispatch.", actor, args, exc)
                    return False
                try:
                    future.result(timeout=self.timeout)
                except FutureTimeout:
                    future.cancel()
                    raise
        except FutureTimeout:
            logger.warning("Publishing %s%r timed out after %.1f s; left for re-dispatch.", actor, args, self.timeout)
            return False
        except (dramatiq.errors.DramatiqError, OSError) as exc:
            logger.warning("Publishing %s%r failed (%s); left for re-dispatch.", actor, args, exc)
            return False
        return True

    def send_check(self, comment_id: int) -> bool:
        """Ask the workers to check comment *comment_id*."""
        return self.send(MODERATION_QUEUE, CHECK_PROFANITY, comment_id)

    def send_classification(self, comment_id: int) -> bool:
        """Ask the ``classification`` workers to run the offensive-language model on comment *comment_id*."""
        return self.send(CLASSIFICATION_QUEUE, CLASSIFY_COMMENT, comment_id)

    def send_classifications(self, comment_ids: list[int]) -> bool:
        """Ask the ``classification`` workers to run the model on *comment_ids* together (one message)."""
        if len(comment_ids) == 1:
            return self.send_classification(comment_ids[0])
        return self.send(CLASSIFICATION_QUEUE, CLASSIFY_COMMENTS, list(comment_ids))

    def send_translation(self, comment_id: int, lang: str) -> bool:
        """Ask the workers to translate comment *comment_id* into *lang*."""
        return self.send(TRANSLATION_QUEUE, TRANSLATE_COMMENT, comment_id, lang)

    def send_maintenance(self, job: str, slot: str, manual: bool = False) -> bool:
        """Ask a worker to run scheduler job *job* for *slot* (an ISO time), once per slot."""
        return self.send(MAINTENANCE_QUEUE, RUN_MAINTENANCE, job, slot, manual)

    def send_maintenance_now(self, job: str) -> str | None:
        """Enqueue scheduler job *job* for a manual slot of now; return the slot, or None if not sent."""
        slot = utcnow().isoformat()
        return slot if self.send_maintenance(job, slot, manual=True) else None

    def send_task(self, task_id: int) -> bool:
        """Ask a worker to run moderators' background task *task_id*."""
        return self.send(MAINTENANCE_QUEUE, RUN_TASK, task_id)

    def send_notification(self, outbox_id: int) -> bool:
        """Ask the workers to send outbox row *outbox_id* (a mail or a webhook delivery)."""
        return self.send(NOTIFICATIONS_QUEUE, DELIVER_NOTIFICATION, outbox_id)

    def close(self) -> None:
        """Stop the publishing threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


_lock = threading.Lock()
_dispatchers: dict[tuple[str, float, str], Dispatcher] = {}


def get_dispatcher(settings: Settings, role: str = "web") -> Dispatcher:
    """Return this process's dispatcher for *settings* and *role* ("web" or "scheduler"), made on first use."""
    key = (settings.broker_url, settings.publish_timeout_seconds, role)
    with _lock:
        if key not in _dispatchers:
            broker = build_broker(settings, role=role)
            _dispatchers[key] = Dispatcher(broker, settings.publish_timeout_seconds)
        return _dispatchers[key]
