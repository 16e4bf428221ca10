"""Messages are checked: envelopes when decoded, ids when an actor starts; a bad one is dead-lettered, not retried."""

from __future__ import annotations

import time
from typing import Any

from dramatiq.encoder import JSONEncoder

from core.errors import ValidationError
from core.storage.models import MAX_ID

#: Latest accepted ``eta``: our longest retry backoff is minutes; a message held for longer is not ours.
MAX_ETA_AHEAD_MS = 24 * 3600 * 1000
_FIELDS = {"queue_name": str, "actor_name": str, "message_id": str, "args": list, "kwargs": dict, "options": dict}


class CheckedJSONEncoder(JSONEncoder):
    """Dramatiq's JSON encoder, refusing envelopes whose fields have the wrong types."""

    # Dramatiq's consumer thread reads ``options`` and ``actor_name`` before any middleware runs; a message
    # with "options": 5 or a list as actor name made it crash, reconnect and get the same message again,
    # forever, with the whole queue stuck behind it. Raising here turns it into a DecodeError, which Dramatiq
    # answers by moving the message to the dead-letter queue.

    def decode(self, data: bytes) -> Any:
        """Decode *data* and check the envelope; raise ValueError when it is malformed."""
        fields = super().decode(data)
        if not isinstance(fields, dict):
            raise ValueError("a message must be a JSON object")
        for name, kind in _FIELDS.items():
            if not isinstance(fields.get(name), kind):
                raise ValueError(f"message field {name!r} must be a {kind.__name__}")
        eta = fields["options"].get("eta")
        if eta is not None and (isinstance(eta, bool) or not isinstance(eta, int | float)
                                or eta > time.time() * 1000 + MAX_ETA_AHEAD_MS):
            # Held unacknowledged until then, it would be requeued every consumer_timeout (30 min) for days.
            raise ValueError("message eta is not a time within the next day")
        return fields


#: Most ids one message may carry (a check batch is at most a worker's threads).
MAX_IDS = 100


def require_ids(value: object) -> list[int]:
    """Return *value* as a non-empty list of at most MAX_IDS comment ids, or raise ValidationError."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_IDS:
        raise ValidationError(f"not a list of 1 to {MAX_IDS} comment ids: {str(value)[:80]}")
    return [require_id(item) for item in value]


def require_id(value: object) -> int:
    """Return *value* as a comment id, or raise ValidationError (dead-lettered, never retried)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ValidationError(f"not a comment id: {value!r}")
    return value
