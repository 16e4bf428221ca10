"""Issue 13, hostile input: profane author names, junk numbers in moderator parameters, marker floods."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.moderation import checking, tasks
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status
from tests import seed
from tests.clients import api, csrf, login, post
from webapp import textview

SUPERSCRIPT_TWO = "\u00b2"  # str.isdigit() says yes, int() says no
AUTHOR_MATCH = [{"source": "author", "words": ["fuck"], "censored": "**** Face"}]


@pytest.fixture
def app(stack, vhost, clean_db):  # type: ignore[no-untyped-def]
    """The app on a vhost no worker consumes: these tests run the checks themselves (a suite-wide worker
    started by an earlier test would otherwise check the comments first)."""
    from webapp import create_app

    return create_app({"PARLEY": stack.settings(broker_url=vhost), "TESTING": True})


@pytest.fixture
def token(app) -> str:  # type: ignore[no-untyped-def]
    """An API token of moderator alice."""
    return seed.moderator_token()


@pytest.fixture
def logged_in(client, token):  # type: ignore[no-untyped-def]
    """The client, logged in as alice through the form."""
    assert login(client).status_code == 302
    return client


def flagged_details(comment_id: int) -> list[dict]:
    """Return the detail of each "flagged" audit event of a comment."""
    with db.session_scope() as session:
        return list(session.scalars(select(AuditEvent.detail).where(
            AuditEvent.comment_id == comment_id, AuditEvent.action == "flagged")))


def row(comment_id: int) -> tuple[str, list | None]:
    """Return (status, matched_words) of a comment."""
    with db.session_scope() as session:
        comment = session.get(Comment, comment_id)
        return comment.status, comment.matched_words


def author_flagged() -> int:
    """Insert a comment flagged for its author name "Fuck Face" only, as the check leaves it; return its id."""
    comment_id = seed.comment("nice", words=[], author="Fuck Face")
    with db.session_scope() as session:
        session.get(Comment, comment_id).matched_words = AUTHOR_MATCH
    return comment_id


def audit_count() -> int:
    """Return how many audit events exist."""
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent))


# ---- the author name is public text: checked with the body --------------------------------------

def test_a_profane_author_flags_the_comment_and_says_the_author_matched(client, token):
    # Given: the POST of the issue, and two more
    ids = {name: post(client, {"thread": "t", "author": author, "body": body}).get_json()["id"]
           for name, author, body in [("author", "Fuck Shit Cunt", "nice"), ("both", "Sh1t Head", "what the fuck"),
                                      ("clean", "Scunthorpe Hancock", "assess the class")]}
    # When: a worker checks them (one batch: the prepared statement on PostgreSQL, one by one on SQLite)
    out = checking.check_comments(list(ids.values()), max_attempts=3)
    # Then: the author name alone flags a comment, and the record says where the words were found
    assert {name: out[i].status for name, i in ids.items()} == {
        "author": Status.FLAGGED, "both": Status.FLAGGED, "clean": Status.PUBLISHED}
    assert row(ids["author"]) == (Status.FLAGGED, [
        {"source": "author", "words": ["fuck", "shit", "cunt"], "censored": "**** **** ****"}])
    assert flagged_details(ids["author"]) == [
        {"words": ["fuck", "shit", "cunt"], "source": "author", "author_words": ["fuck", "shit", "cunt"],
         "reasons": ["profanity"]}]
    assert flagged_details(ids["both"]) == [
        {"words": ["fuck", "shithead"], "source": "body+author", "author_words": ["shithead"],
         "reasons": ["profanity"]}]
    assert row(ids["clean"]) == (Status.PUBLISHED, []) and flagged_details(ids["clean"]) == []
    # The moderator sees the name as written, and that it matched; the public view hides it (policy hold)
    full = api(client, "get", f"/api/moderation/comments/{ids['author']}", token).get_json()
    assert (full["author"], full["author_flagged"], full["author_matched_words"], full["matched_words"]) == (
        "Fuck Shit Cunt", True, ["fuck", "shit", "cunt"], [])
    assert full["censored_author"] == "**** **** ****"
    clean = api(client, "get", f"/api/moderation/comments/{ids['clean']}", token).get_json()
    assert (clean["author_flagged"], clean["author_matched_words"], clean["censored_author"]) == (False, [], None)
    public = client.get(f"/api/comments/{ids['author']}").get_json()
    assert (public["author"], public["body"]) == ("**** **** ****", None)
    assert client.get(f"/api/comments/{ids['clean']}").get_json()["author"] == "Scunthorpe Hancock"


def test_under_censor_a_flagged_comment_shows_its_author_censored_like_its_body(stack, clean_db):
    from webapp import create_app

    client = create_app({"PARLEY": stack.settings(moderation_policy="censor"), "TESTING": True}).test_client()
    comment_id = post(client, {"thread": "t", "author": "Ada the shit", "body": "damn fine"}).get_json()["id"]
    checking.check_comments([comment_id], max_attempts=3)
    public = client.get(f"/api/comments/{comment_id}").get_json()
    assert (public["status"], public["author"], public["body"]) == (Status.FLAGGED, "Ada the ****", "**** fine")
    listed = client.get("/api/threads/t/comments").get_json()["comments"]
    assert [(c["author"], c["body"]) for c in listed] == [("Ada the ****", "**** fine")]
    # Approved by a moderator: the name is shown as written, like the body
    seed.decision(comment_id, "approve", "alice")
    assert client.get(f"/api/comments/{comment_id}").get_json()["author"] == "Ada the shit"


def test_the_pages_show_that_the_author_name_matched(logged_in):
    comment_id = author_flagged()
    for path in ("/moderation/", f"/moderation/comments/{comment_id}"):
        html = logged_in.get(path).text
        assert "<mark>Fuck</mark> Face" in html and "matched" in html
    assert "Matched in the author name" in logged_in.get(f"/moderation/comments/{comment_id}").text


def test_a_rescan_keeps_a_comment_flagged_for_its_author_name(token):
    comment_id = author_flagged()
    with db.session_scope() as session:
        task_id = tasks.create(session, tasks.RESCAN, {}, "alice").id
    result = tasks.run(task_id)
    assert (result["flagged"], result["unflagged"]) == (0, 0)
    assert row(comment_id) == (Status.FLAGGED, AUTHOR_MATCH)


# ---- junk numbers and shapes in moderator parameters: 400, never 500 -----------------------------

@pytest.mark.parametrize("path, field", [
    (f"/api/moderation/stats?days={SUPERSCRIPT_TWO}", "days"),
    ("/api/moderation/stats?days=" + "1" * 5000, "days"),
    (f"/api/moderation/audit?comment_id={SUPERSCRIPT_TWO}", "comment_id"),
    ("/api/moderation/audit?comment_id=" + "9" * 23, "comment_id"),
    ("/api/moderation/audit?comment_id=" + "1" * 5000, "comment_id"),
])
def test_junk_numbers_in_api_parameters_are_400_with_the_error_shape(client, token, path, field):
    response = api(client, "get", path, token)
    assert response.status_code == 400, response.text[:300]
    assert field in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("flt, field", [
    ({"status": 5}, "status"), ({"thread": ["x"]}, "thread"), ({"q": {"a": 1}}, "q"), ({"status": None, "q": 7}, "q"),
])
def test_a_filter_with_values_of_the_wrong_type_is_400(client, token, flt, field):
    seed.comment()
    response = api(client, "post", "/api/moderation/decisions", token, {"filter": flt, "action": "approve"})
    assert response.status_code == 400, response.text[:300]
    assert field in response.get_json()["error"]["fields"]
    assert audit_count() == 0


@pytest.mark.parametrize("comment_id", [SUPERSCRIPT_TWO, "9" * 23, "1" * 5000])
def test_the_audit_page_ignores_a_junk_comment_id_filter_with_a_message(logged_in, comment_id):
    response = logged_in.get("/moderation/audit", query_string={"comment_id": comment_id})
    assert response.status_code == 200
    assert "Filter ignored" in response.text


@pytest.mark.parametrize("days", [SUPERSCRIPT_TWO, "1" * 5000])
def test_the_stats_page_ignores_junk_days_with_a_message(logged_in, days):
    response = logged_in.get("/moderation/stats", query_string={"days": days})
    assert response.status_code == 200 and "Days ignored" in response.text


@pytest.mark.parametrize("junk", [SUPERSCRIPT_TWO, "1" * 5000, "9" * 23, "0"])
def test_the_bulk_form_refuses_junk_ids_and_decides_nothing(logged_in, junk):
    comment_id = seed.comment()
    response = logged_in.post("/moderation/decisions", data={
        "csrf_token": csrf(logged_in), "bulk": "approve:selected",
        "ids": [str(comment_id), junk], "next": "/moderation/"})
    assert response.status_code == 302
    assert "a positive integer" in logged_in.get("/moderation/").text
    assert audit_count() == 0


# ---- invisible-character floods: one marker per run ----------------------------------------------

def test_a_run_of_one_hidden_character_is_one_marker_with_a_count(logged_in):
    flood = "\u202e" * 4990
    ids = [seed.comment(f"look {flood} shit {i}", author=f"Eve{flood[:50]}") for i in range(20)]
    page = logged_in.get("/moderation/?limit=20")
    assert page.status_code == 200
    html = page.text
    assert all(f"/moderation/comments/{i}" in html for i in ids)
    assert "\u202e" not in html and html.count("⟨U+202E ×4990⟩") == 20 and "⟨U+202E ×50⟩" in html
    assert len(page.data) < 200_000, len(page.data)  # 48 KB; it was 8.6 MB: a 90-byte marker per character


def test_alternating_hidden_characters_are_one_marker_too():
    html = textview.show_text("x" + "\u202e\u202d" * 2000 + "y")
    assert html.count("invisible-char") == 1 and "⟨U+202E U+202D ×4000⟩" in html and len(html) < 300
    assert "⟨U+202E⟩" in textview.show_text("a\u202eb") and "⟨U+200B ×3⟩" in textview.show_text("a\u200b\u200b\u200bb")


def _find_problem_char_by_char(value: str, *, multiline: bool) -> str | None:
    """The reference: every character looked at in Python (what core.comments.text.find_problem did before)."""
    import unicodedata

    allowed = frozenset("\n\r\t") if multiline else frozenset()
    for index, char in enumerate(value):
        category = unicodedata.category(char)
        if char == "\x00":
            return f"contains a NUL character at position {index}"
        if category == "Cs":
            return f"contains a lone surrogate at position {index}"
        if category == "Cc" and char not in allowed:
            return f"contains control character U+{ord(char):04X} at position {index}"
        if 0xFDD0 <= ord(char) <= 0xFDEF or (ord(char) & 0xFFFE) == 0xFFFE:
            return f"contains noncharacter U+{ord(char):04X} at position {index}"
    return None


def test_refused_characters_are_found_by_one_pattern_exactly_as_one_by_one():
    """find_problem's pattern refuses what the character-by-character rules refuse, and says the same of it: every
    code point alone, and random texts mixing allowed and refused ones."""
    import random
    import sys

    from core.comments.text import find_problem

    for multiline in (False, True):
        for point in range(sys.maxunicode + 1):
            char = chr(point)
            assert find_problem(char, multiline=multiline) == _find_problem_char_by_char(char, multiline=multiline)
        rng = random.Random(13)
        pieces = ["a", "é", "\n", "\t", "\r", "\x00", "\x07", "\x85", "\ud800", "\ufdd0", "\ufffe", "\U0010ffff",
                  "😀", "\u202e", " "]
        for _ in range(2000):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
            assert find_problem(text, multiline=multiline) == _find_problem_char_by_char(text, multiline=multiline)
