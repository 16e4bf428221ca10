"""A POST never hangs on a sick broker: it answers 202 in time and leaves the comment pending."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from core.storage import db
from core.storage.models import Comment, Status
from tests.support import free_port

VALID = {"thread": "t", "author": "Ada", "body": "hello", "lang": "en"}


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word (a hung or blocked broker)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for connection in accepted:
        connection.close()
    server.close()


def timed_post(stack, broker_url: str) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    """POST through an app whose broker is *broker_url*; return (seconds, status, comment id)."""
    from webapp import create_app

    app = create_app({"PARLEY": stack.settings(broker_url=broker_url), "TESTING": True})
    started = time.monotonic()
    response = app.test_client().post("/api/comments", data=json.dumps(VALID), content_type="application/json")
    return time.monotonic() - started, response.status_code, response.get_json()["id"]


def assert_left_pending(comment_id: int) -> None:
    """The comment is stored, pending, and marked as not dispatched."""
    with db.session_scope() as session:
        comment = session.get(Comment, comment_id)
        assert comment.status == Status.PENDING and comment.dispatched_at is None


@pytest.mark.parametrize("attempt", range(2))
def test_broker_down_still_answers_202_quickly(stack, clean_db, attempt):
    elapsed, status, comment_id = timed_post(stack, f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    assert status == 202 and elapsed < 2.0, elapsed
    assert_left_pending(comment_id)


@pytest.mark.parametrize("attempt", range(2))
def test_hung_broker_still_answers_202_within_the_deadline(stack, clean_db, black_hole, attempt):
    elapsed, status, comment_id = timed_post(stack, f"amqp://guest:guest@127.0.0.1:{black_hole}/")
    assert status == 202 and elapsed < 2.0, elapsed
    assert_left_pending(comment_id)
