"""The outbox: rows written in the caller's transaction, claimed under a lease, finished once, swept when late.

Every send is at least once: a row is claimed (its attempt counted, a lease taken) before the work and
finished after it with a guard on that attempt, so a second message for the same row while the first runs,
or after it finished, does nothing. A worker killed mid-send leaves the lease to expire; the next claim
sends again with the same ``message_id``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, null, or_, select, update
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.orm import Session

from core.storage import db
from core.storage.models import utcnow
from core.storage.models_notifications import Outbox, OutboxKind, OutboxStatus, WebhookEndpoint
from core.storage.prepared import Prepared

#: The webhook events a comment's state changes raise (see CONTRACT "Notifications").
PUBLISHED, FLAGGED, DECIDED, DELETED = "comment.published", "comment.flagged", "comment.decided", "comment.deleted"
EVENTS = (PUBLISHED, FLAGGED, DECIDED, DELETED)
#: How long a claimed row is someone's by default: longer than any send (OUTBOX_LEASE_SECONDS).
LEASE = timedelta(seconds=120)
#: A row whose send was never confirmed is picked up by the sweep this long after it was written.
UNDISPATCHED_GRACE = timedelta(seconds=10)
#: Where a session keeps the ids it wrote until its commit (see :func:`written`).
_INFO_KEY = "parley.outbox"


def new_message_id() -> str:
    """Return a fresh message id (a UUID): the delivery id / Message-ID of one row, for all its attempts."""
    return str(uuid.uuid4())


def record(session: Session, *, kind: str, event: str, comment_id: int | None = None, recipient: str | None = None,
           payload: dict[str, Any] | None = None, endpoint_id: int | None = None) -> int:
    """Write one outbox row in *session*'s transaction and return its id (send it after the commit)."""
    row = Outbox(kind=kind, event=event, comment_id=comment_id, recipient=recipient, payload=payload or {},
                 endpoint_id=endpoint_id, message_id=new_message_id(), status=OutboxStatus.PENDING, attempts=0,
                 created_at=utcnow())
    session.add(row)
    session.flush()
    session.info.setdefault(_INFO_KEY, []).append(row.id)
    return row.id


def record_event(session: Session, event: str, comment_id: int) -> list[int]:
    """Write one webhook row per enabled endpoint subscribed to *event*; return their ids.

    The delivery's body (the comment's public view) is built at its first attempt and then kept, so every
    retry sends the same bytes.
    """
    endpoints = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id)
    ).all()
    return [record(session, kind=OutboxKind.WEBHOOK, event=event, comment_id=comment_id, endpoint_id=endpoint_id)
            for endpoint_id, events in endpoints if event in (events or [])]


def written(session: Session) -> list[int]:
    """Return and forget the ids of the rows *session* wrote: call it after the commit, and send them."""
    return session.info.pop(_INFO_KEY, [])


def forget(session: Session) -> None:
    """Forget the rows *session* wrote (after a rollback: they do not exist)."""
    session.info.pop(_INFO_KEY, None)


def send_all(ids: Iterable[int], send: Callable[[int], bool]) -> int:
    """Send each outbox row of *ids* with *send* (the dispatcher's); mark the confirmed ones; return how many."""
    confirmed = [outbox_id for outbox_id in ids if send(outbox_id)]
    if confirmed:
        with db.session_scope() as session:
            session.execute(update(Outbox).where(Outbox.id.in_(confirmed), Outbox.dispatched_at.is_(None))
                            .values(dispatched_at=utcnow()).execution_options(synchronize_session=False))
    return len(confirmed)


@dataclass(frozen=True)
class Claimed:
    """A row this caller may send now: attempt *attempt* of it."""

    id: int
    kind: str
    event: str
    comment_id: int | None
    endpoint_id: int | None
    recipient: str | None
    payload: dict[str, Any]
    message_id: str
    attempt: int
    created_at: datetime
    #: A webhook row's endpoint as the claim found it: (url, secret, enabled, consecutive failures), or None.
    endpoint: tuple[str, str, bool, int] | None = None


def kind_of(outbox_id: int) -> str | None:
    """Return the kind of row *outbox_id* (None if there is no such row)."""
    with db.autocommit() as connection:  # one statement: no BEGIN/COMMIT, no ORM session
        return _run(connection, _KIND, {"oid": outbox_id}).scalar()


# The statements of every send, built once: building one and its cache key cost more worker CPU than running it.
_KIND = select(Outbox.kind).where(Outbox.id == bindparam("oid"))
_CLAIM = (update(Outbox)
          .where(Outbox.id == bindparam("oid"), Outbox.status == OutboxStatus.PENDING,
                 or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= bindparam("now")),
                 or_(Outbox.locked_until.is_(None), Outbox.locked_until < bindparam("now")))
          .values(attempts=Outbox.attempts + 1, locked_until=bindparam("until"))
          .returning(Outbox.id, Outbox.kind, Outbox.event, Outbox.comment_id, Outbox.endpoint_id, Outbox.recipient,
                     Outbox.payload, Outbox.message_id, Outbox.attempts, Outbox.created_at,  # Claimed's order
                     *(select(column).where(WebhookEndpoint.id == Outbox.endpoint_id).correlate(Outbox)
                       .scalar_subquery().label(f"endpoint_{column.key}")
                       for column in (WebhookEndpoint.url, WebhookEndpoint.secret, WebhookEndpoint.enabled,
                                      WebhookEndpoint.consecutive_failures))))
