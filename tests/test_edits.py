"""Authors' edits and the automated work: a result computed for an older version of a comment is never applied.

Domain-level races (claim, edit, record) run on both databases without processes; the last tests run the whole
path (PATCH, the real worker, the re-dispatch) the way production does.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from core.comments import authors, edits
from core.config import Settings
from core.moderation import checking, decisions
from core.scheduling import maintenance
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, TranslationStatus, utcnow
from core.translation import workflow
from core.translation.adapter import Translator
from tests import seed
from tests.support import poll

MAX = 3


TOKEN = "the-author-token"
SETTINGS: list[Settings] = []


@pytest.fixture
def database(stack, clean_db):  # type: ignore[no-untyped-def]
    db.configure(stack.database_url)
    SETTINGS[:] = [stack.settings()]
    return stack


def edit(comment_id: int, body: str) -> int:
    """Edit a comment as its author does (core.comments.edits, as PATCH does); return the new version."""
    with db.session_scope() as session:
        return edits.edit(session, comment_id, TOKEN, body, SETTINGS[0]).version


def row(comment_id: int) -> Comment:
    """Read a comment fresh, with its translations."""
    with db.session_scope() as session:
        comment = session.get(Comment, comment_id)
        _ = comment.translations
        session.expunge_all()
        return comment


def flagged_keys(comment_id: int) -> list[str]:
    """Return the dedupe keys of the comment's "flagged" audit events."""
    with db.session_scope() as session:
        return sorted(session.scalars(select(AuditEvent.dedupe_key).where(
            AuditEvent.comment_id == comment_id, AuditEvent.action == "flagged")))


def pending(body: str, **translations: dict) -> int:  # type: ignore[type-arg]
    """Seed an unchecked comment in French with pending translations into *translations*."""
    rows = {lang: {"status": TranslationStatus.PENDING, **columns} for lang, columns in translations.items()}
    return seed.comment(body, status=Status.PENDING, lang="fr", translations=rows,
                        author_token_hash=authors.hash_token(TOKEN))


class EditingTranslator(Translator):
    """Answers the way the fake provider does, after the author edited the comment under it (first call only)."""

    def __init__(self, comment_id: int, new_body: str, answer: str, then=None) -> None:  # type: ignore[no-untyped-def]
        self.comment_id, self.new_body, self.answer, self.then = comment_id, new_body, answer, then
        self.calls: list[str] = []

    def translate(self, text: str, source: str | None, target: str) -> str:
        self.calls.append(text)
        if len(self.calls) == 1:
            edit(self.comment_id, self.new_body)
            if self.then is not None:
                self.then()
            return self.answer
        return f"[{target}] {text}"


# ---- the check ----------------------------------------------------------------------------------------------


def test_an_edit_between_claim_and_record_discards_the_old_verdict(database, monkeypatch):
    # Given a profane comment whose check is running (claimed, the engine at work)
    comment_id = pending("what the fuck", en={})
    real_examine = checking.examine

    def examine_while_the_author_edits(engine, body, author):  # type: ignore[no-untyped-def]
        verdict = real_examine(engine, body, author)
        if body == "what the fuck":
            edit(comment_id, "what a lovely day")
        return verdict

    monkeypatch.setattr(checking, "examine", examine_while_the_author_edits)
    # When the author edits before the verdict is recorded
    assert checking.check_comments([comment_id], MAX) == {}
    # Then the old verdict is discarded: version 2 is pending, unchecked, not flagged, no audit event
    comment = row(comment_id)
    assert (comment.version, comment.status, comment.checked_at) == (2, Status.PENDING, None)
    assert flagged_keys(comment_id) == []
    # And the new version's own check message does the work
    assert checking.check_comments([comment_id], MAX) == {comment_id: checking.Checked(Status.PUBLISHED, ["en"])}
    comment = row(comment_id)
    assert (comment.status, comment.censored_body, comment.matched_words) == (Status.PUBLISHED, "what a lovely day", [])


def test_a_late_duplicate_check_for_the_old_version_changes_nothing(database):
    # Given a comment checked (clean), edited to a profane body, and that version checked (flagged)
    comment_id = pending("a lovely day", en={})
    assert checking.check_comments([comment_id], MAX)[comment_id].status == Status.PUBLISHED
    assert edit(comment_id, "a fucking lovely day") == 2
    assert checking.check_comments([comment_id], MAX)[comment_id].status == Status.FLAGGED
    before = row(comment_id)
    # When the first version's check message arrives again (messages carry only the id)
    assert checking.check_comments([comment_id], MAX) == {}
    # Then nothing changes and the flag of version 2 was audited once, under its own key
    after = row(comment_id)
    assert (after.status, after.censored_body, after.check_attempts, after.version) == (
        before.status, before.censored_body, before.check_attempts, 2)
    assert "****" in after.censored_body and after.matched_words
    assert flagged_keys(comment_id) == [f"flagged:{comment_id}:v2"]


