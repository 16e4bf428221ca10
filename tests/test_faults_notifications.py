"""Fault injection on notifications: a worker SIGKILLed between the SMTP server's accept and the outbox update, and
reply mails and webhooks through a broker restart.

Real ``dramatiq actors`` (and gunicorn, ``scheduler.py``) processes run against the private RabbitMQ node and
PostgreSQL cluster; a real SMTP server (aiosmtpd) and an HTTP receiver on 127.0.0.1 count what arrives, and
``fault_support.assert_deliveries`` checks the deliveries per outbox row.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from aiosmtpd.controller import Controller
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.config import Settings
from core.messaging.broker import DELIVER_NOTIFICATION, NOTIFICATIONS_QUEUE
from core.notifications import addresses, endpoints, outbox, replies
from core.storage.models import Comment, Status, utcnow
from core.storage.models_notifications import Outbox, OutboxStatus
from tests import fault_support, seed, support
from tests.fault_support import FaultStack, History, unique_body

pytestmark = pytest.mark.slow
BASE = "https://comments.example.com"
SECRET = "fault-notifications-secret-key"
#: A short lease, so the row of a killed worker is sent again within seconds (the default is 120 s).
LEASE_SECONDS = 4


class MailSink:
    """An SMTP server on 127.0.0.1 keeping every mail it accepts; it can hold the QUIT of the session that sent one."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.stall_for: str | None = None  # a row's message id: hold the QUIT after its mail was accepted
        self.delay = 0.0  # seconds before answering DATA
        self.stalled, self.release = threading.Event(), threading.Event()
        self._holding: set[int] = set()
        self.controller = Controller(self, hostname="127.0.0.1", port=support.free_port())
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.controller.port}"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's names)
        await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(message)
        if self.stall_for and self.stall_for in message["Message-ID"]:
            self._holding.add(id(session))
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802
        if id(session) in self._holding:
            # Accepted and answered 250; the sender is now between the SMTP accept and its outbox update.
            self.stalled.set()
            for _ in range(600):
                if self.release.is_set():
                    break
                await asyncio.sleep(0.05)
        return "221 Bye"

    def seen(self) -> Counter[str]:
        """Accepted mails by message id (the Message-ID without ``<`` and ``@host>``)."""
        return Counter(m["Message-ID"].strip("<>").rpartition("@")[0] for m in list(self.messages))

    def close(self) -> None:
        """Stop serving."""
        self.release.set()
        self.controller.stop()


class HookSink:
    """A webhook receiver on 127.0.0.1 answering 200 after *delay*, counting deliveries by id, checking signatures."""

    def __init__(self, delay: float = 0.0) -> None:
        self.deliveries: list[str] = []
        self.bad_signatures: list[str] = []
        self.secret = ""
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(sink.secret.encode(), self.headers["X-Parley-Timestamp"].encode()
                                                + b"." + body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, self.headers["X-Parley-Signature"]):
                    sink.bad_signatures.append(self.headers["X-Parley-Delivery"])
                sink.deliveries.append(self.headers["X-Parley-Delivery"])
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink()
    yield sink
    sink.close()


def notifying(stack: FaultStack, sink: MailSink) -> Settings:
    """Turn mail (to *sink*) and private webhook URLs on for every process of *stack*; return matching settings."""
    stack.settings.update(SMTP_URL=sink.url, PUBLIC_BASE_URL=BASE, SECRET_KEY=SECRET, SMTP_TIMEOUT_SECONDS="2",
                          OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS), WEBHOOK_ALLOW_PRIVATE="1",
                          WEBHOOK_TIMEOUT_SECONDS="2")
    return Settings(smtp_url=sink.url, public_base_url=BASE, secret_key=SECRET, webhook_allow_private=True)


def write_confirmations(stack: FaultStack, settings: Settings, count: int) -> list[int]:
    """Store *count* comments giving new addresses, each with its confirmation mail; return the outbox ids."""
    with Session(stack.engine) as session, session.begin():
        for _ in range(count):
            comment_id = seed.comment("Bonjour", status=Status.PUBLISHED, email=f"{uuid.uuid4().hex[:10]}@example.org",
                                      session=session)
            assert addresses.on_posted(session, session.get(Comment, comment_id), settings)
        return outbox.written(session)


