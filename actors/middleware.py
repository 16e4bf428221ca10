"""Worker middleware: put the message id, actor and comment id on every log line of a message."""

from __future__ import annotations

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
