"""Mail faults against a real SMTP server on 127.0.0.1: down, slow, hanging, 4xx then OK, 5xx, a sender refused.

Each attempt is one call of ``core.notifications.mailer.deliver`` with a short SMTP_TIMEOUT_SECONDS; the backoff
is skipped by handing it a later ``now``. Whatever the server does, every row ends ``sent`` once or ``failed``
with a reason: nothing is lost and nothing doubled.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete, select

from core.notifications import addresses, mailer, outbox
from core.storage import db
from core.storage.models import Comment, Status, utcnow
from core.storage.models_notifications import MailAddress, Outbox, OutboxKind, OutboxStatus
from tests import seed
from tests.support import free_port, unique

BASE = "https://comments.example.com"
#: SMTP_TIMEOUT_SECONDS of these tests: every wait below is a fraction or a small multiple of it.
TIMEOUT = 1.0


class FaultyServer:
    """An SMTP handler that keeps what it accepts; per command it may wait, hang, or answer a scripted reply first."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.replies: dict[str, list[str]] = {}
        self.delays: dict[str, float] = {}
        self.hang: set[str] = set()
        self.release = threading.Event()

    def reset(self) -> None:
        """Accept everything at once again, and forget what was received."""
        self.messages.clear(), self.replies.clear(), self.delays.clear(), self.hang.clear()
        self.release.clear()

    async def _act(self, command: str) -> str | None:
        if command in self.delays:
            await asyncio.sleep(self.delays[command])
        if command in self.hang:
            for _ in range(200):  # at most 10 s, then the session ends on its own
                if self.release.is_set():
                    break
                await asyncio.sleep(0.05)
            return "421 4.4.2 Hung up"
        script = self.replies.get(command)
        return script.pop(0) if script else None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 (aiosmtpd's names)
        envelope.mail_from = address
        return await self._act("MAIL") or "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        refused = await self._act("RCPT")
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        refused = await self._act("DATA")
        if refused:
            return refused
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FaultyServer, int]]:
    """A real SMTP server on 127.0.0.1 for this module."""
    handler = FaultyServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    handler.release.set()
    controller.stop()


@pytest.fixture
def smtp(server, stack, clean_db):  # type: ignore[no-untyped-def]
    """The server's handler (reset) and settings that send mail to it with a short timeout."""
    handler, port = server
    handler.reset()
    db.configure(stack.database_url)
    with db.session_scope() as session:  # rows other modules' tests left
        session.execute(delete(Outbox))
        session.execute(delete(MailAddress))
    settings = stack.settings(smtp_url=f"smtp://127.0.0.1:{port}", public_base_url=BASE, smtp_timeout_seconds=TIMEOUT,
                              secret_key="test-secret-for-mail-faults")
    yield handler, settings
    handler.release.set()


def confirmation(settings, email: str | None = None) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Post-like: store a comment giving a new address and its confirmation mail; return the row id and address."""
    email = email or f"{unique('f')}@example.org"
    with db.session_scope() as session:
        comment_id = seed.comment("Hello there", status=Status.PUBLISHED, email=email, session=session)
        assert addresses.on_posted(session, session.get(Comment, comment_id), settings)
        [row_id] = outbox.written(session)
    return row_id, email


def attempt(row_id: int, settings, hours: int = 0) -> mailer.Result:  # type: ignore[no-untyped-def]
    """Make one attempt at *row_id* as if *hours* had passed (past any backoff)."""
    return mailer.deliver(row_id, settings, now=utcnow() + timedelta(hours=hours))


def row(row_id: int) -> Outbox:
    with db.session_scope() as session:
        found = session.get(Outbox, row_id)
        session.expunge(found)
        return found


def received(handler: FaultyServer, row_id: int) -> int:
    """How many times the server accepted the mail of row *row_id* (by its Message-ID)."""
    wanted = f"<{row(row_id).message_id}@comments.example.com>"
    return sum(1 for message in handler.messages if message["Message-ID"] == wanted)


def assert_nothing_lost() -> None:
    """Every mail row is final: sent, or failed with a reason; none pending, none held."""
    with db.session_scope() as session:
        rows = session.scalars(select(Outbox).where(Outbox.kind == OutboxKind.MAIL)).all()
        assert rows
        for found in rows:
            assert found.status in (OutboxStatus.SENT, OutboxStatus.FAILED), (found.id, found.status, found.last_error)
            assert found.status == OutboxStatus.SENT or found.last_error, found.id


def naive(moment: datetime) -> datetime:
    """*moment* in UTC without a zone (SQLite gives naive datetimes back, PostgreSQL aware ones)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def assert_retry_pending(row_id: int, attempts: int, error: str) -> None:
    """The row waits for a later attempt: pending, released, a retry time set, the cause recorded."""
    found = row(row_id)
    assert (found.status, found.attempts, found.locked_until) == (OutboxStatus.PENDING, attempts, None)
    assert found.next_attempt_at is not None and naive(found.next_attempt_at) > naive(utcnow())
    assert error in (found.last_error or ""), found.last_error