def dispatch(stack: FaultStack, ids: list[int]) -> None:
    """Send each row to the workers and record the dispatch, as the web does after its commit."""
    for outbox_id in ids:
        stack.send(NOTIFICATIONS_QUEUE, DELIVER_NOTIFICATION, outbox_id)
    with Session(stack.engine) as session, session.begin():
        session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(dispatched_at=utcnow()))


def row(stack: FaultStack, outbox_id: int) -> Outbox:
    with Session(stack.engine) as session:
        found = session.get(Outbox, outbox_id)
        session.expunge(found)
        return found


def all_sent(stack: FaultStack, ids: list[int]) -> bool:
    return all(row(stack, outbox_id).status == OutboxStatus.SENT for outbox_id in ids)


def test_worker_killed_between_smtp_accept_and_outbox_update_resends_with_the_same_message_id(
        fault_stack: FaultStack, mail_sink: MailSink) -> None:
    stack = fault_stack
    settings = notifying(stack, mail_sink)
    worker = stack.start_worker()
    stack.start_scheduler()  # its sweep (outbox.due) is the fallback if the redelivery came before the lease expired
    # Given a normal batch through the real worker: each mail arrives exactly once.
    batch = write_confirmations(stack, settings, 6)
    dispatch(stack, batch)
    support.poll(lambda: all_sent(stack, batch), 30, interval=0.1, what="the normal batch sent")
    # When the worker is SIGKILLed after the server accepted a mail (250) and before the row is marked sent...
    [victim] = write_confirmations(stack, settings, 1)
    mail_sink.stall_for = row(stack, victim).message_id
    dispatch(stack, [victim])
    support.poll(mail_sink.stalled.is_set, 30, interval=0.05, what="the server to accept the victim's mail")
    held = row(stack, victim)
    assert (held.status, held.attempts, mail_sink.seen()[held.message_id]) == (OutboxStatus.PENDING, 1, 1)
    worker.signal(signal.SIGKILL)
    assert worker.popen.wait(10) == -signal.SIGKILL
    mail_sink.release.set()
    assert row(stack, victim).status == OutboxStatus.PENDING  # nobody recorded the send
    # ...and a new worker starts once the dead one's lease is over,
    lease_end = held.locked_until.astimezone(UTC)
    support.poll(lambda: utcnow() > lease_end + timedelta(milliseconds=100), LEASE_SECONDS + 5, interval=0.1,
                 what="the killed worker's lease to expire")
    stack.start_worker()
    # Then the row is delivered again, with the same Message-ID, and marked sent after its second attempt.
    support.poll(lambda: all_sent(stack, [victim]), 45, interval=0.1, what="the victim's mail sent again")
    again = [m for m in mail_sink.messages if held.message_id in m["Message-ID"]]
    assert [m["Message-ID"] for m in again] == [f"<{held.message_id}@comments.example.com>"] * 2
    assert again[0]["To"] == again[1]["To"] and row(stack, victim).attempts == 2
    # A second batch through the new worker: exactly once again.
    later = write_confirmations(stack, settings, 4)
    dispatch(stack, later)
    per_row = fault_support.assert_deliveries(stack, mail_sink.seen, at_most=2, settle=30)
    assert per_row == {**{outbox_id: 1 for outbox_id in batch + later}, victim: 2}


def pending(stack: FaultStack) -> set[int]:
    """The ids of the outbox rows not sent yet."""
    with Session(stack.engine) as session:
        return set(session.scalars(select(Outbox.id).where(Outbox.status == OutboxStatus.PENDING)))


def confirm_link(message: EmailMessage) -> str:
    """The path and token of the confirm link in *message*."""
    body = message.get_body(("plain",)).get_content()
    return re.search(re.escape(BASE) + r"(/notifications/confirm\?token=[\w-]+)", body)[1]


