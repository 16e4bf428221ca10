"""The offensive-language model's stage, in batches: claim the comments awaiting it, score them in one model call,
then publish them, hold them, or take them down.

A comment awaits the model once its check passed it and set ``checked_at`` (see checking.Checked.classify):
under ``before_publish`` it is still pending, under ``after_publish`` already published. What to do with it
follows from its status when claimed, not from the policy now, so a comment checked under one policy and
classified after a switch to the other still reaches a final state. A moderator's decision and a newer version
win over a score: every write is guarded by both.

On PostgreSQL the comments a batch passes (most of them) are stored in one statement with their webhook rows and
pending translations; a comment taken down or held is stored on its own (rare).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ColumnElement, Select, Update, any_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from core.comments import reading
from core.config import Settings
from core.moderation import audit, recording
from core.notifications import outbox
from core.signals import model
from core.storage import db
from core.storage.models import Comment, Status, TranslationStatus, utcnow
from core.storage.prepared import Prepared

logger = logging.getLogger(__name__)

_comments = Comment.__table__
#: The reason a comment held by the model carries (moderator view ``flag_reasons``).
REASON = "model"
#: What a comment awaiting the model looks like: checked and passed, not classified, held or decided.
_AWAITING = (
    _comments.c.checked_at.is_not(None), _comments.c.classified_at.is_(None), _comments.c.decision.is_(None),
    _comments.c.held.is_(False), or_(_comments.c.status == Status.PENDING, _comments.c.status == Status.PUBLISHED),
)


# As the check's claim: attempts counted before the work in a statement committed on its own (a batch that
# kills the worker still runs out of attempts), and a delivery within *busy_since* of the last attempt of a
# comment out of attempts is a duplicate of one that may still run.
def _claim(ids: ColumnElement[bool]) -> Update:
    """The claim of the comments *ids* names: one statement for both databases, but for how ids are passed."""
    return (
        update(_comments)
        .where(
            ids, *_AWAITING,
            ~((_comments.c.classify_attempts >= bindparam("max_attempts"))
              & (_comments.c.updated_at > bindparam("busy_since"))),
        )
        .values(classify_attempts=_comments.c.classify_attempts + 1, updated_at=bindparam("now"))
        .returning(_comments.c.id, _comments.c.body, _comments.c.lang, _comments.c.status, _comments.c.version,
                   _comments.c.classify_attempts, _comments.c.signals, _comments.c.flag_reasons)
    )


_CLAIM = _claim(_comments.c.id.in_(bindparam("ids", expanding=True)))
#: The same claim on PostgreSQL, prepared: one array parameter, so one plan whatever the batch size.
_CLAIM_PG = Prepared.of(
    "parley_claim_classifications", _claim(_comments.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
)


@dataclass(frozen=True)
class Claimed:
    """One comment this call claimed, as the claim found it."""

    id: int
    body: str
    lang: str | None
    status: str
    version: int
    attempts: int
    signals: dict[str, Any] | None
    flag_reasons: list[str] | None


@dataclass(frozen=True)
class Classified:
    """The outcome of one comment's model stage: its status, the languages to translate it into now, and the
    outbox rows written with it (all to send after the commit)."""

    status: str
    langs: list[str]
    notifications: list[int] = field(default_factory=list, compare=False)


def classify_comments(
    comment_ids: Sequence[int], settings: Settings, busy_for: timedelta = timedelta(0)
) -> dict[int, Classified | Exception]:
    """Run the model stage on comments *comment_ids*; return the outcome (or the error) of each one claimed."""
    now = utcnow()
    max_attempts = settings.check_max_attempts
    params = {"ids": sorted(set(comment_ids)), "max_attempts": max_attempts, "busy_since": now - busy_for,
              "now": now}
    with db.autocommit() as connection:
        if db.is_postgresql():
            rows = _CLAIM_PG.execute(connection, params).all()
        else:
            rows = connection.execute(_CLAIM, params).all()
    claimed = [Claimed(*row) for row in rows]
    if not claimed:
        return {}
    outcomes: dict[int, Classified | Exception] = {}
    spent = [c for c in claimed if c.attempts > max_attempts]
    fresh = [c for c in claimed if c.attempts <= max_attempts]
    scored = {c.id: c for c in fresh if settings.offensive_model and model.applies(c.lang)}
    scores = _score(list(scored.values()), outcomes)
    batch = db.is_postgresql()
    passed: list[tuple[Claimed, float | None, str | None]] = []  # stored together on PostgreSQL
    with db.session_scope() as session:
        for comment in spent:
            reason = f"offensive-language model failed {comment.attempts - 1} times"
            notes = hold_for_review(session, comment, reason)
            if notes is not None:
                outcomes[comment.id] = Classified(Status.FLAGGED, [], notes)
        for comment in fresh:
            if comment.id in outcomes:  # the model failed on this comment alone: its message is retried
                continue
            score = scores.get(comment.id)
            skipped = None if comment.id in scored else _skip_reason(comment, settings)
            if batch and not _offensive(score, settings.model_threshold):
                passed.append((comment, score, skipped))
                continue
            outcome = _record(session, comment, score, skipped, settings.model_threshold, now)
            if outcome is not None:
                outcomes[comment.id] = outcome
        if passed:
            outcomes.update(_publish_pg(session, passed, now))
        outbox.forget(session)  # the ids go back with the outcomes
        pending = {c.id for c in claimed if c.status == Status.PENDING}
        published = [i for i, outcome in outcomes.items()
                     if i in pending and getattr(outcome, "status", None) == Status.PUBLISHED]
        if settings.mail_enabled and published:
            # The reply mails of the comments this batch made visible, in the transaction that published them.
            for comment_id, mails in recording.reply_mails(session, published, settings).items():
                outcomes[comment_id].notifications.extend(mails)  # type: ignore[union-attr]
    return outcomes


def stuck(cutoff: datetime) -> Select[Any]:
    """Select the comments awaiting the model since before *cutoff* (the re-dispatch sends them again).

    Under ``after_publish`` a published comment awaits the model when its check said so (``awaits_model``), or,
    checked before that mark existed, once a delivery was claimed (``classify_attempts``); one that skipped the
    model (a trusted author, the model off) awaits nothing.
    """
    return (
        select(*(_comments.c[name] for name in ("id", "body", "lang", "status", "version", "classify_attempts",
                                                 "signals", "flag_reasons", "redispatches")))
        .where(*_AWAITING, _comments.c.updated_at < cutoff,
               func.coalesce(_comments.c.redispatched_at, _comments.c.checked_at) < cutoff,
               (_comments.c.status == Status.PENDING) | _comments.c.awaits_model | (_comments.c.classify_attempts > 0))
        .order_by(_comments.c.id).limit(1000)
    )


def _score(comments: list[Claimed], outcomes: dict[int, Classified | Exception]) -> dict[int, float]:
    """Score *comments* in one model call; if it fails, one at a time, so one bad text fails only its message."""
    if not comments:
        return {}
    try:
        return dict(zip([c.id for c in comments], model.scores([c.body for c in comments]), strict=True))
    except Exception:  # not handled: isolated below, each comment's own error raised in its own message
        logger.warning("Scoring a batch of %d comments failed; scoring them one at a time.", len(comments),
                       exc_info=True)
    scores: dict[int, float] = {}
    for comment in comments:
        try:
            scores[comment.id] = model.scores([comment.body])[0]
        except Exception as exc:  # not handled: raised in this comment's own message, retried with backoff
            outcomes[comment.id] = exc
    return scores


def _skip_reason(comment: Claimed, settings: Settings) -> str:
    """Say why *comment* passes the stage unscored (the ``model_skipped`` signal)."""
    if not settings.offensive_model:
        return "the model is off (OFFENSIVE_MODEL=off)"
    return f"the model is English-only; the comment is in {comment.lang}"


def _guard(comment: Claimed) -> tuple[ColumnElement[bool], ...]:
    """The guard of every write about *comment*: the version and status claimed, still awaiting the model."""
    return (Comment.id == comment.id, Comment.version == comment.version, Comment.status == comment.status,
            *_AWAITING)


def _offensive(score: float | None, threshold: float) -> bool:
    """Tell whether *score* takes a comment down (or holds it): at or above *threshold*."""
    return score is not None and score >= threshold


def _signals(comment: Claimed, score: float | None, skipped: str | None) -> dict[str, Any]:
    """Return *comment*'s signals with the model's: its rounded score, or why it was skipped."""
    signals = {**(comment.signals or {}), "model": None if score is None else round(score, 4)}
    if skipped:
        signals["model_skipped"] = skipped
    return signals


def _record(session: Session, comment: Claimed, score: float | None, skipped: str | None, threshold: float,
            now: datetime) -> Classified | None:
    """Store *comment*'s score and what it leads to; None when a decision or an edit came first."""
    offensive = _offensive(score, threshold)
    values: dict[str, Any] = {"model_score": score, "classified_at": now, "signals": _signals(comment, score, skipped),
                              "updated_at": now}
    if offensive:
        values.update(status=Status.FLAGGED, held=True, flagged_at=now,
                      flag_reasons=[*(comment.flag_reasons or []), REASON])
    elif comment.status == Status.PENDING:
        values.update(status=Status.PUBLISHED)
    applied = session.execute(update(Comment).where(*_guard(comment)).values(**values)
                              .execution_options(synchronize_session=False)).rowcount
    if not applied:
        return None
    if offensive:
        # A takedown when the comment was published (after_publish): the flagged event tells subscribers.
        audit.record(session, kind="system", action="flagged", actor=audit.SYSTEM, comment_id=comment.id,
                     detail={"reasons": [REASON], "model_score": round(score, 4), "threshold": threshold,  # type: ignore[arg-type]
                             "takedown": comment.status == Status.PUBLISHED},
                     dedupe_key=audit.version_key("flagged", comment.id, comment.version))
        return Classified(Status.FLAGGED, [], outbox.record_event(session, outbox.FLAGGED, comment.id))
    if comment.status == Status.PENDING:
        notes = outbox.record_event(session, outbox.PUBLISHED, comment.id)
        # Held back by the check until this stage passed the comment (before_publish): released now.
        return Classified(Status.PUBLISHED, sorted(reading.pending_translations(session, comment.id)), notes)
    return Classified(Status.PUBLISHED, [])


