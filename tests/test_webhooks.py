"""Signed webhooks from the outbox: a real HTTP receiver on 127.0.0.1, retries, disabling, SSRF refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import delete, select, update

from core.comments import authors
from core.errors import ValidationError
from core.moderation import checking, decisions
from core.notifications import endpoints, events, outbox, urls, webhooks
from core.storage import db
from core.storage.models import Comment, Status, utcnow
from core.storage.models_notifications import Outbox, OutboxStatus, WebhookEndpoint
from tests import seed
from tests.support import BIN, ROOT


class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST with the next scripted answer: a code or "hang"."""

    def __init__(self, script: list[int | str], default: int | str = 200) -> None:
        self.script, self.default, self.requests = list(script), default, []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                answer = receiver.script.pop(0) if receiver.script else receiver.default
                if answer == "hang":
                    receiver.release.wait(10)  # longer than the client's read timeout
                    return
                self.send_response(int(answer))
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
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def database(stack, clean_db):  # type: ignore[no-untyped-def]
    db.configure(stack.database_url)
    return stack


@pytest.fixture
def settings(database):  # type: ignore[no-untyped-def]
    return database.settings(webhook_allow_private=True, webhook_timeout_seconds=0.5)


def receiver(script: list[int | str], default: int | str = 200) -> Iterator[Receiver]:
    server = Receiver(script, default)
    try:
        yield server
    finally:
        server.close()


def add_endpoint(settings, url: str, events_: str = ",".join(outbox.EVENTS)) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with db.session_scope() as session:
        endpoint, secret = endpoints.add(session, url, events_, settings)
        return endpoint.id, secret


def record(event: str, comment_id: int) -> list[int]:
    with db.session_scope() as session:
        return outbox.record_event(session, event, comment_id)


def row(outbox_id: int) -> Outbox:
    with db.session_scope() as session:
        found = session.get(Outbox, outbox_id)
        session.expunge(found)
        return found


def test_500_then_timeout_then_200_is_one_delivery_with_valid_signatures(settings):
    for server in receiver([500, "hang", 200]):
        _endpoint, secret = add_endpoint(settings, server.url)
        comment_id = seed.comment("hello there", status=Status.PUBLISHED)
        [outbox_id] = record(outbox.PUBLISHED, comment_id)
        # First attempt: 500, retried after the backoff; not due before it.
        assert webhooks.deliver(outbox_id, settings).status == "retry"
        assert webhooks.deliver(outbox_id, settings).status == "skipped"
        later = utcnow() + timedelta(hours=1)
        timed_out = webhooks.deliver(outbox_id, settings, now=later)
        assert timed_out.status == "retry" and "timed out" in timed_out.detail.lower()
        assert webhooks.deliver(outbox_id, settings, now=later + timedelta(hours=1)).status == "sent"
        # A duplicate message for a delivered row does nothing.
        assert webhooks.deliver(outbox_id, settings, now=later + timedelta(hours=2)).status == "skipped"
        done = row(outbox_id)
        assert (done.status, done.attempts, done.last_error) == (OutboxStatus.SENT, 3, None)
        assert len(server.requests) == 3
        assert len({h["X-Parley-Delivery"] for h, _ in server.requests}) == 1
        assert len({body for _, body in server.requests}) == 1  # the same bytes on every retry
        for headers, body in server.requests:
            expected = hmac.new(secret.encode(), headers["X-Parley-Timestamp"].encode() + b"." + body,
                                hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Parley-Signature"], f"sha256={expected}")
            assert headers["X-Parley-Event"] == "comment.published"
        payload = json.loads(server.requests[0][1])
        assert set(payload) == {"id", "event", "created_at", "comment"}
        assert payload["id"] == done.message_id and payload["comment"]["body"] == "hello there"


def flask(stack, *args: str, broker_url: str | None = None) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    # A redelivery is sent to *broker_url*: a private vhost, so the session's shared worker does not deliver it first.
    env = {**os.environ, **stack.env(WEBHOOK_ALLOW_PRIVATE="1", **({"BROKER_URL": broker_url} if broker_url else {}))}
    return subprocess.run([str(BIN / "flask"), "--app", "webapp", "webhooks", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)


def test_ten_failed_deliveries_disable_the_endpoint_and_the_command_enables_it(database, settings, vhost):
    settings = database.settings(webhook_allow_private=True, webhook_timeout_seconds=0.5, webhook_max_attempts=1)
    for server in receiver([], default=500):
        added = flask(database, "add", server.url, "--events", "comment.published")
        assert added.returncode == 0, added.stderr
        assert "Signing secret (shown once): " in added.stdout
        comment_id = seed.comment("hi", status=Status.PUBLISHED)
        for _ in range(webhooks.MAX_CONSECUTIVE_FAILURES):
            [outbox_id] = record(outbox.PUBLISHED, comment_id)
            assert webhooks.deliver(outbox_id, settings).status == "failed"
        with db.session_scope() as session:
            endpoint = session.scalars(select(WebhookEndpoint)).one()
            endpoint_id = endpoint.id
            assert (endpoint.enabled, endpoint.consecutive_failures) == (False, 10)
        assert record(outbox.PUBLISHED, comment_id) == []  # a disabled endpoint gets nothing new
        assert "DISABLED\tfailures=10" in flask(database, "list").stdout
        listing = flask(database, "deliveries", str(endpoint_id)).stdout.splitlines()
        assert len(listing) == 10 and all("\tfailed\t" in line for line in listing)
        assert flask(database, "enable", str(endpoint_id)).returncode == 0
        assert "enabled\tfailures=0" in flask(database, "list").stdout
        # Redelivery: the same delivery id, sent again; this time the receiver takes it.
        server.default = 200
        delivery_id = listing[0].split("\t")[0]
        assert flask(database, "redeliver", delivery_id, broker_url=vhost).returncode == 0
        with db.session_scope() as session:
            outbox_id = session.scalar(select(Outbox.id).where(Outbox.message_id == delivery_id))
        assert webhooks.deliver(outbox_id, settings).status == "sent"
        assert server.requests[-1][0]["X-Parley-Delivery"] == delivery_id
        assert flask(database, "remove", str(endpoint_id)).returncode == 0
        assert flask(database, "list").stdout == ""


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8080/x", "http://[::1]/", "http://10.1.2.3/", "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/", "ftp://example.com/", "http://user:pw@example.com/",
])
def test_internal_and_odd_urls_are_refused(database, url):
    with pytest.raises(ValidationError):
        urls.check(url, database.settings())


