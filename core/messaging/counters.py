"""Counters the worker's actors increment, served with Dramatiq's own by the worker's metrics server.

prometheus_client decides at import whether values live in memory or in files shared by the worker's
processes (``PROMETHEUS_MULTIPROC_DIR``, which Dramatiq's Prometheus middleware sets at process boot). So it
is imported, and the counters created, at their first use inside a message, never when the actors are
imported: imported earlier, every worker process would count in memory the exposition server never reads.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import Counter

#: The outcomes of one delivery attempt of an outbox row (``core.notifications.webhooks.Result.status``).
OUTCOMES = ("sent", "retry", "failed", "skipped")

_lock = threading.Lock()
_sends: Counter | None = None


def _sends_counter() -> Counter:
    """Return the sends counter, creating it (once, whichever thread asks first) in the default registry."""
    global _sends
    with _lock:
        if _sends is None:
            from prometheus_client import Counter

            _sends = Counter("parley_notification_sends", "Delivery attempts of outbox rows by kind and outcome.",
                             ["kind", "outcome"])
        return _sends


def count_send(kind: str | None, outcome: str) -> None:
    """Count one delivery attempt of an outbox row of *kind* (mail, webhook) that ended with *outcome*."""
    _sends_counter().labels(kind or "unknown", outcome if outcome in OUTCOMES else "other").inc()
