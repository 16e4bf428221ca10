"""Dramatiq actors; ``dramatiq actors`` runs them all. The broker module must be imported first."""

from actors import broker  # noqa: F401  isort: skip  (must run before any @dramatiq.actor)
from actors.classification import classify_comment
from actors.maintenance import run_maintenance, run_task
from actors.moderation import check_profanity
from actors.notifications import deliver_notification
from actors.translation import translate_comment

__all__ = [
    "check_profanity", "classify_comment", "deliver_notification", "run_task", "run_maintenance", "translate_comment",
]
