"""A RabbitMQ nobody answers: one 503 with the JSON reason for the APIs, the reason on the pages; never a 500."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from core.errors import BrokerUnavailable
from core.messaging import queues
from core.moderation import accounts
from core.storage import db
from tests.clients import login, post_form

PASSWORD = "a long enough password"


@pytest.fixture
def dead_broker() -> Iterator[str]:
    """An AMQP URL on a loopback port held by a socket that never listens: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"amqp://guest:guest@127.0.0.1:{sock.getsockname()[1]}/"


def make_admin() -> str:
    """Create the admin "boss"; return an API token for it."""
    with db.session_scope() as session:
        accounts.create(session, "boss", PASSWORD, role="admin")
        return accounts.issue_token(session, "boss")


@pytest.fixture
def client(stack, clean_db, dead_broker):  # type: ignore[no-untyped-def]
    """A client of an app whose broker cannot be reached."""
    from webapp import create_app

    return create_app({"PARLEY": stack.settings(broker_url=dead_broker), "TESTING": True}).test_client()


def test_queue_operations_raise_one_error_type(dead_broker):
    for operation in (queues.queue_depths, queues.list_dead_letters, queues.purge):
        with pytest.raises(BrokerUnavailable, match="RabbitMQ cannot be reached"):
            operation(dead_broker)
    with pytest.raises(BrokerUnavailable):
        queues.replay(dead_broker, None)


@pytest.mark.parametrize("method, path, payload", [
    ("get", "/api/moderation/deadletters", None),
    ("post", "/api/moderation/deadletters/replay", {"all": True}),
    ("post", "/api/moderation/deadletters/purge", None),
])
def test_dead_letter_api_answers_503_with_the_reason(client, method, path, payload):
    headers = {"Authorization": f"Bearer {make_admin()}"}
    response = getattr(client, method)(path, headers=headers, json=payload)
    assert response.status_code == 503, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "broker_unavailable" and "RabbitMQ cannot be reached" in error["message"]
    assert response.headers["Retry-After"] == "5"


def test_dead_letter_page_shows_the_reason(client):
    make_admin()
    assert login(client, "boss", PASSWORD).status_code == 302
    page = client.get("/moderation/deadletters")
    assert page.status_code == 503 and "RabbitMQ cannot be reached" in page.text
    assert page.headers["Content-Type"].startswith("text/html")
    acted = post_form(client, "/moderation/deadletters", action="purge")
    assert acted.status_code == 302 and acted.headers["Location"] == "/moderation/deadletters"
    assert "RabbitMQ cannot be reached" in client.get("/moderation/deadletters").text


def test_readiness_and_metrics_report_the_broker_down(client):
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["broker"] == "unreachable"
    assert 'parley_dependency_up{source="broker"} 0.0' in client.get("/metrics").get_data(as_text=True)
