"""The whole pipeline through a real worker on real RabbitMQ, for SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from core.messaging.broker import (
    CHECK_PROFANITY,
    CLASSIFICATION_QUEUE,
    CLASSIFY_COMMENTS,
    MODERATION_QUEUE,
    TRANSLATE_COMMENT,
    TRANSLATION_QUEUE,
)
from core.messaging.dispatch import get_dispatcher
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Translation, utcnow
from tests.support import TEST_TRANSLATION_MAX_ATTEMPTS, poll

pytestmark = pytest.mark.usefixtures("worker")


def post(client, body: str, lang: str | None = "fr", thread: str = "t1") -> int:  # type: ignore[no-untyped-def]
    """Post a comment; return its id."""
    payload = {"thread": thread, "author": "Ada", "body": body}
    if lang:
        payload["lang"] = lang
    response = client.post("/api/comments", data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["id"]


def state(comment_id: int) -> tuple[Comment, dict[str, Translation]]:
    """Read a comment and its translations fresh from the database."""
    with db.session_scope() as session:
        comment = session.get(Comment, comment_id)
        return comment, {t.lang: t for t in comment.translations}


def settled(comment_id: int) -> tuple[Comment, dict[str, Translation]] | None:
    """Return the state once the check and every translation are final, else None."""
    comment, translations = state(comment_id)
    if comment.status == Status.PENDING or any(t.status == "pending" for t in translations.values()):
        return None
    return comment, translations


def wait_settled(comment_id: int, timeout: float = 20) -> tuple[Comment, dict[str, Translation]]:
    """Poll until *comment_id* settles."""
    return poll(lambda: settled(comment_id), timeout, what=f"comment {comment_id} to settle")


def publish_raw(stack, queue: str, actor: str, args: list) -> None:  # type: ignore[no-untyped-def]
    """Publish a Dramatiq message straight onto *queue*, as a duplicate delivery would."""
    assert get_dispatcher(stack.settings()).send(queue, actor, *args)


def test_clean_comment_is_published_and_translated(client):
    comment_id = post(client, "bonjour le monde")
    comment, translations = wait_settled(comment_id)
    assert comment.status == Status.PUBLISHED and comment.matched_words == []
    assert translations["en"].status == "done" and translations["en"].text == "[en] hello the world"
    public = client.get(f"/api/comments/{comment_id}").get_json()
    assert public["body"] == "bonjour le monde"
    assert public["translations"]["en"] == {"status": "done", "text": "[en] hello the world"}


def test_profane_comment_is_flagged_with_censored_body_and_words(client):
    comment_id = post(client, "what the fuck is this shit", lang="en")
    comment, _ = wait_settled(comment_id)
    assert comment.status == Status.FLAGGED
    assert comment.censored_body == "what the **** is this ****"
    assert set(comment.matched_words) == {"fuck", "shit"}
    assert client.get(f"/api/comments/{comment_id}").get_json()["body"] is None  # hold policy
    with db.session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.comment_id == comment_id)).all()
        assert [(e.kind, e.action) for e in events] == [("system", "flagged")]


def test_profane_translation_flags_an_undecided_comment(client):
    comment_id = post(client, "quelle merde")
    comment, translations = wait_settled(comment_id)
    assert translations["en"].text == "[en] quelle shit" and translations["en"].matched_words == ["shit"]
    assert comment.status == Status.FLAGGED and comment.matched_words == []


def test_unreachable_provider_ends_failed_with_reason(client, fake_translator):
    fake_translator.set_mode("500")
    comment_id = post(client, "bonjour")
    comment, translations = wait_settled(comment_id, timeout=60)
    assert comment.status == Status.PUBLISHED
    assert translations["en"].status == "failed"
    assert translations["en"].reason.startswith(f"gave up after {TEST_TRANSLATION_MAX_ATTEMPTS} attempts")
    assert translations["en"].attempts == TEST_TRANSLATION_MAX_ATTEMPTS  # the worker's setting, no retry storm


def test_permanent_provider_error_fails_without_retry(client, fake_translator):
    fake_translator.set_mode("garbage")
    comment_id = post(client, "bonjour")
    _, translations = wait_settled(comment_id)
    assert translations["en"].status == "failed" and translations["en"].attempts == 1
    assert translations["en"].reason


def test_unchanged_translation_is_skipped(client, fake_translator):
    fake_translator.set_mode("echo")
    comment_id = post(client, "bonjour")
    _, translations = wait_settled(comment_id)
    assert translations["en"].status == "skipped" and translations["en"].reason


def test_transient_errors_are_retried_until_success(client, fake_translator):
    fake_translator.set_mode("429", fail_times=2)
    comment_id = post(client, "bonjour")
    _, translations = wait_settled(comment_id, timeout=60)
    assert translations["en"].status == "done" and translations["en"].attempts == 3


def test_hanging_provider_frees_the_thread_within_the_timeout(client, fake_translator):
    fake_translator.clear()  # earlier tests' calls must not count as the hung one reaching the provider
    fake_translator.set_mode("hang", fail_times=1)  # the first call hangs, later ones answer
    hung = post(client, "bonjour")
    poll(lambda: [r for r in fake_translator.translations() if r.params.get("q") == "bonjour" and r.mode == "hang"],
         10, what="the hung call to reach the provider")
    # The worker has 4 threads; the hung call must not stop other comments from flowing.
    others = [post(client, f"bonjour {n}") for n in range(6)]
    for comment_id in others:
        assert wait_settled(comment_id)[1]["en"].status == "done"
    _, translations = wait_settled(hung, timeout=60)
    assert translations["en"].status == "done" and translations["en"].attempts >= 2


def test_duplicate_delivery_has_no_second_effect(client, stack):
    comment_id = post(client, "this is shit", lang="en", thread="dup")
    wait_settled(comment_id)
    before = state(comment_id)[0]
    for _ in range(3):
        publish_raw(stack, MODERATION_QUEUE, CHECK_PROFANITY, [comment_id])
    marker = post(client, "marker", lang="en", thread="dup")  # processed after the duplicates (one queue)
    wait_settled(marker)
    after = state(comment_id)[0]
    assert (after.status, after.checked_at, after.check_attempts) == (before.status, before.checked_at, 1)
    with db.session_scope() as session:
        count = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.comment_id == comment_id))
        assert count == 1


def test_decided_comment_is_never_changed_by_a_late_message(client, stack):
    comment_id = post(client, "bonjour tout le monde", thread="late")
    wait_settled(comment_id)
    with db.session_scope() as session:
        session.execute(update(Comment).where(Comment.id == comment_id).values(
            status=Status.REJECTED, decision="reject", decided_by="mod", decided_at=utcnow()))
        session.execute(update(Translation).where(Translation.comment_id == comment_id).values(status="pending"))
    publish_raw(stack, MODERATION_QUEUE, CHECK_PROFANITY, [comment_id])
    publish_raw(stack, TRANSLATION_QUEUE, TRANSLATE_COMMENT, [comment_id, "en"])
    comment, translations = wait_settled(comment_id)
    assert comment.status == Status.REJECTED and comment.decision == "reject"
    assert translations["en"].status == "skipped" and translations["en"].reason == "comment rejected"


@pytest.mark.parametrize(
    "queue, actor, args",
    [
        (MODERATION_QUEUE, CHECK_PROFANITY, ["not-an-id"]),
        (MODERATION_QUEUE, CHECK_PROFANITY, [987654321]),
        (MODERATION_QUEUE, CHECK_PROFANITY, [1, 2, 3]),
        (TRANSLATION_QUEUE, TRANSLATE_COMMENT, [1, "xx"]),
        (TRANSLATION_QUEUE, TRANSLATE_COMMENT, [987654321, "en"]),
        (CLASSIFICATION_QUEUE, CLASSIFY_COMMENTS, [[]]),
        (CLASSIFICATION_QUEUE, CLASSIFY_COMMENTS, [[1, "two"]]),
        (CLASSIFICATION_QUEUE, CLASSIFY_COMMENTS, [list(range(1, 500))]),
    ],
)
def test_malformed_messages_do_not_stop_the_worker(client, stack, queue, actor, args):
    publish_raw(stack, queue, actor, args)
    comment_id = post(client, "bonjour après le poison", thread="poison")
    assert wait_settled(comment_id)[0].status == Status.PUBLISHED