# The comments of a batch the model passed, in one statement: _record's update (and _guard's guard, per comment),
# the PUBLISHED webhook rows of those it released (pending until now) and their pending translations. A comment
# a decision, an edit or another write reached first is not in the answer: no outcome, as _record's None.
_PUBLISH_PG = Prepared("parley_publish_classified", (
    "WITH v AS ("
    " SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:versions AS integer[]), CAST(:statuses AS varchar[]),"
    "                      CAST(:scores AS double precision[]), CAST(:signals AS text[]))"
    "   AS v(id, version, status, score, signals)"
    "), rec AS ("
    " UPDATE comments c SET status = :published, model_score = v.score, classified_at = :now, updated_at = :now,"
    "   signals = CAST(v.signals AS JSON)"
    # ANY(:ids) bounds the rows the planner joins even with stale statistics (as recording._RECORD_PG).
    " FROM v WHERE c.id = ANY(CAST(:ids AS bigint[])) AND c.id = v.id AND c.version = v.version"
    "   AND c.status = v.status AND c.status IN (:pending, :published) AND c.checked_at IS NOT NULL"
    "   AND c.classified_at IS NULL AND c.decision IS NULL AND c.held = false"
    " RETURNING c.id, v.status = :pending AS released"
    "), ev AS (SELECT rec.id, CAST(:event AS varchar) AS event FROM rec WHERE rec.released"
    "), ob AS (" + outbox.WEBHOOK_ROWS_SQL +
    ") SELECT rec.id, rec.released,"
    "        (SELECT string_agg(t.lang, ',') FILTER (WHERE t.status = :t_pending)"  # FILTER: see recording
    "           FROM translations t WHERE rec.released AND t.comment_id = rec.id),"
    "        (SELECT string_agg(CAST(ob.id AS text), ',') FROM ob WHERE ob.comment_id = rec.id) FROM rec"
), {"ids": "bigint[]", "versions": "integer[]", "statuses": "varchar[]", "scores": "double precision[]",
    "signals": "text[]", "now": "timestamptz", "pending": "varchar", "published": "varchar", "event": "varchar",
    "t_pending": "varchar", **outbox.WEBHOOK_ROWS_TYPES},
    {"pending": Status.PENDING, "published": Status.PUBLISHED, "event": outbox.PUBLISHED,
     "t_pending": TranslationStatus.PENDING, **outbox.WEBHOOK_ROWS_CONSTANTS})


