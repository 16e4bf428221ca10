"""Moderator actions that involve the real worker: word lists, approvals, previews and rescans."""

from __future__ import annotations

import json

import pytest

from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Translation
from tests import seed
from tests.clients import api
from tests.support import poll

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def token(app) -> str:  # type: ignore[no-untyped-def]
    """An API token of moderator alice."""
    return seed.moderator_token()


def post(client, body: str) -> int:  # type: ignore[no-untyped-def]
    """Post an English comment; return its id."""
    response = client.post("/api/comments", data=json.dumps({"thread": "w", "author": "a", "body": body,
                                                              "lang": "en"}), content_type="application/json")
    return response.get_json()["id"]


def final_status(comment_id: int) -> str | None:
    """Return the comment's status once it is no longer pending."""
    with db.session_scope() as session:
        status = session.get(Comment, comment_id).status
    return None if status == Status.PENDING else status


def checked(comment_id: int) -> str:
    """Wait until the worker has checked the comment; return its status."""
    return poll(lambda: final_status(comment_id), 20, what=f"the check of comment {comment_id}")


def wait_job(client, token: str, job_id: int) -> dict:  # type: ignore[no-untyped-def]
    """Poll a job until it is done."""

    def done() -> dict | None:
        job = api(client, "get", f"/api/moderation/jobs/{job_id}", token).get_json()
        return job if job["status"] == "done" else None

    return poll(done, 30, what=f"job {job_id} done")


def test_word_list_changes_apply_to_the_next_check_without_restart(client, token):
    assert checked(post(client, "I love grapefruit")) == Status.PUBLISHED
    api(client, "post", "/api/moderation/wordlists", token, {"op": "add", "kind": "banned", "word": "grapefruit"})
    flagged = post(client, "I love grapefruit")
    assert checked(flagged) == Status.FLAGGED
    with db.session_scope() as session:
        assert session.get(Comment, flagged).matched_words == ["grapefruit"]
    assert checked(post(client, "what the hell")) == Status.FLAGGED
    api(client, "post", "/api/moderation/wordlists", token, {"op": "add", "kind": "allowed", "word": "hell"})
    assert checked(post(client, "what the hell")) == Status.PUBLISHED


def test_approving_queues_the_pending_translations(client, token):
    comment_id = seed.comment("bonjour merde", lang="fr", translations={"en": {"status": "pending"}})
    api(client, "post", f"/api/moderation/comments/{comment_id}/decision", token, {"action": "approve"})

    def translated() -> Translation | None:
        with db.session_scope() as session:
            translation = session.query(Translation).filter_by(comment_id=comment_id).one()
            return translation if translation.status != "pending" else None

    translation = poll(translated, 20, what="translation after approval")
    assert translation.status == "done" and translation.text == "[en] hello shit"
    with db.session_scope() as session:
        assert session.get(Comment, comment_id).status == Status.PUBLISHED  # the decision stands


def test_preview_counts_and_rescan_applies_without_touching_decisions(client, token):
    clean = [post(client, f"kiwi number {n}") for n in range(3)]
    assert [checked(comment_id) for comment_id in clean] == [Status.PUBLISHED] * 3
    decided = seed.comment("kiwi decided", status=Status.PUBLISHED)
    api(client, "post", f"/api/moderation/comments/{decided}/decision", token, {"action": "reject"})
    # Preview: nothing changes yet, but the count is known.
    job = api(client, "post", "/api/moderation/wordlists/preview", token,
              {"op": "add", "kind": "banned", "word": "kiwi"})
    assert job.status_code == 202
    preview = wait_job(client, token, job.get_json()["id"])
    assert preview["result"]["would_flag"] == 3 and preview["done"] == preview["total"]
    assert all(final_status(c) == Status.PUBLISHED for c in clean)
    # Apply and rescan.
    api(client, "post", "/api/moderation/wordlists", token, {"op": "add", "kind": "banned", "word": "kiwi"})
    rescan = wait_job(client, token, api(client, "post", "/api/moderation/rescan", token).get_json()["id"])
    assert rescan["result"]["flagged"] == 3
    assert all(final_status(c) == Status.FLAGGED for c in clean)
    with db.session_scope() as session:
        assert session.get(Comment, decided).status == Status.REJECTED
        assert session.query(AuditEvent).filter_by(action="flagged").count() == 3
