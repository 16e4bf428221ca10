"""The scheduler page (moderators) and the dead-letter page (admins), against real RabbitMQ."""

from __future__ import annotations

import json

import pika
import pytest

from tests import seed
from tests.clients import login, post_form


@pytest.fixture
def ops_client(stack, vhost, clean_db):  # type: ignore[no-untyped-def]
    """A client of an app on the private vhost, with a moderator and an admin account."""
    from webapp import create_app

    client = create_app({"PARLEY": stack.settings(broker_url=vhost), "TESTING": True}).test_client()
    seed.moderator("mod")
    seed.moderator("boss", role="admin")
    return client


def depth(url: str, queue: str) -> int:
    """Return the ready messages in *queue*."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue=queue, passive=True).method.message_count
    finally:
        connection.close()


def test_scheduler_page_for_moderators_trigger_for_admins(ops_client, vhost):
    assert ops_client.get("/moderation/scheduler").status_code == 302  # not logged in
    login(ops_client, "mod")
    page = ops_client.get("/moderation/scheduler").text
    assert "redispatch" in page and "purge" in page and "daily_stats" in page and "Run now" not in page
    assert post_form(ops_client, "/moderation/scheduler/purge/trigger").status_code == 403
    assert "Dead letters" not in page and ops_client.get("/moderation/deadletters").status_code == 403
    login(ops_client, "boss")
    assert "Run now" in ops_client.get("/moderation/scheduler").text
    response = post_form(ops_client, "/moderation/scheduler/daily_stats/trigger")
    assert response.status_code == 302 and depth(vhost, "maintenance") == 1
    assert ops_client.post("/moderation/scheduler/daily_stats/trigger").status_code == 400  # no CSRF token


def test_dead_letter_page_lists_replays_and_purges(ops_client, vhost):
    connection = pika.BlockingConnection(pika.URLParameters(vhost))
    channel = connection.channel()
    channel.queue_declare("moderation.XQ", durable=True, arguments={"x-message-ttl": 7 * 86400 * 1000})
    for n in (1, 2):
        body = {"queue_name": "moderation", "actor_name": "check_profanity", "args": [n], "kwargs": {},
                "options": {"traceback": "Traceback\nValueError: <script>alert(1)</script>"}, "message_id": f"m{n}",
                "message_timestamp": 0}
        channel.basic_publish("", "moderation.XQ", json.dumps(body).encode())
    connection.close()
    login(ops_client, "boss")
    page = ops_client.get("/moderation/deadletters").text
    assert "m1" in page and "m2" in page and "check_profanity[1]" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    post_form(ops_client, "/moderation/deadletters", action="replay", message_id="m2")
    assert depth(vhost, "moderation") == 1 and depth(vhost, "moderation.XQ") == 1
    post_form(ops_client, "/moderation/deadletters", action="purge")
    assert depth(vhost, "moderation.XQ") == 0
    assert "No dead letters." in ops_client.get("/moderation/deadletters").text