def _publish_pg(session: Session, passed: list[tuple[Claimed, float | None, str | None]],
                now: datetime) -> dict[int, Classified]:
    """Store the comments of *passed* (comment, score, why skipped) in one statement in *session*'s transaction."""
    rows = _PUBLISH_PG.execute(session.connection(), {
        "ids": [c.id for c, _, _ in passed], "versions": [c.version for c, _, _ in passed],
        "statuses": [c.status for c, _, _ in passed], "scores": [score for _, score, _ in passed],
        "signals": [json.dumps(_signals(c, score, skipped)) for c, score, skipped in passed], "now": now,
    }).all()
    return {comment_id: Classified(Status.PUBLISHED, sorted(langs.split(",")) if langs else [],
                                   sorted(int(i) for i in notes.split(",")) if notes else [])
            if released else Classified(Status.PUBLISHED, [])
            for comment_id, released, langs, notes in rows}


def hold_for_review(session: Session, comment: Claimed, reason: str) -> list[int] | None:
    """Hold *comment*, whose model stage cannot finish, for a moderator to decide instead of a retry loop."""
    now = utcnow()
    signals = {**(comment.signals or {}), "model": None, "model_skipped": reason}
    held = session.execute(
        update(Comment).where(*_guard(comment))
        .values(status=Status.FLAGGED, held=True, check_error=reason, classified_at=now, flagged_at=now,
                updated_at=now, signals=signals, flag_reasons=[*(comment.flag_reasons or []), REASON])
        .execution_options(synchronize_session=False)
    ).rowcount
    if held:
        logger.warning("Comment %d held for review: %s", comment.id, reason)
        audit.record(session, kind="system", action="held", actor=audit.SYSTEM, comment_id=comment.id,
                     reason=reason, dedupe_key=audit.version_key("held", comment.id, comment.version))
        return outbox.record_event(session, outbox.FLAGGED, comment.id)
    return None
