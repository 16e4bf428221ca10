"""Moderators' decisions on comments the model scored, kept as labels a site can retrain its model with."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.comments.views import iso
from core.storage.db import dialect_insert
from core.storage.models import Action, Comment, utcnow
from core.storage.models_signals import Label

logger = logging.getLogger(__name__)

#: The CSV's label column: 1 = offensive (the moderator rejected it), 0 = fine (approved); as alt-profanity-check's
#: training data, whose positive class is the offensive one.
CSV_LABEL = {Action.REJECT: 1, Action.APPROVE: 0}
COLUMNS = ("text", "label", "model_score", "lang", "decided_at")
#: A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def record(session: Session, comment: Comment, action: str, moderator: str) -> bool:
    """Keep a decision on *comment* as a label when the model scored it; return whether a row was added.

    One label per comment version: a repeated decision (a retried request) adds nothing.
    """
    if comment.model_score is None or action not in CSV_LABEL:
        return False
    statement = dialect_insert(session)(Label).values(
        comment_id=comment.id, version=comment.version or 1, body=comment.body, lang=comment.lang,
        model_score=comment.model_score, label=action, moderator=moderator, decided_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["comment_id", "version"])
    added = session.execute(statement).rowcount == 1
    if added:
        logger.info("Label %s kept for comment %d (score %.3f)", action, comment.id, comment.model_score)
    return added


def rows(session: Session, since: datetime | None = None, batch: int = 1000) -> Iterator[Label]:
    """Yield the labels decided at or after *since*, oldest first, read in batches of *batch*."""
    last_id = 0
    while True:
        statement = select(Label).where(Label.id > last_id).order_by(Label.id).limit(batch)
        if since is not None:
            statement = statement.where(Label.decided_at >= since)
        page = list(session.scalars(statement))
        yield from page
        if len(page) < batch:
            return
        last_id = page[-1].id


def safe_cell(value: Any) -> Any:
    """Return *value* with a leading quote when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_row(label: Label, *, raw: bool = False) -> list[Any]:
    """Return one CSV row of *label* (text, label, model_score, lang, decided_at), formula-safe unless *raw*."""
    cells = [label.body, CSV_LABEL.get(label.label, ""), f"{label.model_score:.6f}", label.lang or "",
             iso(label.decided_at) or ""]
    return cells if raw else [safe_cell(cell) for cell in cells]
