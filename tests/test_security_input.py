"""Issue 13, hostile input: profane author names, junk numbers in moderator parameters, marker floods."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.storage import db
from core.storage.models import AuditEvent
from tests import seed
from tests.clients import api, csrf, login
from webapp import textview

SUPERSCRIPT_TWO = "\u00b2"  # str.isdigit() says yes, int() says no


@pytest.fixture
def token(app) -> str:  # type: ignore[no-untyped-def]
    """An API token of moderator alice."""
    return seed.moderator_token()


@pytest.fixture
def logged_in(client, token):  # type: ignore[no-untyped-def]
    """The client, logged in as alice through the form."""
    assert login(client).status_code == 302
    return client


def audit_count() -> int:
    """Return how many audit events exist."""
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent))


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