def test_metadata_and_parley_itself_are_refused_even_when_private_addresses_are_allowed(database):
    allowed = database.settings(webhook_allow_private=True, public_base_url="http://127.0.0.1:5000")
    assert urls.check("http://127.0.0.1:5001/hook", allowed)[0] == "127.0.0.1"
    for url in ("http://169.254.169.254/", "http://127.0.0.1:5000/hook"):
        with pytest.raises(ValidationError):
            urls.check(url, allowed)
    with pytest.raises(ValidationError):
        endpoints.add(db.new_session(), "http://127.0.0.1/hook", "comment.published", database.settings())


def count(event: str) -> int:
    with db.session_scope() as session:
        return len(session.scalars(select(Outbox.id).where(Outbox.event == event)).all())


def test_outbox_rows_come_with_the_state_change_and_not_without_it(settings):
    add_endpoint(settings, "http://127.0.0.1:9/hook")
    # The check (the PostgreSQL statement or the portable path) writes the rows with the verdict.
    clean = seed.comment("a lovely day", status=Status.PENDING)
    profane = seed.comment("what the fuck", status=Status.PENDING)
    out = checking.check_comments([clean, profane], max_attempts=3)
    assert len(out[clean].notifications) == 1 and len(out[profane].notifications) == 1
    assert (row(out[clean].notifications[0]).event, row(out[profane].notifications[0]).event) == (
        outbox.PUBLISHED, outbox.FLAGGED)
    # A decision rolled back leaves no row; committed, one.
    approve = decisions.validate({"action": "approve"})
    session = db.new_session()
    decisions.decide(session, profane, approve, "alice", settings)
    assert outbox.written(session)
    session.rollback()
    session.close()
    assert count(outbox.DECIDED) == 0
    with db.session_scope() as session:
        decisions.decide(session, profane, approve, "alice", settings)
    assert count(outbox.DECIDED) == 1
    # The author's delete: one row, however often it is repeated.
    token = "tok"
    mine = seed.comment("mine", status=Status.PUBLISHED, author_token_hash=authors.hash_token(token))
    for _ in range(2):
        with db.session_scope() as session:
            events.delete_comment(session, mine, token)
    assert count(outbox.DELETED) == 1


def test_a_comment_held_for_review_or_flagged_by_its_translation_raises_comment_flagged(settings):
    from core.translation import workflow

    add_endpoint(settings, "http://127.0.0.1:9/hook")
    held = seed.comment("a lovely day", status=Status.PENDING)
    with db.session_scope() as session:
        assert checking.hold_for_review(session, held, "cannot check", 1)
        [note] = outbox.written(session)
    assert row(note).event == outbox.FLAGGED and row(note).comment_id == held
    published = seed.comment("a lovely day", status=Status.PUBLISHED)
    with db.session_scope() as session:
        assert workflow.flag_by_translation(session, published, "fr", ["merde"], 1)
        [note] = outbox.written(session)
    assert row(note).event == outbox.FLAGGED and row(note).comment_id == published


