"""What the check decides for one comment (:class:`Judged`), and how a batch of those is stored: on PostgreSQL in
one statement, on SQLite one comment at a time in one transaction."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, null, select, update
from sqlalchemy.orm import Session

from core.comments import reading
from core.config import Settings
from core.moderation import audit
from core.notifications import outbox, replies
from core.storage import db
from core.storage.models import Comment, Status, Translation, TranslationStatus, utcnow
from core.storage.models_notifications import Outbox
from core.storage.prepared import Prepared

if TYPE_CHECKING:
    from core.moderation.checking import Found

logger = logging.getLogger(__name__)
_comments = Comment.__table__
#: The guard of every write of the check: nobody has checked, held or decided the comment yet.
UNDECIDED_PENDING = (
    _comments.c.checked_at.is_(None), _comments.c.status == Status.PENDING, _comments.c.decision.is_(None),
)


@dataclass(frozen=True)
class Judged:
    """The check's verdict on one comment: the word list's findings, the spam signals, the detected language."""

    found: Found
    status: str
    version: int
    held: bool = False
    signals: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    #: The language detected for a comment posted without one (None: given, or not detected).
    detected: str | None = None
    #: Awaiting the offensive-language model (queue ``classification``).
    classify: bool = False

    @property
    def flagged(self) -> bool:
        """Tell whether the comment is flagged (by the word list, or held by a signal)."""
        return self.status == Status.FLAGGED

    @property
    def translate(self) -> bool:
        """Tell whether its translations go now: shown, or flagged by the word list only (shown censored)."""
        return self.status == Status.PUBLISHED or (self.flagged and not self.held)

    def detail(self) -> dict[str, Any]:
        """Return the "flagged" audit detail: the word list's findings (if any) and every reason."""
        detail = self.found.detail() if self.found.profane else {}
        detail["reasons"] = self.reasons
        if self.held:
            detail["signals"] = {k: v for k, v in self.signals.items() if k != "profanity"}
        return detail


# Every verdict of a batch, its "flagged" audit events, the webhook rows and the pending translations in one
# statement (atomic, one round trip). A detected language's own translation row is deleted (no translation
# into a comment's own language); the CTEs share one snapshot, so the final read leaves that row out itself.
_RECORD_PG = Prepared("parley_record_checks", (
    "WITH v AS ("
    " SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS varchar[]), CAST(:censored AS text[]),"
    "                      CAST(:words AS text[]), CAST(:flag AS boolean[]), CAST(:details AS text[]),"
    "                      CAST(:versions AS integer[]), CAST(:held AS boolean[]), CAST(:signals AS text[]),"
    "                      CAST(:reasons AS text[]), CAST(:langs AS varchar[]), CAST(:translate AS boolean[]),"
    "                      CAST(:classify AS boolean[]))"
    "   AS v(id, status, censored, words, flag, detail, version, held, signals, reasons, lang, translate, classify)"
    "), rec AS ("
    " UPDATE comments c SET status = v.status, censored_body = v.censored, matched_words = CAST(v.words AS JSON),"
    "   checked_at = :now, flagged_at = CASE WHEN v.flag THEN CAST(:now AS timestamptz) END, updated_at = :now,"
    "   held = v.held, awaits_model = v.classify,"
    "   signals = CAST(v.signals AS JSON), flag_reasons = CAST(v.reasons AS JSON),"
    "   lang = COALESCE(v.lang, c.lang), lang_detected = (c.lang_detected OR v.lang IS NOT NULL)"
    # ANY(:ids) bounds the rows the planner joins even with stale statistics (docs/BENCHMARKS.md, fix 7).
    " FROM v WHERE c.id = ANY(CAST(:ids AS bigint[])) AND c.id = v.id"
    "   AND c.version = v.version AND c.checked_at IS NULL AND c.status = :pending AND c.decision IS NULL"
    " RETURNING c.id, v.status, v.flag, v.detail, v.version, v.lang AS detected, v.translate"
    "), own AS ("
    " DELETE FROM translations t USING rec WHERE t.comment_id = rec.id AND t.lang = rec.detected"
    "), audit AS ("
    " INSERT INTO audit_events (comment_id, kind, action, actor, reason, detail, dedupe_key, redacted, at)"
    # The key is audit.version_key()'s (':' and 'v' apart: a colon before a word would read as a parameter).
    " SELECT id, 'system', 'flagged', :system, NULL, CAST(detail AS JSON),"
    "        'flagged:' || id || CASE WHEN version = 1 THEN '' ELSE ':' || 'v' || version END, false, :now"
    " FROM rec WHERE flag ON CONFLICT (dedupe_key) DO NOTHING"
    # The webhook rows of each verdict (outbox.record_event's, atomic with it): one per enabled endpoint
    # subscribed to the event, the body built at the first attempt. A comment awaiting the model has none yet.
    "), ev AS (SELECT rec.id, CASE WHEN rec.flag THEN :flagged ELSE :published END AS event FROM rec"
    "          WHERE rec.flag OR rec.status = :shown"
    "), ob AS (" + outbox.WEBHOOK_ROWS_SQL +
    # The status test sits in FILTER, not WHERE: in WHERE the planner AND-ed the comment's few rows with the
    # status index, reading every pending translation of the site once per comment (the knee's profile).
    ") SELECT rec.id, CASE WHEN rec.translate THEN"
    "          (SELECT string_agg(t.lang, ',' ORDER BY t.lang) FILTER (WHERE t.version = rec.version"
    "             AND t.status = :t_pending AND t.lang IS DISTINCT FROM rec.detected)"
    "           FROM translations t WHERE t.comment_id = rec.id) END,"
    "        (SELECT string_agg(CAST(ob.id AS text), ',') FROM ob WHERE ob.comment_id = rec.id) FROM rec"
), {"ids": "bigint[]", "statuses": "varchar[]", "censored": "text[]", "words": "text[]", "flag": "boolean[]",
    "details": "text[]", "versions": "integer[]", "held": "boolean[]", "signals": "text[]", "reasons": "text[]",
    "langs": "varchar[]", "translate": "boolean[]", "classify": "boolean[]", "now": "timestamptz", "pending": "varchar",
    "t_pending": "varchar", "system": "varchar", "flagged": "varchar", "published": "varchar", "shown": "varchar",
    **outbox.WEBHOOK_ROWS_TYPES},
    {"flagged": outbox.FLAGGED, "published": outbox.PUBLISHED, "shown": Status.PUBLISHED,
     **outbox.WEBHOOK_ROWS_CONSTANTS})


