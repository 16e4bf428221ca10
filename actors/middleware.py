"""Worker middleware: ids on every log line of a message; redelivered messages run one at a time."""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from core.logs import log_context


class LogContext(Middleware):
    """Sets ``core.logs.log_context`` around each message, so JSON and text logs carry its ids."""

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        """Describe the message about to run."""
        context: dict[str, Any] = {"message_id": message.message_id, "actor": message.actor_name,
                                   "queue": message.queue_name}
        if message.actor_name in ("check_profanity", "translate_comment") and message.args:
            context["comment_id"] = message.args[0]
        log_context.set(context)

    def after_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message, *,
                              result: Any = None, exception: BaseException | None = None) -> None:
        """Forget it once done."""
        log_context.set({})

    after_skip_message = after_process_message


_lane_local = threading.local()


def in_redelivery_lane() -> bool:
    """Return True while the calling worker thread runs a redelivered message (alone in its lane)."""
    return getattr(_lane_local, "active", False)


class RedeliveryLane(Middleware):
    """Runs messages that RabbitMQ redelivered (their worker died, or its connection did) one at a time."""

    # A message that kills the worker process (OOM, segfault) takes every message running beside it down
    # too, and all of them come back together, again and again. Actors count attempts in the database
    # before working, so without this lane the innocent neighbours of a poison message would run out of
    # attempts with it; alone in the lane, only the poison dies from then on.

    def __init__(self) -> None:
        """Start with the lane free."""
        self._lane = threading.Lock()

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        """Wait for the lane when *message* is a redelivery."""
        if getattr(message, "redelivered", False):
            self._lane.acquire()
            _lane_local.active = True

    def after_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message, *,
                              result: Any = None, exception: BaseException | None = None) -> None:
        """Leave the lane, whatever the outcome."""
        if in_redelivery_lane():
            _lane_local.active = False
            self._lane.release()

    after_skip_message = after_process_message