def test_each_flagged_version_is_audited_once(database):
    comment_id = pending("what the fuck")
    assert checking.check_comments([comment_id], MAX)[comment_id].status == Status.FLAGGED
    edit(comment_id, "what the shit")
    assert checking.check_comments([comment_id], MAX)[comment_id].status == Status.FLAGGED
    assert checking.check_comments([comment_id], MAX) == {}
    assert flagged_keys(comment_id) == sorted([f"flagged:{comment_id}", f"flagged:{comment_id}:v2"])


def test_a_hold_for_an_old_version_is_not_applied(database):
    comment_id = pending("hello")
    edit(comment_id, "hello again")
    with db.session_scope() as session:
        assert not checking.hold_for_review(session, comment_id, "old version", 1)
    assert row(comment_id).status == Status.PENDING


# ---- the translation ----------------------------------------------------------------------------------------


def test_a_translation_of_an_old_version_is_discarded(database):
    # Given a checked comment whose translation is running
    comment_id = pending("bonjour le monde", en={})
    checking.check_comments([comment_id], MAX)
    translator = EditingTranslator(comment_id, "bonsoir le monde", "[en] hello the world")
    # When the author edits before the translation is stored
    assert workflow.translate(comment_id, "en", translator, MAX) is None
    # Then the old text is discarded: the translation is pending again, for version 2
    translation = row(comment_id).translations[0]
    assert (translation.status, translation.version, translation.text) == (TranslationStatus.PENDING, 2, None)
    # And version 2's check sends it again: translated from the new body
    checking.check_comments([comment_id], MAX)
    assert workflow.translate(comment_id, "en", translator, MAX) == TranslationStatus.DONE
    translation = row(comment_id).translations[0]
    assert (translation.status, translation.version, translation.text) == ("done", 2, "[en] bonsoir le monde")


def test_a_profane_translation_of_an_old_version_does_not_flag_the_new_one(database):
    # Given a published comment whose translation (of version 1) is running
    comment_id = pending("quelle journée", en={})
    checking.check_comments([comment_id], MAX)

    def check_version_2() -> None:
        assert checking.check_comments([comment_id], MAX)[comment_id].status == Status.PUBLISHED

    # When the author edits, version 2 is checked clean, and then the old profane translation comes back
    translator = EditingTranslator(comment_id, "quelle belle journée", "[en] what a shit day", then=check_version_2)
    assert workflow.translate(comment_id, "en", translator, MAX) is None
    # Then version 2 stays published and the old text was not stored
    comment = row(comment_id)
    assert (comment.version, comment.status, comment.translations[0].text) == (2, Status.PUBLISHED, None)
    assert flagged_keys(comment_id) == []


def test_a_translation_claim_needs_the_current_version(database):
    comment_id = pending("bonjour", en={"version": 1})
    with db.session_scope() as session:  # a row left behind for an older version (the edit resets them all)
        session.execute(update(Comment).where(Comment.id == comment_id).values(version=2))
    assert workflow.claim_translation(comment_id, "en", MAX) is None
    assert row(comment_id).translations[0].attempts == 0


# ---- the re-dispatch ----------------------------------------------------------------------------------------


def test_an_edited_comment_whose_message_was_lost_is_sent_again(database, stack):
    settings = stack.settings(stuck_after_seconds=300, redispatch_max_attempts=2)
    comment_id = pending("bonjour", en={})
    checking.check_comments([comment_id], MAX)
    edit(comment_id, "bonsoir")
    now = utcnow()
    with db.session_scope() as session:
        assert maintenance.redispatch(session, settings, now).checks == []  # just edited: its message may be on its way
    with db.session_scope() as session:
        outcome = maintenance.redispatch(session, settings, now + timedelta(seconds=301))
    assert outcome.checks == [comment_id] and outcome.translations == []  # translations wait for the check
    checking.check_comments([comment_id], MAX)
    with db.session_scope() as session:
        outcome = maintenance.redispatch(session, settings, now + timedelta(seconds=700))
    assert outcome.translations == [(comment_id, "en")]



# ---- the edit itself against the automated writes ----------------------------------------------------------