def _json_or_null(value: Any) -> str | None:
    """Return *value* as JSON text, or None (SQL NULL) when it is empty."""
    return json.dumps(value) if value else None


def record_pg(verdicts: dict[int, Judged], settings: Settings | None) -> dict[int, tuple[list[str], list[int]]]:
    """Store a batch of verdicts in one statement; return the translations to send and outbox rows of each."""
    ids, batch = list(verdicts), list(verdicts.values())
    mail = settings is not None and settings.mail_enabled
    # With mail on, the statement and the reply mails of the comments it made visible share one transaction.
    with db.engine().begin() if mail else db.autocommit() as connection:
        rows = _RECORD_PG.execute(connection, {
            "ids": ids, "statuses": [v.status for v in batch], "censored": [v.found.censored for v in batch],
            "words": [json.dumps(v.found.stored) for v in batch], "flag": [v.flagged for v in batch],
            "details": [json.dumps(v.detail()) if v.flagged else None for v in batch],
            "versions": [v.version for v in batch], "held": [v.held for v in batch],
            "signals": [_json_or_null(v.signals) for v in batch], "reasons": [_json_or_null(v.reasons) for v in batch],
            "langs": [v.detected for v in batch], "translate": [v.translate for v in batch],
            "classify": [v.classify for v in batch], "now": utcnow(),
            "pending": Status.PENDING, "t_pending": TranslationStatus.PENDING, "system": audit.SYSTEM,
        }).all()
        mails: dict[int, list[int]] = {}
        if mail and rows:
            session = db.new_session(bind=connection)
            try:
                mails = reply_mails(session, [row[0] for row in rows], settings)  # type: ignore[arg-type]
            finally:
                session.close()
    return {comment_id: (langs.split(",") if langs else [],
                         ([int(i) for i in notes.split(",")] if notes else []) + mails.get(comment_id, []))
            for comment_id, langs, notes in rows}


def reply_mails(session: Session, comment_ids: list[int], settings: Settings) -> dict[int, list[int]]:
    """Write the reply mails of *comment_ids*, just recorded, in *session*'s transaction; return each one's rows."""
    replies.on_visible_ids(session, comment_ids, settings)
    written = outbox.written(session)
    mails: dict[int, list[int]] = {}
    if written:
        rows = session.execute(select(Outbox.id, Outbox.comment_id).where(Outbox.id.in_(written)))
        for outbox_id, comment_id in rows:
            mails.setdefault(comment_id, []).append(outbox_id)
    return mails


def record_each(verdicts: dict[int, Judged], settings: Settings | None) -> dict[int, tuple[list[str], list[int]]]:
    """Store a batch of verdicts one comment at a time, in one transaction (SQLite), with their outbox rows."""
    recorded: dict[int, tuple[list[str], list[int]]] = {}
    with db.session_scope() as session:
        for comment_id, judged in verdicts.items():
            if record_check(session, comment_id, judged):
                notes: list[int] = []
                if judged.flagged or judged.status == Status.PUBLISHED:
                    event = outbox.FLAGGED if judged.flagged else outbox.PUBLISHED
                    notes = outbox.record_event(session, event, comment_id)
                langs = sorted(reading.pending_translations(session, comment_id)) if judged.translate else []
                recorded[comment_id] = (langs, notes)
        outbox.forget(session)  # the ids go back with the outcomes
        if settings is not None and settings.mail_enabled and recorded:
            for comment_id, mails in reply_mails(session, list(recorded), settings).items():
                recorded[comment_id][1].extend(mails)
    return recorded


def record_check(session: Session, comment_id: int, judged: Judged) -> bool:
    """Store what the check of a version found unless the comment was edited since, checked, held or decided."""
    now = utcnow()
    detected = {"lang": judged.detected, "lang_detected": True} if judged.detected else {}
    applied = session.execute(
        update(Comment)
        .where(Comment.id == comment_id, Comment.version == judged.version, *UNDECIDED_PENDING)
        .values(
            status=judged.status, censored_body=judged.found.censored, matched_words=judged.found.stored,
            checked_at=now, flagged_at=now if judged.flagged else None, updated_at=now, held=judged.held,
            awaits_model=judged.classify,
            signals=judged.signals or null(), flag_reasons=judged.reasons or null(), **detected,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if applied and judged.detected:
        session.execute(delete(Translation).where(Translation.comment_id == comment_id,
                                                  Translation.lang == judged.detected))
    if applied and judged.flagged:
        audit.record(
            session, kind="system", action="flagged", actor=audit.SYSTEM, comment_id=comment_id,
            detail=judged.detail(), dedupe_key=audit.version_key("flagged", comment_id, judged.version),
        )
    return bool(applied)