def test_smtp_down_refused_connection_is_retried_then_sent_once(smtp):
    handler, settings = smtp
    row_id, _ = confirmation(settings)
    down = replace(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}")  # nothing listens there
    first = attempt(row_id, down)
    assert first.status == "retry" and first.retry_in == mailer.backoff(1)
    assert_retry_pending(row_id, 1, "ConnectionRefusedError")
    assert attempt(row_id, settings).status == "skipped"  # not due before its backoff
    assert attempt(row_id, down, hours=1).status == "retry"
    assert attempt(row_id, settings, hours=2).status == "sent"
    assert attempt(row_id, settings, hours=3).status == "skipped"
    assert received(handler, row_id) == 1 and row(row_id).attempts == 3
    assert_nothing_lost()


def test_slow_server_within_the_timeout_is_sent(smtp):
    handler, settings = smtp
    row_id, _ = confirmation(settings)
    # Each answer comes late, the whole exchange takes longer than the timeout: it bounds one operation only.
    handler.delays.update(MAIL=0.4 * TIMEOUT, RCPT=0.4 * TIMEOUT, DATA=0.4 * TIMEOUT)
    began = time.monotonic()
    assert attempt(row_id, settings).status == "sent"
    assert time.monotonic() - began >= 1.2 * TIMEOUT
    assert received(handler, row_id) == 1 and row(row_id).attempts == 1
    assert_nothing_lost()


