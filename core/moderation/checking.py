"""The profanity check of comments, in batches: on PostgreSQL two statements per batch, whatever its size."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ARRAY, BigInteger, ColumnElement, Update, any_, bindparam, select, update
from sqlalchemy.orm import Session

from core.comments import matches, reading
from core.config import Settings
from core.moderation import audit, wordlists
from core.notifications import outbox, replies
from core.storage import db
from core.storage.models import Comment, Status, TranslationStatus, utcnow
from core.storage.models_notifications import Outbox, OutboxKind, OutboxStatus
from core.storage.prepared import Prepared

if TYPE_CHECKING:  # heavy modules stay out of the web process
    from core.profanity.engine import Engine, Verdict

logger = logging.getLogger(__name__)

_comments = Comment.__table__
#: The guard of every write of the check: nobody has checked, held or decided the comment yet.
_UNDECIDED_PENDING = (
    _comments.c.checked_at.is_(None), _comments.c.status == Status.PENDING, _comments.c.decision.is_(None),
)

# Attempts are counted before the work, in a statement committed on its own, so a message that kills
# the worker (redelivered forever by RabbitMQ, see PITFALLS 1.2) still runs out of attempts. Once they
# are spent, a delivery within *busy_since* of the last attempt is a duplicate (redelivery, re-dispatch,
# re-sent publish) of an attempt that may still run: it does nothing rather than give up under it.
# The word-list version comes back with the claim, so a change applies to the very next check. So does the
# comment's own version: an author's edit between claim and record makes the record a no-op (its guard names
# the claimed version), and the new version's own check message does the work.
def _claim(ids: ColumnElement[bool]) -> Update:
    """The claim of the comments *ids* names: one statement for both databases, but for how ids are passed."""
    return (
        update(_comments)
        .where(
            ids,
            *_UNDECIDED_PENDING,
            ~((_comments.c.check_attempts >= bindparam("max_attempts"))
              & (_comments.c.updated_at > bindparam("busy_since"))),
        )
        .values(check_attempts=_comments.c.check_attempts + 1, updated_at=bindparam("now"))
        .returning(_comments.c.id, _comments.c.body, _comments.c.author, _comments.c.check_attempts,
                   _comments.c.version, wordlists.VERSION.scalar_subquery())
    )


_CLAIM = _claim(_comments.c.id.in_(bindparam("ids", expanding=True)))
#: The same claim on PostgreSQL, prepared: one array parameter, so one plan whatever the batch size.
_CLAIM_PG = Prepared.of(
    "parley_claim_checks", _claim(_comments.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
)

# PostgreSQL: every verdict of a batch, its "flagged" audit events and the pending translations in one
# statement (atomic, one round trip). SQLite has no data-modifying CTEs: it runs record_check per comment.
_RECORD_PG = Prepared("parley_record_checks", (
    "WITH v AS ("
    " SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS varchar[]), CAST(:censored AS text[]),"
    "                      CAST(:words AS text[]), CAST(:profane AS boolean[]), CAST(:details AS text[]),"
    "                      CAST(:versions AS integer[]))"
    "   AS v(id, status, censored, words, profane, detail, version)"
    "), rec AS ("
    " UPDATE comments c SET status = v.status, censored_body = v.censored, matched_words = CAST(v.words AS JSON),"
    "   checked_at = :now, flagged_at = CASE WHEN v.profane THEN CAST(:now AS timestamptz) END, updated_at = :now"
    # ANY(:ids) bounds the rows the planner joins even with stale statistics (docs/BENCHMARKS.md, fix 7).
    " FROM v WHERE c.id = ANY(CAST(:ids AS bigint[])) AND c.id = v.id"
    "   AND c.version = v.version AND c.checked_at IS NULL AND c.status = :pending AND c.decision IS NULL"
    " RETURNING c.id, v.profane, v.detail, v.version"
    "), audit AS ("
    " INSERT INTO audit_events (comment_id, kind, action, actor, reason, detail, dedupe_key, redacted, at)"
    # The key is audit.version_key()'s (':' and 'v' apart: a colon before a word would read as a parameter).
    " SELECT id, 'system', 'flagged', :system, NULL, CAST(detail AS JSON),"
    "        'flagged:' || id || CASE WHEN version = 1 THEN '' ELSE ':' || 'v' || version END, false, :now"
    " FROM rec WHERE profane ON CONFLICT (dedupe_key) DO NOTHING"
    # The webhook rows of each verdict (outbox.record_event's, atomic with it): one per enabled endpoint
    # subscribed to the event, the body built at the first attempt.
    "), ev AS (SELECT rec.id, CASE WHEN rec.profane THEN :flagged ELSE :published END AS event FROM rec"
    "), ob AS ("
    " INSERT INTO outbox (kind, event, comment_id, endpoint_id, payload, message_id, status, attempts, created_at)"
    " SELECT :webhook, ev.event, ev.id, e.id, CAST('{}' AS JSON), CAST(gen_random_uuid() AS text), :o_pending, 0, :now"
    " FROM ev JOIN webhook_endpoints e ON e.enabled AND CAST(e.events AS jsonb) @> jsonb_build_array(ev.event)"
    " RETURNING id, comment_id"
    ") SELECT rec.id, (SELECT string_agg(t.lang, ',' ORDER BY t.lang) FROM translations t"
    "                  WHERE t.comment_id = rec.id AND t.version = rec.version AND t.status = :t_pending),"
    "        (SELECT string_agg(CAST(ob.id AS text), ',') FROM ob WHERE ob.comment_id = rec.id) FROM rec"
), {"ids": "bigint[]", "statuses": "varchar[]", "censored": "text[]", "words": "text[]", "profane": "boolean[]",
    "details": "text[]", "versions": "integer[]", "now": "timestamptz", "pending": "varchar", "t_pending": "varchar",
    "system": "varchar", "flagged": "varchar", "published": "varchar", "webhook": "varchar", "o_pending": "varchar"},
    {"flagged": outbox.FLAGGED, "published": outbox.PUBLISHED, "webhook": OutboxKind.WEBHOOK,
     "o_pending": OutboxStatus.PENDING})



@dataclass(frozen=True)
class Found:
    """What the engine found in one comment: in its body and in its author name (both are public text)."""

    body: Verdict
    author: Verdict

    @property
    def profane(self) -> bool:
        """Tell whether the body or the author name matched."""
        return self.body.profane or self.author.profane

    @property
    def censored(self) -> str:
        """Return the censored body."""
        return self.body.censored

    @property
    def stored(self) -> list[Any]:
        """Return the ``matched_words`` value: the body's words, then the author name's match (if any)."""
        return matches.stored(self.body.words, self.author.words, self.author.censored)

    def detail(self) -> dict[str, Any]:
        """Return the "flagged" audit detail: every matched word, where they matched, and the author name's."""
        detail: dict[str, Any] = {"words": list(dict.fromkeys(self.body.words + self.author.words)),
                                  "source": matches.sources(self.body.words, self.author.words)}
        if self.author.words:
            detail["author_words"] = self.author.words
        return detail


