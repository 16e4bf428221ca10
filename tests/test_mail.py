"""Mail against a real SMTP server (aiosmtpd on 127.0.0.1): double opt-in, reply notifications, retries, bounces,
one-click unsubscribe. The outbox rows are delivered in-process with ``core.notifications.mailer.deliver``."""

from __future__ import annotations

import re
import socket
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete, select

from core.notifications import addresses, mailer, replies
from core.storage import db
from core.storage.models import Comment, Status, utcnow
from core.storage.models_notifications import MailAddress, Outbox, OutboxStatus
from tests.clients import VALID, post
from tests.support import poll, start_worker, unique

BASE = "https://comments.example.com"


class Script:
    """An SMTP handler that keeps what it accepts and answers with scripted refusals first."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.rcpt_replies: list[str] = []
        self.data_replies: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's names)
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def smtp():  # type: ignore[no-untyped-def]
    """A real SMTP server on 127.0.0.1 for this module."""
    handler = Script()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def mail(smtp, stack, clean_db, vhost):  # type: ignore[no-untyped-def]
    """The SMTP script (emptied) and settings that send mail to it, and their messages to a private vhost (the
    session's shared worker would deliver them before the test does)."""
    handler, port = smtp
    handler.messages.clear(), handler.rcpt_replies.clear(), handler.data_replies.clear()
    db.configure(stack.database_url)
    with db.session_scope() as session:  # rows other modules' tests left
        session.execute(delete(Outbox))
        session.execute(delete(MailAddress))
    settings = stack.settings(smtp_url=f"smtp://127.0.0.1:{port}", public_base_url=BASE, smtp_timeout_seconds=3.0,
                              secret_key="test-secret-for-mail-tokens", broker_url=vhost)
    return handler, settings


@pytest.fixture
def client(mail):  # type: ignore[no-untyped-def]
    """A client of the app configured for mail."""
    from webapp import create_app

    return create_app({"PARLEY": mail[1], "TESTING": True}).test_client()


def pending_ids() -> list[int]:
    with db.session_scope() as session:
        return list(session.scalars(select(Outbox.id).where(Outbox.status == OutboxStatus.PENDING).order_by(Outbox.id)))


def deliver_all(settings, later: timedelta = timedelta(0)) -> list[str]:  # type: ignore[no-untyped-def]
    """Make one attempt at every pending row (as the actor would), *later* than now; return the outcomes."""
    return [mailer.deliver(row_id, settings, now=utcnow() + later).status for row_id in pending_ids()]


def link(message: EmailMessage, path: str) -> str:
    """Return the token of the first link to *path* in the plain-text part of *message*."""
    body = message.get_body(("plain",)).get_content()
    return re.search(re.escape(BASE + path) + r"\?token=([\w-]+)", body)[1]


def subscribe(client, handler, settings, email: str, **fields) -> int:  # type: ignore[no-untyped-def]
    """Post a published comment giving *email*, confirm the address from its mail; return the comment id."""
    response = post(client, {**VALID, "email": email, "notify_replies": True, **fields})
    assert response.status_code == 202, response.get_json()
    assert deliver_all(settings) == ["sent"]
    confirmation = handler.messages.pop()
    assert confirmation["To"] == email and confirmation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert client.get(f"/notifications/confirm?token={link(confirmation, '/notifications/confirm')}").status_code == 200
    comment_id = response.get_json()["id"]
    make_visible(comment_id, settings)
    return comment_id


def make_visible(comment_id: int, settings) -> bool:  # type: ignore[no-untyped-def]
    """Publish *comment_id* as the check does, calling on_visible in the same transaction."""
    with db.session_scope() as session:
        comment = session.get(Comment, comment_id)
        comment.status, comment.checked_at = Status.PUBLISHED, utcnow()
        session.flush()
        return replies.on_visible(session, comment, settings)


def reply(client, parent_id: int, body: str = "Thanks!", **fields) -> int:  # type: ignore[no-untyped-def]
    response = post(client, {**VALID, "author": "Bob", "body": body, "parent_id": parent_id, **fields})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def test_confirmation_then_one_reply_notification_escaped_with_one_click_unsubscribe(client, mail):
    handler, settings = mail
    email = f"{unique('ada')}@example.org"
    parent = subscribe(client, handler, settings, email, lang="fr")
    assert deliver_all(settings) == []  # publishing a top-level comment mails nobody
    child = reply(client, parent, body="<script>alert('x')</script> & <b>bold</b>", author="Bob <evil>")
    assert make_visible(child, settings) is True
    assert make_visible(child, settings) is False  # visible again (re-checked): not announced twice
    assert deliver_all(settings) == ["sent"]
    assert deliver_all(settings) == []
    [message] = handler.messages
    with db.session_scope() as session:
        row = session.scalar(select(Outbox).where(Outbox.comment_id == child, Outbox.event == replies.REPLY_EVENT))
        assert row.status == OutboxStatus.SENT and row.sent_at is not None
        assert message["Message-ID"] == f"<{row.message_id}@comments.example.com>"
    assert message["To"] == email and "a répondu" in message["Subject"]  # the parent's author's language
    token = link(message, "/notifications/unsubscribe")
    assert message["List-Unsubscribe"] == f"<{BASE}/notifications/unsubscribe?token={token}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    assert "Bob &lt;evil&gt;" in html and "<b>" not in html
    assert "<script>alert('x')</script> & <b>bold</b>" in message.get_body(("plain",)).get_content()
    # The page shows a button; the RFC 8058 one-click POST needs no session and no CSRF token.
    assert b"<button" in client.get(f"/notifications/unsubscribe?token={token}").data
    answer = client.post(f"/notifications/unsubscribe?token={token}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and b"Unsubscribed" in answer.data
    assert client.post("/notifications/unsubscribe?token=nope").status_code == 404
    with db.session_scope() as session:
        assert addresses.find(session, email).unsubscribed_at is not None
    # No more mail to it: a later reply is not announced.
    assert make_visible(reply(client, parent), settings) is False


def test_nothing_for_unconfirmed_opted_out_hidden_or_self_replies(client, mail):
    handler, settings = mail
    # Unconfirmed: the confirmation is the only mail.
    waiting = post(client, {**VALID, "email": f"{unique('w')}@example.org", "notify_replies": True}).get_json()["id"]
    make_visible(waiting, settings)
    assert deliver_all(settings) == ["sent"] and len(handler.messages) == 1
    handler.messages.clear()
    assert make_visible(reply(client, waiting), settings) is False
    # Confirmed but this comment did not opt in.
    email = f"{unique('c')}@example.org"
    opted_out = subscribe(client, handler, settings, email, notify_replies=False)
    assert make_visible(reply(client, opted_out), settings) is False
    # Confirmed and opted in: a hidden (flagged) reply, and the author's own reply, mail nobody.
    parent = post(client, {**VALID, "email": email.upper(), "notify_replies": True}).get_json()["id"]
    make_visible(parent, settings)
    hidden = reply(client, parent)
    with db.session_scope() as session:
        comment = session.get(Comment, hidden)
        comment.status = Status.FLAGGED
        session.flush()
        assert replies.on_visible(session, comment, settings) is False
    assert make_visible(reply(client, parent, email=email), settings) is False
    assert deliver_all(settings) == [] and handler.messages == []
    # The address is known: no second confirmation either.
    with db.session_scope() as session:
        assert session.scalar(select(MailAddress.confirmed_at).where(MailAddress.address == email)) is not None


def test_transient_replies_are_retried_then_delivered_once(client, mail):
    handler, settings = mail
    parent = subscribe(client, handler, settings, f"{unique('t')}@example.org")
    child = reply(client, parent)
    make_visible(child, settings)
    handler.data_replies[:] = ["421 Service not available, closing channel", "451 Try again later"]
    assert deliver_all(settings) == ["retry"]
    assert deliver_all(settings) == ["skipped"]  # not due yet: the backoff holds
    assert deliver_all(settings, later=timedelta(minutes=1)) == ["retry"]
    assert deliver_all(settings, later=timedelta(minutes=2)) == ["sent"]
    assert len(handler.messages) == 1
    with db.session_scope() as session:
        row = session.scalar(select(Outbox).where(Outbox.comment_id == child, Outbox.event == replies.REPLY_EVENT))
        assert row.status == OutboxStatus.SENT and row.attempts == 3


def test_refused_connection_is_transient(client, mail):
    handler, settings = mail
    parent = subscribe(client, handler, settings, f"{unique('r')}@example.org")
    make_visible(reply(client, parent), settings)
    closed = replace(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    assert deliver_all(closed) == ["retry"]
    assert deliver_all(settings, later=timedelta(minutes=1)) == ["sent"] and len(handler.messages) == 1


def test_permanent_refusal_fails_with_the_reason_and_marks_the_address_bounced(client, mail):
    handler, settings = mail
    email = f"{unique('b')}@example.org"
    parent = subscribe(client, handler, settings, email)
    child = reply(client, parent)
    make_visible(child, settings)
    handler.rcpt_replies[:] = ["550 5.1.1 No such mailbox here"]
    assert deliver_all(settings) == ["failed"]
    with db.session_scope() as session:
        row = session.scalar(select(Outbox).where(Outbox.comment_id == child, Outbox.event == replies.REPLY_EVENT))
        assert row.status == OutboxStatus.FAILED and row.last_error == "550 5.1.1 No such mailbox here"
        assert addresses.find(session, email).bounced_at is not None
    assert make_visible(reply(client, parent), settings) is False
    assert handler.messages == []


def test_moderator_digest_once_per_slot_and_none_when_nothing_is_new(client, mail):
    from core.notifications import digest
    from core.scheduling import maintenance, schedule
    from tests import seed

    handler, settings = mail
    seed.moderator("alice")
    with db.session_scope() as session:
        digest.set_email(session, "alice", "Alice@Example.org", settings)
        digest.set_notify(session, "alice", True)
    spec = schedule.job_specs(settings)["digest"]
    slot = spec.latest_slot(utcnow())
    assert maintenance.run("digest", slot - timedelta(minutes=15), settings) is not None  # nothing new yet
    flagged = seed.comment("<i>Rude</i> words, shit.")
    assert maintenance.run("digest", slot, settings).detail["mails"] == 1
    assert maintenance.run("digest", slot, settings) is None  # the ledger: once per slot
    assert maintenance.run("digest", slot + timedelta(minutes=15), settings).detail["mails"] == 0
    assert deliver_all(settings) == ["sent"]
    [message] = handler.messages
    assert message["To"] == "alice@example.org" and "1 newly flagged" in message["Subject"]
    assert f"{BASE}/moderation/comments/{flagged}" in message.get_body(("plain",)).get_content()
    assert "&lt;i&gt;Rude&lt;/i&gt;" in message.get_body(("html",)).get_content()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_check_and_an_approval_write_the_reply_mail_with_the_verdict(client, mail):
    from core.moderation import checking, decisions

    handler, settings = mail
    parent = subscribe(client, handler, settings, f"{unique('k')}@example.org")
    clean, rude = reply(client, parent, body="Well said."), reply(client, parent, body="what the fuck")
    out = checking.check_comments([clean, rude], max_attempts=3, settings=settings)
    assert out[clean].status == Status.PUBLISHED and out[rude].status == Status.FLAGGED
    [mail_id] = out[clean].notifications  # no webhook endpoint here: the reply mail only
    assert out[rude].notifications == []  # a flagged reply is hidden: nobody is told
    with db.session_scope() as session:
        assert session.get(Outbox, mail_id).comment_id == clean
        decisions.decide(session, rude, decisions.validate({"action": "approve"}), "alice", settings)
    assert deliver_all(settings) == ["sent", "sent"] and len(handler.messages) == 2
    assert checking.check_comments([clean], max_attempts=3, settings=settings) == {}  # done: nothing twice


def test_a_reply_published_by_the_real_worker_arrives_once(mail, stack, vhost):
    from webapp import create_app

    handler, settings = mail
    settings = replace(settings, broker_url=vhost)  # a vhost only this test's worker consumes from
    client = create_app({"PARLEY": settings, "TESTING": True}).test_client()
    worker = start_worker(stack.env(BROKER_URL=vhost, SMTP_URL=settings.smtp_url, PUBLIC_BASE_URL=BASE,
                                    SECRET_KEY=settings.secret_key, SMTP_TIMEOUT_SECONDS="3"))
    try:
        email = f"{unique('w')}@example.org"
        parent = post(client, {**VALID, "email": email, "notify_replies": True}).get_json()["id"]
        confirmation = poll(lambda: handler.messages[:1], 30, what="the confirmation mail")[0]
        assert client.get(f"/notifications/confirm?token={link(confirmation, '/notifications/confirm')}"
                          ).status_code == 200
        poll(lambda: status_of(parent) == Status.PUBLISHED, 30, what="the parent's check")
        child = reply(client, parent, body="Agreed.")
        poll(lambda: status_of(child) == Status.PUBLISHED, 30, what="the reply's check")

        def sent() -> Outbox | None:
            with db.session_scope() as session:
                return session.scalar(select(Outbox).where(Outbox.comment_id == child,
                                                           Outbox.status == OutboxStatus.SENT))

        row = poll(sent, 30, what="the reply mail sent")
    finally:
        worker.stop()
    mails = [m for m in handler.messages if m["Message-ID"] == f"<{row.message_id}@comments.example.com>"]
    assert len(mails) == 1 and mails[0]["To"] == email and len(handler.messages) == 2


def status_of(comment_id: int) -> str:
    with db.session_scope() as session:
        return session.get(Comment, comment_id).status