def test_consecutive_deliveries_reuse_one_kept_nodelay_connection_and_survive_its_close(settings):
    """A keep-alive receiver sees one connection for several deliveries; one it closed meanwhile is replaced."""
    peers: list[tuple[str, int]] = []

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            peers.append(self.client_address)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            # After the third answer the receiver drops the connection without saying so (an idle timeout).
            self.close_connection = len(peers) == 3

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        add_endpoint(settings, f"http://127.0.0.1:{server.server_address[1]}/hook")
        ids = [record(outbox.PUBLISHED, seed.comment(f"kept {n}", status=Status.PUBLISHED))[0] for n in range(4)]
        assert [webhooks.deliver(i, settings).status for i in ids[:3]] == ["sent"] * 3
        assert len(peers) == 3 and len(set(peers)) == 1  # one TCP connection for the three
        # Nagle off: else the body (a second send) waits for the ACK the receiver delays by up to 40 ms.
        kept = [connection.sock for connection in webhooks._connections().values() if connection.sock is not None]
        assert kept and all(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for sock in kept)
        # The receiver dropped the kept connection: the next delivery goes out on a new one, once.
        assert webhooks.deliver(ids[3], settings).status == "sent"
        assert len(peers) == 4 and peers[3] != peers[0]
        assert row(ids[3]).attempts == 1
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("policy", ["hold", "censor"])
def test_the_delivery_body_is_the_public_view_the_api_shows(database, policy):
    """The webhook body's comment (one Core read) is exactly the ORM public view with its reply count."""
    from core.comments import reading, views
    from core.notifications import bodies

    shown = seed.comment("Bonjour à tous", status=Status.PUBLISHED, lang="fr",
                         translations={"en": "Hello all", "de": {"status": "pending"}})
    flagged = seed.comment(status=Status.FLAGGED, translations={"fr": "Quelle merde"})
    bare = seed.comment("no translations", status=Status.PUBLISHED, translations=None)
    seed.comment("a reply", status=Status.PUBLISHED, parent_id=shown, depth=1)
    seed.comment("a hidden reply", status=Status.FLAGGED, parent_id=shown, depth=1)
    for comment_id in (shown, flagged, bare):
        with db.session_scope() as session:
            comment = reading.get(session, comment_id)
            count = reading.reply_counts(session, [comment_id], policy).get(comment_id, 0)
            expected = views.public_view(comment, policy, reply_count=count)
        with db.autocommit() as connection:
            assert bodies.public_view(connection, comment_id, policy) == expected
    with db.autocommit() as connection:
        assert bodies.public_view(connection, 10**9, "hold") is None
        # The claim batch reads them all in one statement: the same views, and none for a comment gone.
        assert bodies.public_views(connection, [shown, flagged, bare, 10**9, shown], policy) == {
            comment_id: bodies.public_view(connection, comment_id, policy) for comment_id in (shown, flagged, bare)}


def test_a_claim_batch_builds_its_first_attempts_bodies_as_a_lone_delivery_would(settings):
    """delivery's claim batcher builds the bodies of the webhook rows it claimed for their first attempt in one
    read; a retry keeps the body its first attempt stored."""
    from core.notifications import bodies, delivery

    add_endpoint(settings, "http://127.0.0.1:9/hook")
    ids = [record(outbox.PUBLISHED, seed.comment(f"batched {n}", status=Status.PUBLISHED,
                                                 translations={"fr": f"lot {n}"}))[0] for n in range(3)]
    with db.session_scope() as session:
        gone = seed.comment("deleted before its delivery", status=Status.PUBLISHED, session=session)
        ids += outbox.record_event(session, outbox.PUBLISHED, gone)
    with db.session_scope() as session:
        session.execute(delete(Comment).where(Comment.id == gone))
        kept = {"id": "stored-by-an-earlier-attempt"}
        session.execute(update(Outbox).where(Outbox.id == ids[0]).values(payload=kept))
    claimed = delivery._with_bodies(outbox.claim_many(ids), settings.moderation_policy)
    assert claimed[ids[0]].body is None and claimed[ids[0]].payload == kept  # a retry sends what it stored
    with db.autocommit() as connection:
        for outbox_id in ids[1:]:
            row = claimed[outbox_id]
            assert row.body == bodies.body(connection, row.message_id, row.event, row.created_at, row.comment_id,
                                           settings.moderation_policy)
    assert claimed[ids[-1]].body["comment"] is None
