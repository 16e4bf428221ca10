"""The public JSON API on SQLite and PostgreSQL: happy paths and every class of bad input."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from core.storage import db
from core.storage.models import Comment, Status, Translation
from tests import support
from tests.clients import VALID, post


@pytest.fixture
def app(stack, vhost, clean_db):  # type: ignore[no-untyped-def]
    """The app on a vhost no worker consumes: these tests see comments exactly as the API left them."""
    from webapp import create_app

    return create_app({"PARLEY": stack.settings(broker_url=vhost), "TESTING": True})


def count_comments() -> int:
    """Return how many comments are stored."""
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(Comment))


def test_post_accepts_and_returns_pending_comment(client):
    response = post(client, VALID)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending" and body["body"] is None
    assert body["thread"] == "blog/post-1" and body["author"] == "Ada" and body["lang"] == "fr"
    assert body["translations"] == {"en": {"status": "pending", "text": None}}
    assert response.headers["Location"] == f"/api/comments/{body['id']}"
    assert client.get(response.headers["Location"]).get_json()["id"] == body["id"]


def test_post_records_dispatch_after_broker_confirms(client):
    comment_id = post(client, VALID).get_json()["id"]

    def dispatched() -> Comment | None:
        with db.session_scope() as session:
            comment = session.get(Comment, comment_id)
            return comment if comment.dispatched_at is not None else None

    # Written off the request path, in the process's next batch (~50 ms).
    comment = support.poll(dispatched, 5, what=f"comment {comment_id} marked dispatched")
    assert comment.dispatch_attempts == 1


def test_unknown_and_mass_assigned_fields_are_ignored(client):
    payload = {**VALID, "status": "published", "id": 999999, "censored_body": "x", "decision": "approve",
               "created_at": "2000-01-01", "dispatched_at": "2000-01-01", "translations": {"en": "pwned"}}
    response = post(client, payload)
    assert response.status_code == 202
    body = response.get_json()
    assert body["id"] != 999999 and body["status"] == "pending" and body["translations"]["en"]["text"] is None
    with db.session_scope() as session:
        comment = session.get(Comment, body["id"])
        assert (comment.status, comment.decision, comment.censored_body) == (Status.PENDING, None, None)
        assert comment.created_at.year > 2000


def test_no_translation_row_for_comments_already_in_the_target_language(client):
    body = post(client, {**VALID, "lang": "EN"}).get_json()
    assert body["lang"] == "en" and body["translations"] == {}


def test_text_is_normalised_to_nfc_with_unified_newlines(client):
    body = post(client, {**VALID, "body": "  Cafe\u0301\r\nsecond line\r third  ", "author": " A\u0301da "}).get_json()
    with db.session_scope() as session:
        comment = session.get(Comment, body["id"])
        assert comment.body == "Caf\u00e9\nsecond line\n third"
        assert comment.author == "\u00c1da"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"author": "a", "body": "b"}, "thread"),
        ({"thread": "t", "body": "b"}, "author"),
        ({"thread": "t", "author": "a"}, "body"),
        ({**VALID, "body": ""}, "body"),
        ({**VALID, "body": "   \n\t  "}, "body"),
        ({**VALID, "body": "\u200b\u200d\u2060\ufeff \u034f"}, "body"),
        ({**VALID, "body": 42}, "body"),
        ({**VALID, "body": ["list"]}, "body"),
        ({**VALID, "body": {"nested": "object"}}, "body"),
        ({**VALID, "body": None}, "body"),
        ({**VALID, "thread": 7}, "thread"),
        ({**VALID, "thread": "has space"}, "thread"),
        ({**VALID, "thread": "x" * 201}, "thread"),
        ({**VALID, "author": True}, "author"),
        ({**VALID, "author": "x" * 101}, "author"),
        ({**VALID, "author": "two\nlines"}, "author"),
        ({**VALID, "body": "nul \u0000 inside"}, "body"),
        ({**VALID, "body": "lone \ud800 surrogate"}, "body"),
        ({**VALID, "body": "escape \u001b[31m red"}, "body"),
        ({**VALID, "body": "bell \u0007"}, "body"),
        ({**VALID, "body": "del \u007f"}, "body"),
        ({**VALID, "body": "c1 \u0085 control"}, "body"),
        ({**VALID, "body": "nonchar \uffff"}, "body"),
        ({**VALID, "author": "nul\u0000"}, "author"),
        ({**VALID, "lang": "xx"}, "lang"),
        ({**VALID, "lang": "english"}, "lang"),
        ({**VALID, "lang": 5}, "lang"),
        ({**VALID, "lang": "en'; DROP TABLE comments;--"}, "lang"),
    ],
)
def test_invalid_fields_get_400_with_reason_and_nothing_is_stored(client, payload, field):
    response = post(client, payload)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and field in error["fields"] and error["fields"][field]
    assert count_comments() == 0


def test_body_length_limit_counts_code_points(client, app):
    limit = app.config["PARLEY"].max_comment_chars
    assert post(client, {**VALID, "body": "\U0001f600" * limit}).status_code == 202
    response = post(client, {**VALID, "body": "a" * (limit + 1)})
    assert response.status_code == 400 and "body" in response.get_json()["error"]["fields"]
    assert count_comments() == 1


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"thread": "t", "author": "a", "body": "\xff\xfe bad"}', "UTF-8"),
        (b'{"thread": "t", "author": "a", "body": "x", "n": NaN}', "JSON"),
        (b"[" * 30000 + b"]" * 30000, "too deeply nested"),
    ],
)
def test_malformed_bodies_get_400(client, raw, reason):
    response = client.post("/api/comments", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert reason in response.get_json()["error"]["message"]
    assert count_comments() == 0


@pytest.mark.parametrize("payload", [[VALID], "string", 42, None])
def test_non_object_json_gets_400(client, payload):
    response = post(client, payload)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "request body must be a JSON object"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None,
                     "application/json; charset=latin-1"]
)
def test_wrong_content_types_get_415(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/api/comments", data=json.dumps(VALID), headers=headers)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert count_comments() == 0


def test_oversize_body_gets_413(client, app):
    big = json.dumps({**VALID, "body": "a" * app.config["MAX_CONTENT_LENGTH"]})
    response = client.post("/api/comments", data=big, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"
    assert count_comments() == 0


def test_get_unknown_comment_is_404_json(client):
    response = client.get("/api/comments/987654")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/comments/abc").status_code == 404
    assert client.get("/api/comments/-1").status_code == 404


def test_wrong_method_is_405_json(client):
    response = client.put("/api/comments/1")
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"


def test_pending_comment_is_hidden_from_thread_and_its_body_from_the_public(client):
    comment_id = post(client, VALID).get_json()["id"]
    assert client.get(f"/api/comments/{comment_id}").get_json()["body"] is None
    page = client.get("/api/threads/blog/post-1/comments").get_json()
    assert page == {"comments": [], "next_cursor": None}


def publish_all() -> None:
    """Mark every comment published with a done translation (what the worker would do)."""
    with db.session_scope() as session:
        for comment in session.scalars(select(Comment)):
            comment.status = Status.PUBLISHED
            for translation in comment.translations:
                translation.status, translation.text = "done", f"[en] {comment.body}"


def test_thread_lists_visible_comments_oldest_first_with_cursor_paging(client):
    ids = [post(client, {**VALID, "body": f"comment {n}"}).get_json()["id"] for n in range(5)]
    post(client, {**VALID, "thread": "other", "body": "elsewhere"})
    publish_all()
    first = client.get("/api/threads/blog/post-1/comments?limit=2&lang=en").get_json()
    assert [c["id"] for c in first["comments"]] == ids[:2]
    assert first["comments"][0]["body"] == "comment 0"
    assert first["comments"][0]["translations"] == {"en": {"status": "done", "text": "[en] comment 0"}}
    second = client.get(f"/api/threads/blog/post-1/comments?limit=2&cursor={first['next_cursor']}").get_json()
    third = client.get(f"/api/threads/blog/post-1/comments?limit=2&cursor={second['next_cursor']}").get_json()
    assert [c["id"] for c in second["comments"] + third["comments"]] == ids[2:]
    assert third["next_cursor"] is None


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"), ("limit=-5", "limit"), ("limit=1000000", "limit"), ("limit=abc", "limit"),
        ("limit=1e3", "limit"), ("cursor=junk!!", "cursor"), ("cursor=" + "A" * 500, "cursor"),
        ("cursor=YzE6LTE", "cursor"), ("lang=klingon", "lang"),
    ],
)
def test_hostile_list_parameters_get_400(client, query, field):
    response = client.get(f"/api/threads/t/comments?{query}")
    assert response.status_code == 400
    assert field in response.get_json()["error"]["fields"]


def test_injection_strings_are_stored_verbatim_and_harmless(client):
    payload = {**VALID, "thread": "t'--", "author": "Robert'); DROP TABLE comments;--",
               "body": "<script>alert(1)</script> %s %% _ \\ ' \" ${jndi:ldap://x}"}
    comment_id = post(client, payload).get_json()["id"]
    with db.session_scope() as session:
        comment = session.get(Comment, comment_id)
        assert comment.body == payload["body"] and comment.author == payload["author"]
        assert session.scalar(select(func.count()).select_from(Translation)) == 1
    publish_all()
    listed = client.get("/api/threads/t'--/comments").get_json()["comments"]
    assert [c["body"] for c in listed] == [payload["body"]]


def test_rate_limit_answers_429_with_retry_after(stack, clean_db):
    from webapp import create_app

    app = create_app({"PARLEY": stack.settings(rate_limit_per_minute=3), "TESTING": True})
    client = app.test_client()
    statuses = [post(client, VALID).status_code for _ in range(5)]
    assert statuses == [202, 202, 202, 429, 429]
    response = post(client, VALID)
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert count_comments() == 3
    # Another client address has its own budget.
    assert post(client, VALID, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 202