def examine(engine: Engine, body: str, author: str) -> Found:
    """Check a comment's *body* and its *author* name with *engine*."""
    return Found(engine.check(body), engine.check(author))


@dataclass(frozen=True)
class Checked:
    """The outcome of one comment's check: its new status, the languages to translate it into, and the outbox
    rows written with it (to send after the commit)."""

    status: str
    langs: list[str]
    notifications: list[int] = field(default_factory=list, compare=False)
    #: The comment awaits the offensive-language model (queue ``classification``): send it there after the commit.
    classify: bool = False


def check_comments(
    comment_ids: Sequence[int], max_attempts: int, busy_for: timedelta = timedelta(0), settings: Settings | None = None
) -> dict[int, Checked | Exception]:
    """Check comments *comment_ids*; return the outcome (or the error) of each one this call claimed.

    With *settings* (the actor's), the reply mails of the comments it makes visible are written with the verdicts.
    """
    now = utcnow()
    params = {"ids": sorted(set(comment_ids)), "max_attempts": max_attempts, "busy_since": now - busy_for,
              "now": now}
    with db.autocommit() as connection:
        if db.is_postgresql():
            claimed = _CLAIM_PG.execute(connection, params).all()
        else:
            claimed = connection.execute(_CLAIM, params).all()
    if not claimed:
        return {}
    engine = wordlists.engine_at(claimed[0][5])
    verdicts: dict[int, Found] = {}
    versions: dict[int, int] = {}
    outcomes: dict[int, Checked | Exception] = {}
    for comment_id, body, author, attempts, version, _list_version in claimed:
        if attempts > max_attempts:
            with db.session_scope() as session:
                if hold_for_review(session, comment_id, f"profanity check failed {attempts - 1} times", version):
                    outcomes[comment_id] = Checked(Status.FLAGGED, [], outbox.written(session))
            continue
        try:
            verdicts[comment_id] = examine(engine, body, author)
            versions[comment_id] = version
        except Exception as exc:  # not handled: raised in this comment's own message only
            # One comment the engine chokes on must not fail its batch-mates: they would be retried with it,
            # batched with it again, and run out of attempts for a fault that is not theirs.
            outcomes[comment_id] = exc
    if verdicts:
        record = _record_pg if db.is_postgresql() else _record_each
        recorded = record(verdicts, versions, settings)
        for comment_id, (langs, notes) in recorded.items():
            outcomes[comment_id] = Checked(_status(verdicts[comment_id]), langs, notes)
    return outcomes