def test_a_check_arriving_while_the_edit_is_being_written_waits_and_judges_the_new_text(database, monkeypatch):
    if database.backend == "sqlite":
        pytest.skip("SQLite: the edit's transaction holds the database from its first read (BEGIN IMMEDIATE)")
    # The edit reads the comment FOR UPDATE: a check arriving in between waits for the edit's commit, then claims
    # version 2 (before the lock, the ORM's write of only the changed columns left version 1's verdict on it).
    comment_id = pending("what the fuck", en={})
    read = edits.get
    outcome: dict[str, object] = {}

    def read_then_check(session, cid, **kwargs):  # type: ignore[no-untyped-def]
        comment = read(session, cid, **kwargs)
        checker = threading.Thread(target=lambda: outcome.update(out=checking.check_comments([cid], MAX)))
        checker.start()
        outcome["thread"] = checker
        poll(lambda: waiting_on_a_lock() > 0, 10, what="the check waiting for the edit's row lock")
        return comment

    monkeypatch.setattr(edits, "get", read_then_check)
    # When the edit is written while a check is under way
    assert edit(comment_id, "what a lovely day") == 2
    outcome["thread"].join(10)  # type: ignore[attr-defined]
    # Then the check judged version 2's text: no verdict for version 1's text is on it
    assert outcome["out"][comment_id].status == Status.PUBLISHED  # type: ignore[index]
    comment = row(comment_id)
    assert (comment.version, comment.status, comment.censored_body) == (2, Status.PUBLISHED, "what a lovely day")


def waiting_on_a_lock() -> int:
    """Return how many PostgreSQL backends wait on a lock right now."""
    with db.session_scope() as session:
        return session.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).scalar()


def test_an_approved_then_edited_comment_is_checked_again_and_decided_again(database):
    # Given a flagged comment a moderator approved
    comment_id = pending("what the fuck")
    checking.check_comments([comment_id], MAX)
    with db.session_scope() as session:
        decisions.decide(session, comment_id, decisions.DecisionRequest("approve", None), "mod", SETTINGS[0])
    # When its author edits it (to another profane text)
    edit(comment_id, "what the shit")
    # Then the approval is cleared for the new version, which is checked (flagged) and decided on its own
    comment = row(comment_id)
    assert (comment.status, comment.decision, comment.version) == (Status.PENDING, None, 2)
    assert checking.check_comments([comment_id], MAX)[comment_id].status == Status.FLAGGED
    with db.session_scope() as session:
        decisions.decide(session, comment_id, decisions.DecisionRequest("reject", None), "mod", SETTINGS[0])
    with db.session_scope() as session:
        keys = sorted(session.scalars(select(AuditEvent.dedupe_key).where(AuditEvent.comment_id == comment_id,
                                                                          AuditEvent.dedupe_key.is_not(None))))
    assert keys == sorted([f"flagged:{comment_id}", f"decision:{comment_id}", f"flagged:{comment_id}:v2",
                           f"decision:{comment_id}:v2"])
    assert row(comment_id).status == Status.REJECTED


# ---- through the web and a real worker ----------------------------------------------------------------------


def post_comment(client, body: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """POST a French comment; return its id and author token."""
    response = client.post("/api/comments", json={"thread": "edits", "author": "Ada", "body": body, "lang": "fr"})
    assert response.status_code == 202, response.get_data(as_text=True)
    answer = response.get_json()
    return answer["id"], answer["author_token"]


def patch(client, comment_id: int, token: str, body: str):  # type: ignore[no-untyped-def]
    """PATCH a comment's body as its author."""
    return client.patch(f"/api/comments/{comment_id}", json={"body": body}, headers={"X-Author-Token": token})


def settled_at(comment_id: int, version: int) -> Comment | None:
    """Return the comment once *version* is checked and translated, else None."""
    comment = row(comment_id)
    if comment.version != version or comment.status == Status.PENDING:
        return None
    return comment if all(t.status in TranslationStatus.FINAL for t in comment.translations) else None


@pytest.mark.usefixtures("worker")
def test_edited_comments_reach_a_final_state_for_their_last_version(client):
    # Given two comments checked and translated by the worker
    clean, clean_token = post_comment(client, "bonjour le monde")
    rough, rough_token = post_comment(client, "quelle merde")
    poll(lambda: settled_at(clean, 1) and settled_at(rough, 1), 30, what="both comments to settle")
    # When their authors edit them, one three times in a row (while the first edit's check runs)
    assert patch(client, clean, clean_token, "bonjour le fuck monde").status_code == 200
    for body in ("merci", "merci le chat", "merci le monde"):
        assert patch(client, rough, rough_token, body).status_code == 200
    # Then each ends final for its last version, with verdicts and translations of that body only
    flagged = poll(lambda: settled_at(clean, 2), 30, what="the edited comment to settle")
    assert (flagged.status, flagged.body, flagged.censored_body) == (Status.FLAGGED, "bonjour le fuck monde",
                                                                      "bonjour le **** monde")
    assert [(t.version, t.text) for t in flagged.translations] == [(2, "[en] hello the fuck world")]
    published = poll(lambda: settled_at(rough, 4), 30, what="the thrice edited comment to settle")
    assert (published.status, published.body, published.matched_words) == (Status.PUBLISHED, "merci le monde", [])
    assert [(t.status, t.version, t.text) for t in published.translations] == [("done", 4, "[en] thanks the world")]
    # And the public view shows the last version
    public = client.get(f"/api/comments/{rough}").get_json()
    assert (public["body"], public["version"]) == ("merci le monde", 4) and public["edited_at"]
