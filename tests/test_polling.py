"""Polling a thread is cheap: its ETag comes from one aggregate query, a 304 never reads the page, and every change
a reader could see (new comment, reply, check, translation, decision, author edit and delete, purge) changes it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import event

from core.comments import reading
from core.moderation import checking, decisions
from core.scheduling import maintenance
from core.storage import db
from core.storage.models import Comment, Status, TranslationStatus, utcnow
from core.translation import workflow
from tests import seed
from tests.clients import VALID, post

THREAD = "blog/polling"
PATH = f"/api/threads/{THREAD}/comments"


@pytest.fixture
def app(stack, vhost, clean_db):  # type: ignore[no-untyped-def]
    """The app on a vhost no worker consumes: the tests run the checks and translations themselves."""
    from webapp import create_app

    return create_app({"PARLEY": stack.settings(broker_url=vhost), "TESTING": True})


def changed(client, etag: str) -> str:  # type: ignore[no-untyped-def]
    """Assert the thread no longer matches *etag* and its new ETag revalidates; return the new ETag."""
    response = client.get(PATH, headers={"If-None-Match": etag})
    assert response.status_code == 200, "the change did not change the ETag"
    new = response.headers["ETag"]
    assert new != etag and new.startswith('W/"')
    assert client.get(PATH, headers={"If-None-Match": new}).status_code == 304
    return new


def comment_of(comment_id: int) -> Comment:
    """Read a comment fresh, with its translations."""
    with db.session_scope() as session:
        comment = reading.get(session, comment_id)
        session.expunge_all()
        return comment


def shown(client, comment_id: int) -> dict:  # type: ignore[no-untyped-def]
    """Return the listing's view of *comment_id* (None when not listed)."""
    return next((c for c in client.get(PATH).get_json()["comments"] if c["id"] == comment_id), None)


def test_an_unchanged_thread_answers_304_without_reading_the_page(client, monkeypatch):
    seed.comment("A clean comment", status=Status.PUBLISHED, words=(), thread=THREAD)
    first = client.get(PATH)
    assert first.status_code == 200 and len(first.get_json()["comments"]) == 1
    etag = first.headers["ETag"]
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    event.listen(db.engine(), "before_cursor_execute", count)
    try:
        not_modified = client.get(PATH, headers={"If-None-Match": etag})
    finally:
        event.remove(db.engine(), "before_cursor_execute", count)
    assert not_modified.status_code == 304 and not_modified.headers["ETag"] == etag
    assert not not_modified.get_data()
    assert len(statements) == 1 and "count(" in statements[0].lower(), statements
    # And the page's read is never reached on that path
    monkeypatch.setattr(reading, "list_thread", lambda *a, **k: pytest.fail("the 304 read the page"))
    assert client.get(PATH, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(PATH, headers={"If-None-Match": f'"x", {etag}'}).status_code == 304


def test_the_etag_depends_on_the_query_and_only_on_its_own_thread(client):
    seed.comment("A clean comment", status=Status.PUBLISHED, words=(), thread=THREAD,
                 translations={"de": "Ein Kommentar"})
    etags = {query: client.get(PATH + query).headers["ETag"]
             for query in ("", "?lang=de", "?lang=en", "?limit=5", "?cursor=YzE6MQ")}
    assert len(set(etags.values())) == len(etags)
    for query, etag in etags.items():
        assert client.get(PATH + query, headers={"If-None-Match": etag}).status_code == 304
    # Another thread's comment does not touch this one's validator
    seed.comment("Elsewhere", status=Status.PUBLISHED, words=(), thread="blog/other")
    assert client.get(PATH, headers={"If-None-Match": etags[""]}).status_code == 304


def test_every_change_a_reader_could_see_changes_the_etag(client, stack):
    etag = client.get(PATH).headers["ETag"]
    assert client.get(PATH, headers={"If-None-Match": etag}).status_code == 304
    top = post(client, {**VALID, "thread": THREAD}).get_json()
    etag = changed(client, etag)  # a new comment (pending: the public does not see it, but it counts)

    checking.check_comments([top["id"]], 3)  # the check publishes it
    etag = changed(client, etag)
    assert shown(client, top["id"])["body"] == VALID["body"]

    reply = post(client, {**VALID, "thread": THREAD, "parent_id": top["id"], "body": "What a load of shit"}).get_json()
    etag = changed(client, etag)  # a reply
    assert checking.check_comments([reply["id"]], 3)[reply["id"]].status == Status.FLAGGED
    etag = changed(client, etag)  # the check flags it: the parent's reply_count changes (censor policy)

    lang = comment_of(top["id"]).translations[0].lang
    with db.session_scope() as session:
        assert workflow.finish_translation(session, top["id"], lang, TranslationStatus.DONE, version=1, text="Hallo")
    etag = changed(client, etag)  # a translation done
    assert shown(client, top["id"])["translations"][lang]["text"] == "Hallo"

    with db.session_scope() as session:
        decisions.decide(session, reply["id"], decisions.DecisionRequest("approve", None), "alice", stack.settings())
    etag = changed(client, etag)  # a moderator approves
    assert shown(client, reply["id"])["status"] == Status.PUBLISHED

    edit = client.patch(f"/api/comments/{reply['id']}", data=json.dumps({"body": "Edited"}),
                        content_type="application/json", headers={"X-Author-Token": reply["author_token"]})
    assert edit.status_code == 200
    etag = changed(client, etag)  # the author edits: pending again, gone from the listing
    assert shown(client, reply["id"]) is None
    checking.check_comments([reply["id"]], 3)
    etag = changed(client, etag)

    with db.session_scope() as session:
        assert workflow.flag_by_translation(session, top["id"], lang, ["x"], 1)
    etag = changed(client, etag)  # a profane translation flags it
    with db.session_scope() as session:
        decisions.decide(session, top["id"], decisions.DecisionRequest("reject", "rude"), "alice", stack.settings())
    etag = changed(client, etag)  # a moderator rejects

    response = client.delete(f"/api/comments/{reply['id']}", headers={"X-Author-Token": reply["author_token"]})
    assert response.status_code == 204
    etag = changed(client, etag)  # the author deletes
    assert client.get(PATH).get_json()["comments"] == []

    with db.session_scope() as session:
        maintenance.purge(session, stack.settings(), utcnow() + timedelta(days=365))
        assert session.get(Comment, top["id"]) is None
    etag = changed(client, etag)  # the purge deletes the rejected comment
    assert client.get(PATH, headers={"If-None-Match": etag}).status_code == 304


def test_the_thread_version_sees_a_write_stamped_earlier_than_the_latest(client):
    first = seed.comment("First", status=Status.PUBLISHED, words=(), thread=THREAD)
    seed.comment("Second", status=Status.PUBLISHED, words=(), thread=THREAD)
    etag = client.get(PATH).headers["ETag"]
    # A write committed after a later-stamped one (a slow transaction): the maximum stays, the count too.
    with db.session_scope() as session:
        row = session.get(Comment, first)
        row.status, row.updated_at = Status.REJECTED, row.updated_at + timedelta(microseconds=1)
    changed(client, etag)
