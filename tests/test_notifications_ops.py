"""Operating notifications: the webhooks admin page (admins only, CSRF, escaped), the outbox gauges and the
worker's sends counter, against real RabbitMQ and a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import re
from datetime import timedelta

import pika
import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from core.messaging import counters
from core.messaging.dispatch import get_dispatcher
from core.notifications import delivery, endpoints, outbox
from core.storage import db
from core.storage.models import Status, utcnow
from core.storage.models_notifications import Outbox, OutboxKind, OutboxStatus, WebhookEndpoint
from tests import seed, support
from tests.clients import csrf, login, post_form
from tests.test_webhooks import Receiver

XSS = "<script>alert(1)</script>"


@pytest.fixture
def ops_client(stack, vhost, clean_db):  # type: ignore[no-untyped-def]
    """A client of an app on a private vhost that allows private webhook addresses; a moderator and an admin."""
    from webapp import create_app

    settings = stack.settings(broker_url=vhost, webhook_allow_private=True, webhook_timeout_seconds=0.5)
    client = create_app({"PARLEY": settings, "TESTING": True}).test_client()
    client.settings = settings
    seed.moderator("mod")
    seed.moderator("boss", role="admin")
    return client


def add_endpoint(settings, url: str, events: str = ",".join(outbox.EVENTS)) -> int:  # type: ignore[no-untyped-def]
    """Add an endpoint as the CLI does; return its id."""
    with db.session_scope() as session:
        return endpoints.add(session, url, events, settings)[0].id


def delivery_row(endpoint_id: int, comment_id: int, **columns: object) -> tuple[int, str]:
    """Write one webhook outbox row of *endpoint_id* with *columns*; return its id and delivery id."""
    with db.session_scope() as session:
        outbox_id = outbox.record(session, kind=OutboxKind.WEBHOOK, event=outbox.PUBLISHED, comment_id=comment_id,
                                  endpoint_id=endpoint_id)
        if columns:
            session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**columns))
        return outbox_id, session.get(Outbox, outbox_id).message_id


def state(model, row_id: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Return the columns of one row, read afresh."""
    with db.session_scope() as session:
        row = session.get(model, row_id)
        return {c.key: getattr(row, c.key) for c in model.__table__.columns} if row else {}


