"""Replies and authors on SQLite and PostgreSQL: parents, depth, email, honeypot, the author token, edit, delete."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Translation, utcnow
from tests import seed
from tests.clients import VALID, post


@pytest.fixture
def app(stack, vhost, clean_db):  # type: ignore[no-untyped-def]
    """The app on a vhost no worker consumes: comments stay exactly as the API left them."""
    from webapp import create_app

    return create_app({"PARLEY": stack.settings(broker_url=vhost, moderation_policy="censor"), "TESTING": True})


def published(thread: str = "blog/post-1", **columns) -> int:  # type: ignore[no-untyped-def]
    """Seed a visible comment; return its id."""
    return seed.comment("A clean comment", status=Status.PUBLISHED, words=(), thread=thread, **columns)


def row(comment_id: int) -> Comment:
    """Return the stored comment (detached, translations loaded)."""
    with db.session_scope() as session:
        comment = session.get(Comment, comment_id)
        comment.translations  # noqa: B018  (load before the session closes)
        session.expunge_all()
        return comment


def send(client, method: str, comment_id: int, token: str | None, payload=None):  # type: ignore[no-untyped-def]
    """Call /api/comments/<id> with *method*, the author token and a JSON body."""
    headers = {"X-Author-Token": token} if token else {}
    kwargs = {"data": json.dumps(payload), "content_type": "application/json"} if payload is not None else {}
    return getattr(client, method)(f"/api/comments/{comment_id}", headers=headers, **kwargs)


def test_a_reply_names_its_parent_and_the_token_is_stored_only_hashed(client):
    parent = published()
    response = post(client, {**VALID, "parent_id": parent})
    assert response.status_code == 202
    view = response.get_json()
    assert view["parent_id"] == parent and view["reply_count"] == 0 and view["version"] == 1
    assert view["edited_at"] is None
    token = view["author_token"]
    stored = row(view["id"])
    assert stored.parent_id == parent and stored.depth == 1
    assert stored.author_token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    # The token is shown once: nobody reads it back.
    assert "author_token" not in client.get(f"/api/comments/{view['id']}").get_json()


@pytest.mark.parametrize("case", ["other thread", "rejected", "deleted", "unknown", "not an id"])
def test_a_parent_must_be_open_and_in_the_same_thread(client, case):
    parent = {
        "other thread": lambda: published(thread="blog/other"),
        "rejected": lambda: seed.comment(status=Status.REJECTED, decision="reject"),
        "deleted": lambda: seed.comment(status=Status.DELETED),
        "unknown": lambda: 2**40,
        "not an id": lambda: "7",
    }[case]()
    response = post(client, {**VALID, "parent_id": parent})
    assert response.status_code == 400
    assert "parent_id" in response.get_json()["error"]["fields"]


def test_a_reply_too_deep_attaches_to_the_deepest_allowed_ancestor(client):
    # Given a chain of comments at depths 0..6 (MAX_REPLY_DEPTH is 6)
    chain = [published()]
    for depth in range(1, 7):
        chain.append(published(parent_id=chain[-1], depth=depth))
    # When someone replies to the one at depth 6
    reply = post(client, {**VALID, "parent_id": chain[6]}).get_json()
    # Then the reply is a sibling of it, at depth 6, under the comment at depth 5
    assert reply["parent_id"] == chain[5]
    assert row(reply["id"]).depth == 6
    # And a reply to depth 5 is allowed as it is
    assert post(client, {**VALID, "parent_id": chain[5]}).get_json()["parent_id"] == chain[5]


def test_email_is_validated_stored_and_never_public(client):
    for bad in ("not-an-address", "a@b", "a b@example.com", 3, "x" * 250 + "@example.com"):
        response = post(client, {**VALID, "email": bad})
        assert response.status_code == 400 and "email" in response.get_json()["error"]["fields"], bad
    bad_flag = post(client, {**VALID, "notify_replies": "yes"})
    assert "notify_replies" in bad_flag.get_json()["error"]["fields"]
    response = post(client, {**VALID, "email": " Ada@Example.ORG ", "notify_replies": True})
    view = response.get_json()
    stored = row(view["id"])
    assert stored.email == "Ada@example.org" and stored.notify_replies is True
    own = send(client, "get", view["id"], view["author_token"])
    for text in (response.get_data(as_text=True), own.get_data(as_text=True)):
        assert "example.org" not in text.lower() and "email" not in json.loads(text)


def test_the_honeypot_is_answered_like_any_post_but_held_and_never_shown(client):
    response = post(client, {**VALID, "website": "http://spam.example"})
    assert response.status_code == 202
    view = response.get_json()
    assert view["status"] == "pending" and view["author_token"]
    stored = row(view["id"])
    assert stored.honeypot and stored.status == Status.FLAGGED and stored.check_error == "honeypot"
    assert stored.translations == []  # nothing is ever translated or checked for it
    with db.session_scope() as session:
        assert session.scalars(select(AuditEvent.action).where(AuditEvent.comment_id == view["id"])).all() == [
            "honeypot"]
    # Flagged comments show censored under this app's policy, but never a honeypot one
    public = client.get(f"/api/comments/{view['id']}").get_json()
    assert public["status"] == "pending" and public["body"] is None
    assert client.get("/api/threads/blog/post-1/comments").get_json()["comments"] == []
    assert client.get("/api/counts?thread=blog/post-1").get_json() == {"counts": {"blog/post-1": 0}}


def test_public_view_counts_visible_replies_and_lists_them_oldest_first(client):
    parent = published()
    first = published(parent_id=parent, depth=1)
    seed.comment(status=Status.PENDING, parent_id=parent, depth=1)  # not visible: not counted
    seed.comment(status=Status.REJECTED, parent_id=parent, depth=1, decision="reject")
    listing = client.get("/api/threads/blog/post-1/comments").get_json()["comments"]
    assert [(c["id"], c["parent_id"], c["reply_count"]) for c in listing] == [(parent, None, 1), (first, parent, 0)]
    one = client.get(f"/api/comments/{parent}").get_json()
    assert one["reply_count"] == 1 and one["version"] == 1 and one["edited_at"] is None


def test_counts_of_visible_comments_per_thread(client):
    published("a"), published("a"), published("b")
    seed.comment(status=Status.PENDING, thread="a")
    seed.comment(status=Status.FLAGGED, thread="b")  # shown censored under this app's policy
    response = client.get("/api/counts?thread=a&thread=b&thread=c")
    assert response.status_code == 200
    assert response.get_json() == {"counts": {"a": 2, "b": 2, "c": 0}}
    assert client.get("/api/counts").status_code == 400
    many = "&".join(f"thread=t{i}" for i in range(101))
    assert client.get(f"/api/counts?{many}").get_json()["error"]["fields"]["thread"]
    assert client.get("/api/counts?" + "&".join(f"thread=t{i}" for i in range(100))).status_code == 200


def test_the_author_sees_their_own_pending_comment(client):
    view = post(client, VALID).get_json()
    own = send(client, "get", view["id"], view["author_token"]).get_json()
    assert own["body"] == VALID["body"] and own["own"] is True and own["status"] == "pending"
    stranger = send(client, "get", view["id"], "not-the-token").get_json()
    assert stranger["body"] is None and "own" not in stranger


def test_delete_needs_the_token_and_erases_the_comment(client):
    view = post(client, {**VALID, "email": "ada@example.org"}).get_json()
    assert send(client, "delete", view["id"], None).status_code == 403
    assert send(client, "delete", view["id"], "wrong").status_code == 403
    assert row(view["id"]).body == VALID["body"]
    assert send(client, "delete", view["id"], view["author_token"]).status_code == 204
    stored = row(view["id"])
    assert (stored.status, stored.body, stored.author, stored.email) == (Status.DELETED, "", "", None)
    assert stored.translations == []
    # Without visible replies it disappears; deleting again changes nothing
    assert client.get(f"/api/comments/{view['id']}").status_code == 404
    assert send(client, "delete", view["id"], view["author_token"]).status_code == 204


def test_a_deleted_comment_with_visible_replies_stays_as_a_placeholder(client):
    view = post(client, VALID).get_json()
    with db.session_scope() as session:
        session.get(Comment, view["id"]).status = Status.PUBLISHED
    reply = published(parent_id=view["id"], depth=1)
    assert client.get("/api/counts?thread=blog/post-1").get_json()["counts"]["blog/post-1"] == 2
    assert send(client, "delete", view["id"], view["author_token"]).status_code == 204
    listing = client.get("/api/threads/blog/post-1/comments").get_json()["comments"]
    assert [(c["id"], c["status"], c["body"], c["author"], c["reply_count"]) for c in listing] == [
        (view["id"], "deleted", None, None, 1), (reply, "published", "A clean comment", "Ada", 0)]
    assert client.get("/api/counts?thread=blog/post-1").get_json()["counts"]["blog/post-1"] == 1
    assert post(client, {**VALID, "parent_id": view["id"]}).status_code == 400


def test_edit_makes_a_new_pending_version_and_resets_translations(client):
    # Given the author's comment, approved by a moderator, with a done translation
    view = post(client, VALID).get_json()
    with db.session_scope() as session:
        comment = session.get(Comment, view["id"])
        comment.status, comment.decision, comment.decided_by = Status.PUBLISHED, "approve", "alice"
        comment.checked_at = utcnow()
        translation = session.scalars(select(Translation).where(Translation.comment_id == view["id"])).one()
        translation.status, translation.text = "done", "Hello world"
    token = view["author_token"]
    assert send(client, "patch", view["id"], None, {"body": "x"}).status_code == 403
    assert send(client, "patch", view["id"], token, {"body": "   "}).status_code == 400
    assert send(client, "patch", view["id"], token, {"nobody": 1}).get_json()["error"]["fields"]["body"]
    # When the author edits it
    response = send(client, "patch", view["id"], token, {"body": "Hello again"})
    # Then it is a new pending version, checked and translated again
    assert response.status_code == 200
    edited = response.get_json()
    assert edited["version"] == 2 and edited["edited_at"] and edited["status"] == "pending"
    assert edited["body"] == "Hello again" and edited["own"] is True
    stored = row(view["id"])
    assert (stored.body, stored.status, stored.decision, stored.checked_at) == ("Hello again", "pending", None, None)
    assert [(t.version, t.status, t.text) for t in stored.translations] == [(2, "pending", None)]
    assert client.get(f"/api/comments/{view['id']}").get_json()["body"] is None


def test_edit_refused_after_a_rejection_or_the_window(client):
    rejected = post(client, VALID).get_json()
    with db.session_scope() as session:
        comment = session.get(Comment, rejected["id"])
        comment.status, comment.decision = Status.REJECTED, "reject"
    assert send(client, "patch", rejected["id"], rejected["author_token"], {"body": "x"}).status_code == 409
    late = post(client, VALID).get_json()
    with db.session_scope() as session:
        session.get(Comment, late["id"]).created_at = utcnow() - timedelta(seconds=901)
    response = send(client, "patch", late["id"], late["author_token"], {"body": "too late"})
    assert response.status_code == 409 and row(late["id"]).version == 1
