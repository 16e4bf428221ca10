"""The check of comments, in batches: the word list, the spam signals and the detected language of each.

On PostgreSQL two statements per batch, whatever its size: the claim (which reads every signal's counts) and
the record (core/moderation/recording.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ARRAY, BigInteger, ColumnElement, Update, any_, bindparam, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from core.comments import matches
from core.config import Settings
from core.moderation import audit, wordlists
from core.moderation.recording import UNDECIDED_PENDING, Judged, record_each, record_pg
from core.notifications import outbox
from core.signals import identity, inputs, language, spam, trust
from core.storage import db
from core.storage.models import Comment, Status, utcnow
from core.storage.models_signals import Ban, BanScope
from core.storage.prepared import Prepared

if TYPE_CHECKING:  # heavy modules stay out of the web process
    from core.profanity.engine import Engine, Verdict

logger = logging.getLogger(__name__)

_comments = Comment.__table__
#: The settings of a check called without any (tests, tools): no model stage, default thresholds.
_DEFAULTS = Settings(offensive_model=False)

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
            *UNDECIDED_PENDING,
            ~((_comments.c.check_attempts >= bindparam("max_attempts"))
              & (_comments.c.updated_at > bindparam("busy_since"))),
        )
        .values(check_attempts=_comments.c.check_attempts + 1, updated_at=bindparam("now"))
        .returning(_comments.c.id, _comments.c.body, _comments.c.author, _comments.c.check_attempts,
                   _comments.c.version, wordlists.VERSION.scalar_subquery(), _comments.c.client_hash,
                   # The signals' inputs (core/signals/inputs.py), read in the same statement.
                   *inputs.columns(_comments))
    )


_CLAIM = _claim(_comments.c.id.in_(bindparam("ids", expanding=True)))
#: The same claim on PostgreSQL, prepared: one array parameter, so one plan whatever the batch size.
_CLAIM_PG = Prepared.of(
    "parley_claim_checks", _claim(_comments.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
)

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

    With *settings* (the actor's), the reply mails of the comments it makes visible are written with the verdicts,
    and the signals use its thresholds and policy (without: defaults, and no model stage).
    """
    config = settings or _DEFAULTS
    now = utcnow()
    params = {"ids": sorted(set(comment_ids)), "max_attempts": max_attempts, "busy_since": now - busy_for,
              "now": now, **inputs.params(config, now)}
    with db.autocommit() as connection:
        if db.is_postgresql():
            claimed = _CLAIM_PG.execute(connection, params).all()
        else:
            claimed = connection.execute(_CLAIM, params).all()
    if not claimed:
        return {}
    engine = wordlists.engine_at(claimed[0][5])
    banned_emails = _banned_emails(claimed, config)
    verdicts: dict[int, Judged] = {}
    outcomes: dict[int, Checked | Exception] = {}
    for row in claimed:
        comment_id, body, author, attempts, version = row[:5]
        if attempts > max_attempts:
            with db.session_scope() as session:
                if hold_for_review(session, comment_id, f"profanity check failed {attempts - 1} times", version):
                    outcomes[comment_id] = Checked(Status.FLAGGED, [], outbox.written(session))
            continue
        try:
            verdicts[comment_id] = judge(examine(engine, body, author), row, config, banned_emails)
        except Exception as exc:  # not handled: raised in this comment's own message only
            # One comment the engine chokes on must not fail its batch-mates: they would be retried with it,
            # batched with it again, and run out of attempts for a fault that is not theirs.
            outcomes[comment_id] = exc
    if verdicts:
        record = record_pg if db.is_postgresql() else record_each
        for comment_id, (langs, notes) in record(verdicts, settings).items():
            judged = verdicts[comment_id]
            outcomes[comment_id] = Checked(judged.status, langs, notes, judged.classify)
    return outcomes


def judge(found: Found, row: Row[Any], settings: Settings, banned_emails: set[str]) -> Judged:
    """Return the verdict on a claimed comment *row* the word list *found* something (or nothing) in."""
    body, version, client_hash = row[1], row[4], row[6]
    (lang, email, fingerprint, duplicates, burst_email, burst_client, known, client_banned, _any_email_ban,
     confirmed, approved, rejected) = row[7:7 + inputs.COUNT]
    # Detection first: a comment in another language than the site's is no reason to flag it, but its language
    # is recorded whatever the verdict, for the moderator and for the translations an approval releases.
    detected = language.detect(body) if lang is None else None
    trusted = trust.is_trusted(bool(confirmed), approved or 0, bool(rejected), settings)
    banned = bool(client_banned) or (email is not None and identity.email_hash(settings, email) in banned_emails)
    signals, reasons = spam.evaluate(spam.Inputs(
        links=spam.links(body), new_author=not known, duplicates=duplicates if fingerprint else 0,
        burst_email=burst_email, burst_client=burst_client if client_hash else 0, banned=banned, trusted=trusted,
        words=found.body.words + found.author.words,
    ), settings)
    judged = Judged(found, Status.FLAGGED, version, spam.holds(reasons), signals, reasons, detected)
    if reasons:
        return judged
    if settings.offensive_model and not trusted:
        # Clean so far: the model has the last word. Before publishing, the comment waits (checked, pending);
        # after, it is shown now and taken down if the model holds it.
        status = Status.PENDING if settings.signals_policy == "before_publish" else Status.PUBLISHED
        return replace(judged, status=status, classify=True)
    return replace(judged, status=Status.PUBLISHED)


def _banned_emails(claimed: Sequence[Row[Any]], settings: Settings) -> set[str]:
    """Return the hashes among the batch's authors' addresses that an active ban names (one read, only if any)."""
    if not any(row[7 + 8] for row in claimed):  # the claim's "some address is banned" column
        return set()
    hashes = {identity.email_hash(settings, row[8]) for row in claimed if row[8]}
    if not hashes:
        return set()
    with db.session_scope() as session:
        return set(session.scalars(select(Ban.value_hash).where(
            Ban.scope == BanScope.EMAIL, Ban.removed_at.is_(None), Ban.value_hash.in_(hashes))))


def hold_for_review(session: Session, comment_id: int, reason: str, version: int) -> bool:
    """Flag *version* of a comment whose check cannot finish, so a moderator decides instead of a retry loop."""
    now = utcnow()
    held = session.execute(
        update(Comment)
        .where(Comment.id == comment_id, Comment.version == version, *UNDECIDED_PENDING)
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
