"""With the database unreachable the API answers 503 with a JSON reason, never a 500."""

from __future__ import annotations

import json
import time

import pytest

from core.config import Settings
from tests.support import free_port


@pytest.fixture
def client_without_database():  # type: ignore[no-untyped-def]
    """A client whose app points at a PostgreSQL port nobody listens on."""
    from webapp import create_app

    settings = Settings(database_url=f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/parley",
                        broker_url="stub://", env="test")
    yield create_app({"PARLEY": settings, "TESTING": True}).test_client()
    from core.storage import db

    db.configure("sqlite://")


@pytest.mark.parametrize(
    "method, path, payload",
    [
        ("post", "/api/comments", {"thread": "t", "author": "a", "body": "hello"}),
        ("get", "/api/comments/1", None),
        ("get", "/api/threads/t/comments", None),
    ],
)
def test_database_down_answers_503_quickly(client_without_database, method, path, payload):
    started = time.monotonic()
    kwargs = {"data": json.dumps(payload), "content_type": "application/json"} if payload else {}
    response = getattr(client_without_database, method)(path, **kwargs)
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"


def test_readyz_reports_the_database_down(client_without_database):
    response = client_without_database.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body == {"database": "unavailable", "broker": "ok"}


def test_validation_still_answers_400_without_a_database(client_without_database):
    response = client_without_database.post("/api/comments", data="{}", content_type="application/json")
    assert response.status_code == 400