_KEEP_PAYLOAD = (update(Outbox).where(Outbox.id == bindparam("oid"), Outbox.attempts == bindparam("attempt"))
                 .values(payload=bindparam("body")))
_MINE = (Outbox.id == bindparam("oid"), Outbox.attempts == bindparam("attempt"), Outbox.status == OutboxStatus.PENDING)
_FINISH = update(Outbox).where(*_MINE).values(status=bindparam("to"), locked_until=null(),
                                              last_error=bindparam("error"), next_attempt_at=bindparam("retry_at"))
_FINISH_SENT = _FINISH.values(sent_at=bindparam("now"))
#: The same on PostgreSQL, prepared once per connection of the autocommit pool (core/storage/prepared.py).
_PREPARED = {id(statement): Prepared.of(f"parley_outbox_{name}", statement)
             for name, statement in (("kind", _KIND), ("claim", _CLAIM), ("finish", _FINISH), ("sent", _FINISH_SENT))}


def _run(connection: Connection, statement: Any, params: dict[str, Any]) -> CursorResult[Any]:
    """Run one of the statements above on an autocommit *connection*: prepared on PostgreSQL."""
    if connection.dialect.name == "postgresql":
        return _PREPARED[id(statement)].execute(connection, params)
    return connection.execute(statement, params)


def claim(outbox_id: int, now: datetime | None = None,
          prepare: Callable[[Session, Claimed], dict[str, Any] | None] | None = None,
          lease: timedelta = LEASE) -> Claimed | None:
    """Take row *outbox_id* for one attempt, if it is pending, due and nobody holds it; else return None.

    *prepare* may return a payload to keep for this and every later attempt (stored with the claim). The row is
    the caller's for *lease*: a caller killed mid-send leaves it to the next claim once the lease is over.
    The claim is one ``UPDATE … RETURNING`` committed on its own before the work (as a check's claim), which
    also reads a webhook row's endpoint; the payload of *prepare* is stored (:func:`keep_payload`) before the
    caller sends anything.
    """
    now = now or utcnow()
    with db.autocommit() as connection:
        found = _run(connection, _CLAIM, {"oid": outbox_id, "now": now, "until": now + lease}).first()
    if found is None:
        return None
    endpoint = tuple(found[10:]) if found.endpoint_url is not None else None
    claimed = Claimed(*found[:6], dict(found.payload or {}), *found[7:10], endpoint)  # type: ignore[arg-type]
    return claimed if prepare is None else keep_payload(claimed, prepare)


def keep_payload(claimed: Claimed, prepare: Callable[[Session, Claimed], dict[str, Any] | None]) -> Claimed:
    """Store the payload *prepare* returns for *claimed* (guarded by its attempt) and return the row with it;
    *prepare* returns None to keep the stored one."""
    with db.autocommit() as connection:  # a read and one guarded write: no BEGIN/COMMIT round trips
        session = db.new_session(bind=connection)
        try:
            payload = prepare(session, claimed)
        finally:
            session.close()
        if payload is not None:
            connection.execute(_KEEP_PAYLOAD, {"oid": claimed.id, "attempt": claimed.attempt, "body": payload})
            claimed = replace(claimed, payload=dict(payload))
    return claimed


def finish(outbox_id: int, attempt: int, status: str, *, error: str | None = None,
           retry_at: datetime | None = None, session: Session | None = None) -> bool:
    """Record the end of *attempt*: ``sent``, ``failed``, or ``pending`` again at *retry_at*; False if not ours."""
    statement = _FINISH_SENT if status == OutboxStatus.SENT else _FINISH
    params = {"oid": outbox_id, "attempt": attempt, "to": status, "error": error[:2000] if error else None,
              "retry_at": retry_at, **({"now": utcnow()} if statement is _FINISH_SENT else {})}
    if session is not None:
        return bool(session.connection().execute(statement, params).rowcount)
    with db.autocommit() as connection:  # one statement on its own: no BEGIN/COMMIT round trips
        return bool(_run(connection, statement, params).rowcount)


def due(session: Session, now: datetime, stuck_after: timedelta, limit: int = 1000) -> list[int]:
    """Pick pending rows whose send was never confirmed or is overdue, mark them re-sent now, return their ids.

    A row is due when nobody holds it, its next attempt time has passed, and either it was never dispatched
    (after a short grace: its writer is still sending it) or its last dispatch is older than *stuck_after*
    (a retry the broker lost).
    """
    ready = or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now)
    unlocked = or_(Outbox.locked_until.is_(None), Outbox.locked_until < now)
    never = Outbox.dispatched_at.is_(None) & (Outbox.created_at < now - UNDISPATCHED_GRACE)
    late = (Outbox.dispatched_at < now - stuck_after) & (func.coalesce(Outbox.next_attempt_at, Outbox.created_at)
                                                         < now - UNDISPATCHED_GRACE)
    ids = list(session.scalars(
        select(Outbox.id).where(Outbox.status == OutboxStatus.PENDING, ready, unlocked, never | late)
        .order_by(Outbox.id).limit(limit)
    ))
    if ids:
        # Counted as dispatched now, so the next sweep waits *stuck_after* before sending them again.
        session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(dispatched_at=now)
                        .execution_options(synchronize_session=False))
    return ids
