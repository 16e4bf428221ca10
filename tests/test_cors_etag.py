"""CORS for ALLOWED_ORIGINS on the public API only, and ETag revalidation of comments and threads."""

from __future__ import annotations

import pytest

from core.storage import db
from core.storage.models import Comment, Status
from tests import seed
from tests.clients import VALID, post

ALLOWED = "https://blog.example.com"


@pytest.fixture
def app(stack, vhost, clean_db):  # type: ignore[no-untyped-def]
    """The app allowing one other origin, on a vhost no worker consumes."""
    from webapp import create_app

    settings = stack.settings(broker_url=vhost, allowed_origins=(ALLOWED,))
    return create_app({"PARLEY": settings, "TESTING": True})


@pytest.mark.parametrize("path", ["/api/comments", "/api/comments/1", "/api/threads/blog/x/comments", "/api/counts"])
def test_preflight_from_an_allowed_origin(client, path):
    response = client.options(path, headers={"Origin": ALLOWED, "Access-Control-Request-Method": "PATCH",
                                             "Access-Control-Request-Headers": "content-type, x-author-token"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, PATCH, DELETE"
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type, X-Author-Token"
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_actual_requests_carry_cors_only_for_an_allowed_origin(client):
    allowed = post(client, VALID, headers={"Origin": ALLOWED})
    assert allowed.status_code == 202
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED and "Origin" in allowed.headers["Vary"]
    assert "Location" in allowed.headers["Access-Control-Expose-Headers"]
    for origin in ("https://evil.example.com", "null", ALLOWED + ".evil.com"):
        other = client.get("/api/counts?thread=a", headers={"Origin": origin})
        assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
        preflight = client.options("/api/comments", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert not any(name.startswith("Access-Control-") for name in preflight.headers.keys())
    # An error answer of the public API is readable too (the widget shows its message)
    assert client.get("/api/comments/999999", headers={"Origin": ALLOWED}).headers["Access-Control-Allow-Origin"]


@pytest.mark.parametrize("path", ["/api/moderation/comments", "/moderation/login", "/healthz"])
def test_moderator_api_and_pages_never_answer_cors(client, path):
    for response in (client.get(path, headers={"Origin": ALLOWED}),
                     client.options(path, headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"})):
        assert not any(name.startswith("Access-Control-") for name in response.headers.keys()), path


def test_no_allowed_origins_means_same_origin_only(stack, vhost, clean_db):
    from webapp import create_app

    client = create_app({"PARLEY": stack.settings(broker_url=vhost), "TESTING": True}).test_client()
    response = client.options("/api/comments", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_etag_revalidates_a_comment_and_a_thread_until_they_change(client):
    comment_id = seed.comment("A clean comment", status=Status.PUBLISHED, words=())
    etags = {}
    for path in (f"/api/comments/{comment_id}", "/api/threads/blog/post-1/comments"):
        etags[path] = client.get(path).headers["ETag"]
        assert etags[path].startswith('W/"')
        assert client.get(path, headers={"If-None-Match": etags[path]}).status_code == 304
    # When the comment changes, the old ETag no longer matches
    with db.session_scope() as session:
        session.get(Comment, comment_id).body = "Changed"
    for path, etag in etags.items():
        changed = client.get(path, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and "Changed" in changed.get_data(as_text=True)


def test_the_author_view_has_its_own_etag(client):
    view = post(client, VALID).get_json()
    public = client.get(f"/api/comments/{view['id']}")
    assert "X-Author-Token" in public.headers["Vary"]
    own = client.get(f"/api/comments/{view['id']}", headers={"X-Author-Token": view["author_token"],
                                                              "If-None-Match": public.headers["ETag"]})
    assert own.status_code == 200 and own.get_json()["body"] == VALID["body"]