def _status(verdict: Found) -> str:
    """Return the status a comment gets from its *verdict*."""
    return Status.FLAGGED if verdict.profane else Status.PUBLISHED


def _record_pg(verdicts: dict[int, Found], versions: dict[int, int],
               settings: Settings | None) -> dict[int, tuple[list[str], list[int]]]:
    """Store a batch of verdicts in one statement; return the pending translations and outbox rows of each."""
    ids, batch = list(verdicts), list(verdicts.values())
    mail = settings is not None and settings.mail_enabled
    # With mail on, the statement and the reply mails of the comments it made visible share one transaction.
    with db.engine().begin() if mail else db.autocommit() as connection:
        rows = _RECORD_PG.execute(connection, {
            "ids": ids, "statuses": [_status(v) for v in batch], "censored": [v.censored for v in batch],
            "words": [json.dumps(v.stored) for v in batch], "profane": [v.profane for v in batch],
            "details": [json.dumps(v.detail()) for v in batch], "versions": [versions[i] for i in ids],
            "now": utcnow(),
            "pending": Status.PENDING, "t_pending": TranslationStatus.PENDING, "system": audit.SYSTEM,
        }).all()
        mails: dict[int, list[int]] = {}
        if mail and rows:
            session = db.new_session(bind=connection)
            try:
                mails = _reply_mails(session, [row[0] for row in rows], settings)  # type: ignore[arg-type]
            finally:
                session.close()
    return {comment_id: (langs.split(",") if langs else [],
                         ([int(i) for i in notes.split(",")] if notes else []) + mails.get(comment_id, []))
            for comment_id, langs, notes in rows}


def _reply_mails(session: Session, comment_ids: list[int], settings: Settings) -> dict[int, list[int]]:
    """Write the reply mails of *comment_ids*, just recorded, in *session*'s transaction; return each one's rows."""
    replies.on_visible_ids(session, comment_ids, settings)
    written = outbox.written(session)
    mails: dict[int, list[int]] = {}
    if written:
        rows = session.execute(select(Outbox.id, Outbox.comment_id).where(Outbox.id.in_(written)))
        for outbox_id, comment_id in rows:
            mails.setdefault(comment_id, []).append(outbox_id)
    return mails


def _record_each(verdicts: dict[int, Found], versions: dict[int, int],
                 settings: Settings | None) -> dict[int, tuple[list[str], list[int]]]:
    """Store a batch of verdicts one comment at a time, in one transaction (SQLite), with their outbox rows."""
    recorded = {}
    with db.session_scope() as session:
        for comment_id, verdict in verdicts.items():
            if record_check(session, comment_id, verdict, versions[comment_id]):
                event = outbox.FLAGGED if verdict.profane else outbox.PUBLISHED
                notes = outbox.record_event(session, event, comment_id)
                recorded[comment_id] = (sorted(reading.pending_translations(session, comment_id)), notes)
        outbox.forget(session)  # the ids go back with the outcomes
        if settings is not None and settings.mail_enabled and recorded:
            for comment_id, mails in _reply_mails(session, list(recorded), settings).items():
                recorded[comment_id][1].extend(mails)
    return recorded


def record_check(session: Session, comment_id: int, verdict: Found, version: int) -> bool:
    """Store what the check of *version* found unless the comment was edited since, checked, held or decided."""
    now = utcnow()
    applied = session.execute(
        update(Comment)
        .where(Comment.id == comment_id, Comment.version == version, *_UNDECIDED_PENDING)
        .values(
            status=_status(verdict),
            censored_body=verdict.censored, matched_words=verdict.stored, checked_at=now,
            flagged_at=now if verdict.profane else None, updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if applied and verdict.profane:
        audit.record(
            session, kind="system", action="flagged", actor=audit.SYSTEM, comment_id=comment_id,
            detail=verdict.detail(), dedupe_key=audit.version_key("flagged", comment_id, version),
        )
    return bool(applied)


def hold_for_review(session: Session, comment_id: int, reason: str, version: int) -> bool:
    """Flag *version* of a comment whose check cannot finish, so a moderator decides instead of a retry loop."""
    now = utcnow()
    held = session.execute(
        update(Comment)
        .where(Comment.id == comment_id, Comment.version == version, *_UNDECIDED_PENDING)
        .values(status=Status.FLAGGED, check_error=reason, checked_at=now, flagged_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if held:
        logger.warning("Comment %d held for review: %s", comment_id, reason)
        audit.record(
            session, kind="system", action="held", actor=audit.SYSTEM, comment_id=comment_id,
            reason=reason, dedupe_key=audit.version_key("held", comment_id, version),
        )
        outbox.record_event(session, outbox.FLAGGED, comment_id)  # the caller sends outbox.written(session)
    return bool(held)