def hanging_listener() -> socket.socket:
    """A socket on 127.0.0.1 whose connections are accepted (by the kernel) and never answered: no greeting."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    return listener


@pytest.mark.parametrize("where", ["greeting", "DATA"])
def test_hanging_server_times_out_as_transient_then_sends_once_it_behaves(smtp, where):
    handler, settings = smtp
    row_id, _ = confirmation(settings)
    listener = hanging_listener()
    try:
        if where == "greeting":
            hanging = replace(settings, smtp_url=f"smtp://127.0.0.1:{listener.getsockname()[1]}")
        else:
            hanging = settings
            handler.hang.add("DATA")  # the message is sent, the answer never comes
        began = time.monotonic()
        result = attempt(row_id, hanging)
        took = time.monotonic() - began
    finally:
        listener.close()
        handler.release.set()
    assert result.status == "retry", result
    assert TIMEOUT * 0.9 <= took < TIMEOUT * 3, took  # cut by the timeout, not by the server
    assert_retry_pending(row_id, 1, "timed out")
    handler.hang.clear()
    assert attempt(row_id, settings, hours=1).status == "sent"
    assert received(handler, row_id) == 1  # the unanswered DATA was not kept: one mail
    assert_nothing_lost()


@pytest.mark.parametrize(("command", "reply"), [
    ("MAIL", "421 4.3.2 Service not available, closing transmission channel"),
    ("RCPT", "451 4.3.0 Temporary lookup failure"),
    ("DATA", "421 4.7.0 Too many connections, try again later"),
    ("DATA", "451 4.7.1 Greylisted, please try again"),
])
def test_4xx_then_ok_is_retried_then_sent_exactly_once(smtp, command, reply):
    handler, settings = smtp
    row_id, email = confirmation(settings)
    handler.replies[command] = [reply, reply]
    assert attempt(row_id, settings).status == "retry"
    assert_retry_pending(row_id, 1, reply)
    assert attempt(row_id, settings, hours=1).status == "retry"
    assert attempt(row_id, settings, hours=2).status == "sent"
    assert attempt(row_id, settings, hours=3).status == "skipped"  # a duplicate message does nothing
    done = row(row_id)
    assert (done.status, done.attempts, done.last_error, done.locked_until) == (OutboxStatus.SENT, 3, None, None)
    assert received(handler, row_id) == 1
    with db.session_scope() as session:
        assert addresses.find(session, email).bounced_at is None  # a 4xx is no bounce
    assert_nothing_lost()


def test_a_server_answering_4xx_for_ever_ends_failed_after_the_attempts(smtp):
    handler, settings = smtp
    row_id, email = confirmation(settings)
    reply = "451 4.3.0 Mail server temporarily rejected message"
    handler.replies["RCPT"] = [reply] * mailer.MAX_ATTEMPTS
    outcomes = [attempt(row_id, settings, hours=n).status for n in range(mailer.MAX_ATTEMPTS)]
    assert outcomes == ["retry"] * (mailer.MAX_ATTEMPTS - 1) + ["failed"]
    failed = row(row_id)
    assert failed.status == OutboxStatus.FAILED and failed.last_error == f"gave up: {reply}"
    assert attempt(row_id, settings, hours=99).status == "skipped" and handler.messages == []
    with db.session_scope() as session:
        assert addresses.find(session, email).bounced_at is None
    assert_nothing_lost()


@pytest.mark.parametrize(("command", "reply"), [
    ("RCPT", "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown"),
    ("DATA", "550 5.7.1 Message rejected as spam"),
])
def test_550_fails_with_the_reason_marks_the_address_bounced_and_stops_its_mail(smtp, command, reply):
    handler, settings = smtp
    row_id, email = confirmation(settings)
    handler.replies[command] = [reply]
    result = attempt(row_id, settings)
    assert (result.status, result.detail) == ("failed", reply)
    failed = row(row_id)
    assert (failed.status, failed.last_error, failed.attempts) == (OutboxStatus.FAILED, reply, 1)
    assert attempt(row_id, settings, hours=1).status == "skipped"  # no retry of a permanent failure
    with db.session_scope() as session:
        assert addresses.find(session, email).bounced_at is not None
        # A later mail to that address is never sent: failed with why, the server hears nothing.
        later = outbox.record(session, kind=OutboxKind.MAIL, event=addresses.CONFIRM_EVENT, recipient=email,
                              payload={"template": "confirm", "token": "again", "lang": "en"})
    assert attempt(later, settings).status == "failed"
    assert row(later).last_error == "not sent: address unsubscribed or bounced"
    assert handler.messages == []
    # Other addresses are not affected.
    other, _ = confirmation(settings)
    assert attempt(other, settings).status == "sent" and received(handler, other) == 1
    assert_nothing_lost()


def test_a_5xx_to_the_sender_is_parleys_problem_retried_not_a_bounce(smtp):
    handler, settings = smtp
    row_id, email = confirmation(settings)
    handler.replies["MAIL"] = ["553 5.7.1 Sender address rejected: not owned by user"]
    assert attempt(row_id, settings).status == "retry"
    assert_retry_pending(row_id, 1, "553 5.7.1")
    with db.session_scope() as session:
        assert addresses.find(session, email).bounced_at is None
    assert attempt(row_id, settings, hours=1).status == "sent" and received(handler, row_id) == 1
    assert_nothing_lost()