def test_reply_mails_and_webhooks_through_a_broker_restart_arrive_once_none_lost(
        fault_stack: FaultStack, mail_sink: MailSink) -> None:
    stack = fault_stack
    settings = notifying(stack, mail_sink)
    # Slow receivers: deliveries are still queued or running when the broker goes away.
    hooks, mail_sink.delay = HookSink(delay=0.5), 0.2
    try:
        with Session(stack.engine) as session, session.begin():
            _endpoint, hooks.secret = endpoints.add(session, hooks.url, outbox.PUBLISHED, settings)
        stack.start_web()
        stack.start_worker()
        stack.start_scheduler()
        history = History()
        # Given three authors who confirmed their address and asked to hear of replies.
        parents = [stack.post(history, unique_body(f"parent-{n}"), email=f"p{n}-{uuid.uuid4().hex[:8]}@example.org",
                              notify_replies=True) for n in range(3)]
        assert [p.kind for p in parents] == ["ok"] * 3, parents
        support.poll(lambda: len(mail_sink.messages) >= 3, 30, what="three confirmation mails")
        for message in list(mail_sink.messages):
            assert requests.get(stack.web_url + confirm_link(message), timeout=10).status_code == 200
        for parent in parents:
            stack.wait_settled(parent.comment_id)

        def post_replies(prefix: str, count: int) -> list[fault_support.Outcome]:
            return [stack.post(history, unique_body(f"{prefix}-{n}"), parent_id=parents[n % 3].comment_id)
                    for n in range(count)]

        # When replies are posted, the broker is stopped while their mails and webhooks are in flight, more replies
        # and new addresses (confirmation mails the broker never gets) arrive meanwhile, and it is started again,
        before = post_replies("before", 6)
        support.poll(lambda: len(pending(stack)) >= 3, 30, interval=0.05, what="notifications in flight")
        in_flight = pending(stack)
        stack.rabbit.stop()
        during = post_replies("during", 4)
        newcomers = [stack.post(history, unique_body(f"newcomer-{n}"), email=f"n{n}-{uuid.uuid4().hex[:8]}@example.org")
                     for n in range(2)]
        fault_support.start_again(stack.rabbit)
        after = post_replies("after", 3)
        assert all(o.kind == "ok" for o in before + during + newcomers + after), history.summary()
        # Then every comment settles, and every outbox row is sent: once, at most twice with the same id.
        fault_support.assert_invariants(stack, history, settle=90)
        per_row = fault_support.assert_deliveries(stack, lambda: mail_sink.seen() + Counter(hooks.deliveries),
                                                  at_most=2, settle=60)
        assert not hooks.bad_signatures
    finally:
        hooks.close()
    rows = fault_support.outbox_rows(stack)
    assert in_flight <= {r.id for r in rows if r.status == OutboxStatus.SENT}
    replied = [o.comment_id for o in before + during + after]
    # One reply mail per reply, to its parent's author; one webhook per published comment; one confirmation each.
    assert sorted(r.comment_id for r in rows if r.event == replies.REPLY_EVENT) == sorted(replied)
    posted = [o.comment_id for o in parents + newcomers] + replied
    assert sorted(r.comment_id for r in rows if r.event == outbox.PUBLISHED) == sorted(posted)
    confirmations = {r.comment_id: r for r in rows if r.event == addresses.CONFIRM_EVENT}
    assert sorted(confirmations) == sorted(o.comment_id for o in parents + newcomers)
    assert len(rows) == len(per_row) == 3 * 2 + 13 * 2 + 2 * 2
    # The newcomers' confirmations were never published by the web (the broker was down): the sweep sent them.
    for outcome in newcomers:
        late = confirmations[outcome.comment_id]
        assert late.dispatched_at - late.created_at >= timedelta(seconds=fault_support.UNDISPATCHED_GRACE), late.id
    with Session(stack.engine) as session:
        assert session.scalar(select(Comment.id).where(Comment.status != Status.PUBLISHED)) is None
