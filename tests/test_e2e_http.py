"""Real HTTP: gunicorn serving the app, a real worker, RabbitMQ, and the database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests import support

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="session")
def live_server(stack) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Gunicorn on a spare loopback port, configured for this stack; yields its base URL."""
    proc, base = support.start_web(stack.env(MAX_REQUEST_BYTES="65536"))
    proc.shared = True
    try:
        yield base
    finally:
        proc.stop()


def wait_status(base: str, comment_id: int, wanted: set[str]) -> dict:
    """Poll the public API until the comment's status is one of *wanted*."""

    def done() -> dict | None:
        body = requests.get(f"{base}/api/comments/{comment_id}", timeout=5).json()
        return body if body["status"] in wanted else None

    return support.poll(done, 20, what=f"comment {comment_id} in {wanted}")


def test_posted_comment_is_published_with_translation(live_server, clean_db):
    response = requests.post(f"{live_server}/api/comments", timeout=5,
                             json={"thread": "e2e", "author": "Ada", "body": "bonjour le monde", "lang": "fr"})
    assert response.status_code == 202
    assert response.headers["Location"].endswith(f"/api/comments/{response.json()['id']}")
    body = wait_status(live_server, response.json()["id"], {"published"})
    support.poll(lambda: requests.get(response.headers["Location"] if response.headers["Location"].startswith("http")
                                      else live_server + response.headers["Location"], timeout=5)
                 .json()["translations"]["en"]["status"] == "done", 20, what="translation")
    assert body["body"] == "bonjour le monde"
    page = requests.get(f"{live_server}/api/threads/e2e/comments?lang=en", timeout=5).json()
    assert page["comments"][0]["translations"]["en"] == {"status": "done", "text": "[en] hello the world"}


def test_profane_comment_is_flagged_and_hidden(live_server, clean_db):
    response = requests.post(f"{live_server}/api/comments", timeout=5,
                             json={"thread": "e2e", "author": "Ada", "body": "you are a fucking idiot", "lang": "en"})
    body = wait_status(live_server, response.json()["id"], {"flagged"})
    assert body["body"] is None
    assert requests.get(f"{live_server}/api/threads/e2e/comments", timeout=5).json()["comments"] == []


def test_oversize_chunked_body_without_content_length_gets_413(live_server, clean_db):
    def chunks() -> Iterator[bytes]:
        yield b'{"thread": "t", "author": "a", "body": "'
        for _ in range(200):
            yield b"a" * 1024
        yield b'"}'

    response = requests.post(f"{live_server}/api/comments", data=chunks(), timeout=10,
                             headers={"Content-Type": "application/json"})
    assert "Content-Length" not in response.request.headers
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_entity_too_large"


def test_readyz_reports_database_and_broker(live_server):
    response = requests.get(f"{live_server}/readyz", timeout=5)
    assert response.status_code == 200 and response.json() == {"database": "ok", "broker": "ok"}
