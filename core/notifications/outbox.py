"""The outbox: rows written in the caller's transaction, claimed under a lease, finished once, swept when late.

Every send is at least once: a row is claimed (its attempt counted, a lease taken) before the work and
finished after it with a guard on that attempt, so a second message for the same row while the first runs,
or after it finished, does nothing. A worker killed mid-send leaves the lease to expire; the next claim
sends again with the same ``message_id``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, BigInteger, any_, bindparam, func, null, or_, select, update
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


#: The webhook rows of the events a one-statement write names in its CTE ``ev`` (``id``, ``event``), as
#: :func:`record_event` writes them: one per enabled endpoint subscribed to the event, the body built at the first
#: attempt. A CTE of a PostgreSQL statement; its parameters are :data:`WEBHOOK_ROWS_TYPES`' (and ``:now``).
WEBHOOK_ROWS_SQL = (
    " INSERT INTO outbox (kind, event, comment_id, endpoint_id, payload, message_id, status, attempts, created_at)"
    " SELECT :webhook, ev.event, ev.id, e.id, CAST('{}' AS JSON), CAST(gen_random_uuid() AS text), :o_pending, 0, :now"
    " FROM ev JOIN webhook_endpoints e ON e.enabled AND CAST(e.events AS jsonb) @> jsonb_build_array(ev.event)"
    " RETURNING id, comment_id"
)
WEBHOOK_ROWS_TYPES = {"webhook": "varchar", "o_pending": "varchar"}
WEBHOOK_ROWS_CONSTANTS = {"webhook": OutboxKind.WEBHOOK, "o_pending": OutboxStatus.PENDING}


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
    #: A webhook's body built with its first attempt's claim (``delivery``, for a batch in one read), or None.
    body: dict[str, Any] | None = None


def kind_of(outbox_id: int) -> str | None:
    """Return the kind of row *outbox_id* (None if there is no such row)."""
    with db.autocommit() as connection:  # one statement: no BEGIN/COMMIT, no ORM session
        return _run(connection, _KIND, {"oid": outbox_id}).scalar()


# The statements of every send, built once: building one and its cache key cost more worker CPU than running it.
_KIND = select(Outbox.kind).where(Outbox.id == bindparam("oid"))
def _claim(ids: Any) -> Any:
    """The claim of the rows *ids* names: one statement for both databases, but for how ids are passed."""
    return (update(Outbox)
            .where(ids, Outbox.status == OutboxStatus.PENDING,
                   or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= bindparam("now")),
                   or_(Outbox.locked_until.is_(None), Outbox.locked_until < bindparam("now")))
            .values(attempts=Outbox.attempts + 1, locked_until=bindparam("until"))
            .returning(Outbox.id, Outbox.kind, Outbox.event, Outbox.comment_id, Outbox.endpoint_id, Outbox.recipient,
                       Outbox.payload, Outbox.message_id, Outbox.attempts, Outbox.created_at,  # Claimed's order
                       *(select(column).where(WebhookEndpoint.id == Outbox.endpoint_id).correlate(Outbox)
                         .scalar_subquery().label(f"endpoint_{column.key}")
                         for column in (WebhookEndpoint.url, WebhookEndpoint.secret, WebhookEndpoint.enabled,
                                        WebhookEndpoint.consecutive_failures))))


_CLAIM = _claim(Outbox.id.in_(bindparam("ids", expanding=True)))
#: On PostgreSQL one array parameter: one prepared plan whatever the batch size.
_CLAIM_PG = Prepared.of("parley_outbox_claim", _claim(Outbox.id == any_(bindparam("ids", type_=ARRAY(BigInteger)))))
_MINE = (Outbox.id == bindparam("oid"), Outbox.attempts == bindparam("attempt"), Outbox.status == OutboxStatus.PENDING)
_FINISH = update(Outbox).where(*_MINE).values(status=bindparam("to"), locked_until=null(),
                                              last_error=bindparam("error"), next_attempt_at=bindparam("retry_at"))
_FINISH_SENT = _FINISH.values(sent_at=bindparam("now"))
#: The same, also keeping the payload built for this attempt (a webhook's body, kept for every later attempt).
_FINISH_KEEP = _FINISH.values(payload=bindparam("body"))
_FINISH_SENT_KEEP = _FINISH_SENT.values(payload=bindparam("body"))
#: The same on PostgreSQL, prepared once per connection of the autocommit pool (core/storage/prepared.py).
_PREPARED = {id(statement): Prepared.of(f"parley_outbox_{name}", statement)
             for name, statement in (("kind", _KIND), ("finish", _FINISH), ("sent", _FINISH_SENT),
                                     ("finish_keep", _FINISH_KEEP), ("sent_keep", _FINISH_SENT_KEEP))}


def _run(connection: Connection, statement: Any, params: dict[str, Any]) -> CursorResult[Any]:
    """Run one of the statements above on an autocommit *connection*: prepared on PostgreSQL."""
    if connection.dialect.name == "postgresql":
        return _PREPARED[id(statement)].execute(connection, params)
    return connection.execute(statement, params)


def claim(outbox_id: int, now: datetime | None = None, lease: timedelta = LEASE) -> Claimed | None:
    """Take row *outbox_id* for one attempt, if it is pending, due and nobody holds it; else return None.

    The row is the caller's for *lease*: a caller killed mid-send leaves it to the next claim once the lease is
    over. The claim is one ``UPDATE … RETURNING`` committed on its own before the work (as a check's claim),
    which also reads a webhook row's endpoint.
    """
    return claim_many([outbox_id], now, lease).get(outbox_id)


def claim_many(ids: Iterable[int], now: datetime | None = None, lease: timedelta = LEASE) -> dict[int, Claimed]:
    """Claim each of *ids* as :func:`claim` does, in one statement; return the rows claimed, by id."""
    now = now or utcnow()
    params = {"ids": sorted(set(ids)), "now": now, "until": now + lease}
    with db.autocommit() as connection:
        if connection.dialect.name == "postgresql":
            rows = _CLAIM_PG.execute(connection, params).all()
        else:
            rows = connection.execute(_CLAIM, params).all()
    claimed = {}
    for found in rows:
        endpoint = tuple(found[10:]) if found.endpoint_url is not None else None
        claimed[found.id] = Claimed(*found[:6], dict(found.payload or {}), *found[7:10], endpoint)  # type: ignore[arg-type]
    return claimed


def finish(outbox_id: int, attempt: int, status: str, *, error: str | None = None,
           retry_at: datetime | None = None, session: Session | None = None,
           keep: dict[str, Any] | None = None) -> bool:
    """Record the end of *attempt*: ``sent``, ``failed``, or ``pending`` again at *retry_at*; False if not ours.

    *keep* is a payload built by this attempt, stored with the outcome for the later attempts to reuse.
    """
    sent = status == OutboxStatus.SENT
    statement = ((_FINISH_SENT_KEEP if sent else _FINISH_KEEP) if keep is not None
                 else (_FINISH_SENT if sent else _FINISH))
    params = {"oid": outbox_id, "attempt": attempt, "to": status, "error": error[:2000] if error else None,
              "retry_at": retry_at, **({"now": utcnow()} if sent else {})}
    if keep is not None:
        params["body"] = keep
    if session is not None:
        return bool(session.connection().execute(statement, params).rowcount)
    with db.autocommit() as connection:  # one statement on its own: no BEGIN/COMMIT round trips
        if keep is not None and connection.dialect.name == "postgresql":
            params["body"] = json.dumps(keep)  # a prepared statement's parameter: its JSON text
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