def depth(url: str, queue: str) -> int:
    """Return the ready messages in *queue* (0 when it does not exist yet)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue=queue, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        if connection.is_open:
            connection.close()


def test_the_page_is_for_admins_only_and_every_form_needs_the_csrf_token(ops_client):
    endpoint_id = add_endpoint(ops_client.settings, "http://127.0.0.1:9/hook")
    paths = ["/moderation/webhooks", f"/moderation/webhooks/{endpoint_id}/disable",
             f"/moderation/webhooks/{endpoint_id}/enable", f"/moderation/webhooks/{endpoint_id}/redeliver"]
    # Not logged in: the page and every form lead to the login page.
    for path in ["/moderation/webhooks", f"/moderation/webhooks/{endpoint_id}"]:
        response = ops_client.get(path)
        assert response.status_code == 302 and "/moderation/login" in response.headers["Location"]
    for path in paths:
        assert post_form(ops_client, path, url="http://127.0.0.1:9/x", events="comment.published").status_code == 302
    # A moderator without the admin role neither sees nor changes anything, and has no link to it.
    login(ops_client, "mod")
    assert "/moderation/webhooks" not in ops_client.get("/moderation/").text
    assert ops_client.get("/moderation/webhooks").status_code == 403
    assert ops_client.get(f"/moderation/webhooks/{endpoint_id}").status_code == 403
    for path in paths:
        assert post_form(ops_client, path, url="http://127.0.0.1:9/x", events="comment.published").status_code == 403
    # An admin's forms without the token are refused before anything happens.
    login(ops_client, "boss")
    assert 'href="/moderation/webhooks"' in ops_client.get("/moderation/").text
    for path in paths:
        assert ops_client.post(path, data={"url": "http://127.0.0.1:9/x", "events": "comment.published",
                                           "delivery_id": "x"}).status_code == 400
    with db.session_scope() as session:
        assert [(e.id, e.enabled) for e in session.scalars(select(WebhookEndpoint))] == [(endpoint_id, True)]
    page = ops_client.get("/moderation/webhooks")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert page.text.count(f'name="csrf_token" value="{csrf(ops_client)}"') >= 3  # logout, disable, add


def test_an_admin_adds_an_endpoint_whose_url_is_checked_and_sees_its_secret_once(ops_client, stack):
    from webapp import create_app

    login(ops_client, "boss")
    added = post_form(ops_client, "/moderation/webhooks", url="http://127.0.0.1:9/hook",
                      events=["comment.published", "comment.deleted"])
    assert added.status_code == 200
    secret = re.search(r'<code class="secret">([0-9a-f]{64})</code>', added.text).group(1)
    with db.session_scope() as session:
        endpoint = session.scalars(select(WebhookEndpoint)).one()
        assert (endpoint.url, endpoint.events, endpoint.secret) == ("http://127.0.0.1:9/hook",
                                                                    ["comment.published", "comment.deleted"], secret)
    listing = ops_client.get("/moderation/webhooks").text
    assert "http://127.0.0.1:9/hook" in listing and secret not in listing
    # Refused as the CLI refuses: unknown events, no event, metadata addresses, odd schemes, too long.
    for url, events in [("http://127.0.0.1:9/x", ["comment.liked"]), ("http://127.0.0.1:9/x", []),
                        ("http://169.254.169.254/latest/meta-data/", ["comment.published"]),
                        ("ftp://example.com/", ["comment.published"]),
                        ("http://127.0.0.1:9/" + "a" * 2000, ["comment.published"])]:
        refused = post_form(ops_client, "/moderation/webhooks", url=url, events=events)
        assert refused.status_code == 302
        assert "Webhook not added" in ops_client.get("/moderation/webhooks").text
    # Without WEBHOOK_ALLOW_PRIVATE an internal address is refused too.
    strict = create_app({"PARLEY": stack.settings(), "TESTING": True}).test_client()
    login(strict, "boss")
    post_form(strict, "/moderation/webhooks", url="http://127.0.0.1:9/other", events=["comment.published"])
    assert "an internal address" in strict.get("/moderation/webhooks").text
    with db.session_scope() as session:
        assert session.scalars(select(WebhookEndpoint.url)).all() == ["http://127.0.0.1:9/hook"]


def test_urls_and_errors_are_shown_escaped(ops_client):
    endpoint_id = add_endpoint(ops_client.settings, f"http://127.0.0.1:9/{XSS}")
    comment_id = seed.comment("hi", status=Status.PUBLISHED)
    delivery_row(endpoint_id, comment_id, status=OutboxStatus.FAILED, attempts=8, last_error=f"HTTP 500 {XSS}")
    login(ops_client, "boss")
    for path in ("/moderation/webhooks", f"/moderation/webhooks/{endpoint_id}"):
        page = ops_client.get(path).text
        assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_disable_enable_again_and_redeliver_change_the_database(ops_client, vhost):
    # Given an endpoint disabled by ten failed deliveries, one of them listed as failed and one still pending
    endpoint_id = add_endpoint(ops_client.settings, "http://127.0.0.1:9/hook")
    other_id = add_endpoint(ops_client.settings, "http://127.0.0.1:9/other")
    comment_id = seed.comment("hi", status=Status.PUBLISHED)
    failed_id, failed = delivery_row(endpoint_id, comment_id, status=OutboxStatus.FAILED, attempts=8,
                                     last_error="HTTP 500", dispatched_at=utcnow())
    _pending_id, pending = delivery_row(endpoint_id, comment_id, attempts=1,
                                        next_attempt_at=utcnow() + timedelta(minutes=5))
    _, elsewhere = delivery_row(other_id, comment_id, status=OutboxStatus.FAILED, attempts=8)
    with db.session_scope() as session:
        session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                        .values(enabled=False, consecutive_failures=10, disabled_at=utcnow()))
    login(ops_client, "boss")
    assert "10 failed deliveries in a row" in ops_client.get("/moderation/webhooks").text
    page = ops_client.get(f"/moderation/webhooks/{endpoint_id}").text
    assert failed in page and pending in page and elsewhere not in page
    assert f'aria-label="Redeliver {failed}"' in page and f'aria-label="Redeliver {pending}"' not in page
    # When the admin enables it again, then disables it by hand
    assert post_form(ops_client, f"/moderation/webhooks/{endpoint_id}/enable").status_code == 302
    assert {k: state(WebhookEndpoint, endpoint_id)[k] for k in ("enabled", "consecutive_failures", "disabled_at")
            } == {"enabled": True, "consecutive_failures": 0, "disabled_at": None}
    post_form(ops_client, f"/moderation/webhooks/{endpoint_id}/disable", back="endpoint")
    assert state(WebhookEndpoint, endpoint_id)["enabled"] is False
    assert "disabled by an admin" in ops_client.get(f"/moderation/webhooks/{endpoint_id}").text
    post_form(ops_client, f"/moderation/webhooks/{endpoint_id}/enable")
    assert post_form(ops_client, "/moderation/webhooks/999999/enable").status_code == 404
    # And redelivers the failed delivery: pending again with fresh attempts, the same id, sent to the workers
    response = post_form(ops_client, f"/moderation/webhooks/{endpoint_id}/redeliver", delivery_id=failed)
    assert response.status_code == 302
    row = state(Outbox, failed_id)
    assert (row["status"], row["attempts"], row["last_error"], row["message_id"]) == ("pending", 0, None, failed)
    assert row["dispatched_at"] is not None and depth(vhost, "notifications") == 1
    assert f"Redelivery of {failed} queued." in ops_client.get(f"/moderation/webhooks/{endpoint_id}").text
    # A delivery of another endpoint, or an unknown one, is not redelivered from this endpoint's page.
    for wrong in (elsewhere, "no-such-delivery"):
        post_form(ops_client, f"/moderation/webhooks/{endpoint_id}/redeliver", delivery_id=wrong)
        assert "Not redelivered" in ops_client.get(f"/moderation/webhooks/{endpoint_id}").text
    assert depth(vhost, "notifications") == 1


def test_a_redelivery_from_the_page_reaches_the_receiver_with_the_same_delivery_id(ops_client):
    server = Receiver([], default=200)
    try:
        endpoint_id = add_endpoint(ops_client.settings, server.url)
        comment_id = seed.comment("hi", status=Status.PUBLISHED)
        outbox_id, delivery_id = delivery_row(endpoint_id, comment_id, status=OutboxStatus.FAILED, attempts=8)
        login(ops_client, "boss")
        post_form(ops_client, f"/moderation/webhooks/{endpoint_id}/redeliver", delivery_id=delivery_id)
        assert delivery.attempt(outbox_id, ops_client.settings)[0] == OutboxKind.WEBHOOK
        assert state(Outbox, outbox_id)["status"] == OutboxStatus.SENT
        assert [headers["X-Parley-Delivery"] for headers, _ in server.requests] == [delivery_id]
    finally:
        server.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return every sample of Prometheus text by (name, sorted labels)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_outbox_gauges_by_kind(client, stack):
    # Given a webhook row written 20 min ago and due for a minute, one backing off, two failed, and a mail due 5 min
    endpoint_id = add_endpoint(stack.settings(webhook_allow_private=True), "http://127.0.0.1:9/hook")
    comment_id = seed.comment("hi", status=Status.PUBLISHED)
    now = utcnow()
    delivery_row(endpoint_id, comment_id, created_at=now - timedelta(minutes=20), attempts=3,
                 next_attempt_at=now - timedelta(minutes=1))
    delivery_row(endpoint_id, comment_id, attempts=1, next_attempt_at=now + timedelta(minutes=10))
    for _ in range(2):
        delivery_row(endpoint_id, comment_id, status=OutboxStatus.FAILED, created_at=now - timedelta(days=2))
    delivery_row(endpoint_id, comment_id, status=OutboxStatus.SENT, created_at=now - timedelta(days=3))
    with db.session_scope() as session:
        mail_id = outbox.record(session, kind=OutboxKind.MAIL, event="reply", recipient="ada@example.org")
        session.execute(update(Outbox).where(Outbox.id == mail_id).values(created_at=now - timedelta(minutes=5)))
    # When Prometheus scrapes
    found = samples(client.get("/metrics").get_data(as_text=True))

    def value(name: str, kind: str) -> float:
        return found[(name, (("kind", kind),))]

    # Then depth, ages and failures are reported by kind
    assert (value("parley_outbox_pending", "webhook"), value("parley_outbox_pending", "mail")) == (2, 1)
    assert 1190 < value("parley_outbox_oldest_pending_seconds", "webhook") < 1260
    assert 290 < value("parley_outbox_oldest_pending_seconds", "mail") < 360
    assert 55 < value("parley_outbox_overdue_seconds", "webhook") < 120
    assert 290 < value("parley_outbox_overdue_seconds", "mail") < 360
    assert (value("parley_outbox_failed", "webhook"), value("parley_outbox_failed", "mail")) == (2, 0)


def test_an_empty_outbox_reports_zero_for_every_kind(client):
    found = samples(client.get("/metrics").get_data(as_text=True))
    for name in ("parley_outbox_pending", "parley_outbox_oldest_pending_seconds", "parley_outbox_overdue_seconds",
                 "parley_outbox_failed"):
        assert found[(name, (("kind", "mail"),))] == 0 and found[(name, (("kind", "webhook"),))] == 0


def test_count_send_labels_by_kind_and_outcome():
    def sends(kind: str, outcome: str) -> float:
        return REGISTRY.get_sample_value("parley_notification_sends_total", {"kind": kind, "outcome": outcome}) or 0

    before = sends("mail", "retry"), sends("unknown", "skipped"), sends("webhook", "other")
    counters.count_send("mail", "retry")
    counters.count_send(None, "skipped")
    counters.count_send("webhook", "exploded")
    assert (sends("mail", "retry"), sends("unknown", "skipped"), sends("webhook", "other")) == tuple(
        n + 1 for n in before)


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_the_worker_counts_a_delivered_webhook(stack, vhost, clean_db, tmp_path):
    # Given a worker exporting its metrics and an endpoint on a receiver that takes everything
    port = support.free_port()
    env = stack.env(BROKER_URL=vhost, WORKER_METRICS="1", WEBHOOK_ALLOW_PRIVATE="1", dramatiq_prom_port=str(port),
                    dramatiq_prom_db=str(tmp_path))
    server = Receiver([], default=200)
    worker = support.start_worker(env, processes=1, threads=2, queues=("notifications",))
    try:
        settings = stack.settings(broker_url=vhost, webhook_allow_private=True)
        endpoint_id = add_endpoint(settings, server.url)
        outbox_id, delivery_id = delivery_row(endpoint_id, seed.comment("hi", status=Status.PUBLISHED))
        # When the row is sent to the workers
        assert outbox.send_all([outbox_id], get_dispatcher(settings).send_notification) == 1

        def counted() -> float | None:
            try:
                text = requests.get(f"http://127.0.0.1:{port}/", timeout=2).text
            except requests.ConnectionError:
                return None
            value = samples(text).get(("parley_notification_sends_total",
                                       (("kind", "webhook"), ("outcome", "sent"))))
            return value if value else None

        # Then the worker's metrics count one sent webhook, and the receiver got it
        assert support.poll(counted, 30, interval=0.2, what="sends counter") == 1
        assert [headers["X-Parley-Delivery"] for headers, _ in server.requests] == [delivery_id]
        assert state(Outbox, outbox_id)["status"] == OutboxStatus.SENT
    finally:
        worker.stop()
        server.close()
