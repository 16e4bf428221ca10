"""Logging setup shared by every process; user text never breaks a log line."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from typing import Any

from core.config import Settings

#: Ids describing the work in progress on this thread (message id, actor, comment id); set by the worker.
log_context: ContextVar[dict[str, Any]] = ContextVar("log_context", default={})  # noqa: B039 (never mutated)


class ContextFilter(logging.Filter):
    """Copy the ids of the work in progress onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the context; never drops a record."""
        for key, value in log_context.get().items():
            setattr(record, key, value)
        record.context = "".join(f" {k}={v}" for k, v in log_context.get().items())
        return True


class OneLineFormatter(logging.Formatter):
    """Plain text formatter that escapes newlines and control characters in the whole record."""

    def format(self, record: logging.LogRecord) -> str:
        """Format *record* on a single line."""
        text = super().format(record)
        return text.encode("unicode_escape", "backslashreplace").decode("ascii") if not text.isprintable() else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the ids actors attach through ``extra``."""

    FIELDS = ("comment_id", "message_id", "actor", "queue", "job")

    def format(self, record: logging.LogRecord) -> str:
        """Format *record* as a JSON line."""
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "process": record.process,
            "thread": record.threadName,
        }
        entry.update({key: getattr(record, key) for key in self.FIELDS if hasattr(record, key)})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True, default=str)


def configure_logging(settings: Settings) -> None:
    """Install Parley's log format on the root logger (idempotent)."""
    import time

    if settings.log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = OneLineFormatter("%(asctime)s %(levelname)s %(process)d %(name)s:%(context)s %(message)s")
    formatter.converter = time.gmtime
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    # Keep the handlers a host already installed (Dramatiq's worker pipe, gunicorn's error log)
    # and only give them Parley's format, so no line is written twice.
    for handler in root.handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
    root.setLevel(settings.log_level)
    logging.getLogger("pika").setLevel(logging.WARNING)
    # Each failed connection attempt logs a traceback from three modules; the caller's own
    # warning ("could not enqueue …", Dramatiq's "consumer encountered a connection error") says it once.
    for noisy in ("pika.adapters.utils.connection_workflow", "pika.adapters.utils.io_services_utils",
                  "pika.adapters.blocking_connection"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
