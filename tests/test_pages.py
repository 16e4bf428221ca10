"""The moderator pages through the Flask test client, on SQLite and PostgreSQL: access, CSRF, escaping, forms."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from core.moderation import accounts, wordlists
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Task, WordEntry, WordListVersion
from tests import seed
from tests.browser_support import XSS_AUTHOR, XSS_BODY, XSS_TRANSLATION
from tests.clients import csrf, login, post_form
from webapp import textview

PAGES = ["/moderation/", "/moderation/comments/1", "/moderation/audit", "/moderation/words",
         "/moderation/stats", "/moderation/jobs/1"]
FORMS = ["/moderation/comments/1/decision", "/moderation/decisions", "/moderation/words",
         "/moderation/words/preview", "/moderation/words/rescan"]


# ---- helpers ------------------------------------------------------------------------------------

def sid(client) -> str | None:  # type: ignore[no-untyped-def]
    """Return the server-side session id inside the client's signed cookie."""
    with client.session_transaction() as session:
        return session.get("sid")


def comment_state(comment_id: int) -> tuple[str, str | None, str | None, str | None]:
    """Return (status, decision, decided_by, reason) of a comment."""
    with db.session_scope() as session:
        row = session.get(Comment, comment_id)
        return row.status, row.decision, row.decided_by, row.decision_reason


def decision_events(comment_id: int | None = None) -> list[AuditEvent]:
    """Return the decision audit events, optionally of one comment."""
    with db.session_scope() as session:
        statement = select(AuditEvent).where(AuditEvent.kind == "decision").order_by(AuditEvent.id)
        if comment_id is not None:
            statement = statement.where(AuditEvent.comment_id == comment_id)
        return list(session.scalars(statement))


def count(model) -> int:  # type: ignore[no-untyped-def]
    """Return how many rows *model* has."""
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


class Markup(HTMLParser):
    """Collect what could execute in a page: script tags, event-handler and style attributes, elements."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.inline_scripts = 0
        self.handlers: list[str] = []
        self.styles = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        self.tags.append(tag)
        if tag == "script" and "src" not in names:
            self.inline_scripts += 1
        self.handlers += [name for name in names if name.startswith("on")]
        self.styles += "style" in names


@pytest.fixture
def alice(app):  # type: ignore[no-untyped-def]
    """A moderator named alice."""
    seed.moderator("alice")


@pytest.fixture
def logged_in(client, alice):  # type: ignore[no-untyped-def]
    """The client, logged in as alice."""
    assert login(client).status_code == 302
    return client


@pytest.fixture
def no_dispatch(monkeypatch):  # type: ignore[no-untyped-def]
    """Record the translations and jobs the pages would send instead of sending them."""
    sent: dict[str, list] = {"translations": [], "jobs": []}

    class Dispatcher:
        def send_task(self, task_id: int) -> bool:
            sent["jobs"].append(task_id)
            return True

    monkeypatch.setattr("core.moderation.decisions.send_translations",
                        lambda session, dispatcher, ids: sent["translations"].extend(ids))
    monkeypatch.setattr("webapp.web.get_dispatcher", lambda settings: Dispatcher())
    return sent


# ---- access control ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_anonymous_visitors_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/moderation/login?next=")


@pytest.mark.parametrize("path", FORMS)
def test_anonymous_posts_are_refused_even_with_a_csrf_token(client, path, no_dispatch):
    comment_id = seed.comment()
    response = post_form(client, path.replace("/1/", f"/{comment_id}/"), action="approve", bulk="approve:filter",
                         ids=str(comment_id), kind="banned", word="frack")
    assert response.status_code == 302 and response.headers["Location"].startswith("/moderation/login")
    assert comment_state(comment_id)[0] == Status.FLAGGED
    assert count(AuditEvent) == 0 and count(WordEntry) == 0 and count(Task) == 0
    assert no_dispatch == {"translations": [], "jobs": []}


def test_login_redirects_to_the_page_asked_for(client, alice):
    client.get("/moderation/audit")
    response = client.post("/moderation/login?next=/moderation/audit",
                           data={"name": "alice", "password": seed.PASSWORD, "csrf_token": csrf(client)})
    assert response.headers["Location"] == "/moderation/audit"
    assert client.get("/moderation/audit").status_code == 200


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_form_posts_without_the_right_csrf_token_are_rejected(logged_in, token):
    comment_id = seed.comment()
    data = {"action": "approve"} if token is None else {"action": "approve", "csrf_token": token}
    response = logged_in.post(f"/moderation/comments/{comment_id}/decision", data=data)
    assert response.status_code == 400
    assert "CSRF" in response.text and "<!doctype html>" in response.text
    assert comment_state(comment_id)[0] == Status.FLAGGED and count(AuditEvent) == 0
    # Logging out needs the token too (a forged logout is a nuisance, not harmless).
    assert logged_in.post("/moderation/logout").status_code == 400
    assert logged_in.get("/moderation/").status_code == 200


def test_cookie_authenticated_api_writes_need_the_csrf_header(logged_in):
    comment_id = seed.comment()
    url = f"/api/moderation/comments/{comment_id}/decision"
    assert logged_in.post(url, json={"action": "approve"}).status_code == 400
    assert logged_in.post(url, json={"action": "approve"}, headers={"X-CSRF-Token": "nope"}).status_code == 400
    assert comment_state(comment_id)[0] == Status.FLAGGED
    response = logged_in.post(url, json={"action": "approve"}, headers={"X-CSRF-Token": csrf(logged_in)})
    assert response.status_code == 200 and comment_state(comment_id)[0] == Status.PUBLISHED


# ---- sessions ---------------------------------------------------------------------------------

def test_login_cookie_is_httponly_and_samesite_lax(client, alice):
    response = login(client)
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("parley_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


def test_login_rotates_the_session_and_the_csrf_token(client, alice):
    anonymous_token = csrf(client)
    login(client)
    first_sid, first_token = sid(client), csrf(client)
    assert first_sid and first_token != anonymous_token
    login(client)
    second_sid, second_token = sid(client), csrf(client)
    assert second_sid != first_sid and second_token != first_token
    with db.session_scope() as session:
        assert accounts.resolve(session, first_sid, "session") is None  # the old session is gone
        assert accounts.resolve(session, second_sid, "session").name == "alice"


def test_logout_invalidates_the_old_cookie_on_the_server(app, logged_in):
    old_cookie = logged_in.get_cookie("parley_session").value
    response = post_form(logged_in, "/moderation/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/moderation/login"
    replay = app.test_client()
    replay.set_cookie("parley_session", old_cookie)
    assert replay.get("/moderation/").status_code == 302
    assert replay.get("/api/moderation/comments").status_code == 401


# ---- headers and escaping ---------------------------------------------------------------------

def test_pages_send_security_headers_and_use_no_inline_script_or_style(logged_in):
    comment_id = seed.comment(author=XSS_AUTHOR, body=XSS_BODY, translations={"de": XSS_TRANSLATION})
    paths = [p for p in PAGES if "/1" not in p] + [f"/moderation/comments/{comment_id}", "/moderation/login",
                                                    "/moderation/?status=all"]
    for path in paths:
        response = logged_in.get(path)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        page = Markup(response.text)
        assert (page.inline_scripts, page.handlers, page.styles) == (0, [], 0), path


def test_user_text_is_escaped_everywhere(logged_in):
    reason = "<b onmouseover=alert('reason')>bye</b>"
    comment_id = seed.comment(author=XSS_AUTHOR, body=XSS_BODY, thread="t/<i>x</i>",
                              words=["<script>"], translations={"de": XSS_TRANSLATION})
    decided = seed.comment(author=XSS_AUTHOR, status=Status.REJECTED, decision="reject", decided_by="alice",
                           decision_reason=reason)
    pages = [logged_in.get("/moderation/?status=all").text, logged_in.get(f"/moderation/comments/{comment_id}").text,
             logged_in.get(f"/moderation/comments/{decided}").text]
    for html in pages:
        for payload in (XSS_BODY, XSS_AUTHOR, XSS_TRANSLATION, reason, "<i>x</i>"):
            assert payload not in html
        page = Markup(html)
        assert not {"img", "svg", "i", "b"} & set(page.tags) and page.inline_scripts == 0 and not page.handlers
    assert "<mark>&lt;script&gt;</mark>alert(&#39;body&#39;)&lt;/script&gt;" in pages[1]  # highlighted, still escaped
    assert "&lt;img src=x onerror=alert(&#39;author&#39;)&gt;" in pages[1]
    assert "&lt;svg onload=alert(&#39;translation&#39;)&gt;" in pages[1]
    assert "&lt;b onmouseover=alert(&#39;reason&#39;)&gt;bye&lt;/b&gt;" in pages[2]


def test_bidi_and_invisible_characters_are_shown_as_markers(logged_in):
    comment_id = seed.comment("Pay \u202egnp.exe\u202c now\u200b!", author="Eve\u2067x",
                              translations={"fr": "Payez \u2066maintenant\u2069"})
    html = logged_in.get(f"/moderation/comments/{comment_id}").text
    assert "⚠ bidi controls" in html and "⚠ invisible characters" in html
    for char in "\u202e\u202c\u200b\u2067\u2066\u2069":
        assert char not in html
        assert f"⟨U+{ord(char):04X}⟩" in html
    assert 'dir="auto"' in html and "<bdi" in html


def test_text_view_highlights_case_insensitively_and_escapes_each_piece():
    html = textview.show_text("Shit & <b>SHIT</b> shitty", ["shit", "shitty", "<b>"])
    assert html == ("<mark>Shit</mark> &amp; <mark>&lt;b&gt;</mark><mark>SHIT</mark>&lt;/b&gt; <mark>shitty</mark>")
    assert textview.show_text("👨\u200d👩\u200d👧 ok") == "👨\u200d👩\u200d👧 ok"  # emoji joiners are fine
    assert textview.warnings("👨\u200d👩\u200d👧") == []
    assert textview.warnings("a\u200db") == ["invisible characters"]
    assert textview.warnings("\u061c") == ["bidi controls"]
    assert "⟨U+202E⟩" in textview.show_text("x\u202ey", ["x"])
    assert textview.show_text(None) == ""


# ---- decisions --------------------------------------------------------------------------------

def test_approve_through_the_form_publishes_and_queues_translations(logged_in, no_dispatch):
    comment_id = seed.comment(translations={"de": {"status": "pending"}})
    response = post_form(logged_in, f"/moderation/comments/{comment_id}/decision", action="approve",
                         reason="", next="/moderation/?status=flagged")
    assert response.status_code == 302 and response.headers["Location"] == "/moderation/?status=flagged"
    assert comment_state(comment_id) == (Status.PUBLISHED, "approve", "alice", None)
    events = decision_events(comment_id)
    assert [(e.action, e.actor, e.reason) for e in events] == [("approve", "alice", None)]
    assert no_dispatch["translations"] == [comment_id]
    page = logged_in.get("/moderation/").text
    assert f"Comment {comment_id} approved." in page and f'id="c{comment_id}"' not in page


def test_reject_with_a_reason_and_a_second_decision_is_refused(logged_in, no_dispatch):
    comment_id = seed.comment()
    post_form(logged_in, f"/moderation/comments/{comment_id}/decision", action="reject", reason="Insults a user")
    assert comment_state(comment_id) == (Status.REJECTED, "reject", "alice", "Insults a user")
    response = post_form(logged_in, f"/moderation/comments/{comment_id}/decision", action="approve",
                         next="https://evil.example/")
    assert response.headers["Location"] == "/moderation/"  # no open redirect
    assert "already decided" in logged_in.get("/moderation/").text
    assert comment_state(comment_id)[0] == Status.REJECTED
    assert len(decision_events(comment_id)) == 1 and no_dispatch["translations"] == []


def test_invalid_decisions_are_explained(logged_in):
    comment_id = seed.comment()
    post_form(logged_in, f"/moderation/comments/{comment_id}/decision", action="delete")
    assert "action must be" in logged_in.get("/moderation/").text
    post_form(logged_in, "/moderation/comments/999999/decision", action="approve")
    assert "999999 does not exist" in logged_in.get("/moderation/").text
    assert comment_state(comment_id)[0] == Status.FLAGGED and count(AuditEvent) == 0


def test_bulk_decision_on_a_selection_reports_each_result(logged_in, no_dispatch):
    first, second = seed.comment(), seed.comment("shit again")
    decided = seed.comment(status=Status.PUBLISHED, decision="approve", decided_by="bob")
    untouched = seed.comment()
    response = logged_in.post("/moderation/decisions", data={
        "csrf_token": csrf(logged_in), "bulk": "approve:selected", "ids": [str(first), str(second), str(decided)],
        "reason": "Quoting a film", "next": "/moderation/"})
    assert response.status_code == 302
    assert comment_state(first) == comment_state(second) == (Status.PUBLISHED, "approve", "alice", "Quoting a film")
    assert comment_state(untouched)[0] == Status.FLAGGED
    assert [e.comment_id for e in decision_events()] == [first, second]
    assert sorted(no_dispatch["translations"]) == [first, second]
    page = logged_in.get("/moderation/").text
    assert "Approved 2 of 3 comments." in page and f"comment {decided} was already decided" in page


def test_bulk_decision_on_everything_matching_the_filter(logged_in, no_dispatch):
    spam = [seed.comment(thread="news/spam"), seed.comment(thread="news/spam", body="more shit")]
    other = seed.comment(thread="news/other")
    published = seed.comment(thread="news/spam", status=Status.PUBLISHED)
    response = post_form(logged_in, "/moderation/decisions", bulk="reject:filter", status="flagged",
                         thread="news/spam", reason="spam wave")
    assert response.status_code == 302
    assert [comment_state(i)[0] for i in spam] == [Status.REJECTED, Status.REJECTED]
    assert comment_state(other)[0] == Status.FLAGGED and comment_state(published)[0] == Status.PUBLISHED
    assert [(e.comment_id, e.reason) for e in decision_events()] == [(spam[0], "spam wave"), (spam[1], "spam wave")]
    assert "Rejected 2 of 2 comments." in logged_in.get("/moderation/").text


def test_bulk_decision_needs_a_selection(logged_in):
    seed.comment()
    post_form(logged_in, "/moderation/decisions", bulk="approve:selected")
    assert "Select at least one comment first." in logged_in.get("/moderation/").text
    post_form(logged_in, "/moderation/decisions", bulk="approve:filter", q="no such text anywhere")
    assert "Nothing matches the filter." in logged_in.get("/moderation/").text
    assert count(AuditEvent) == 0


# ---- queue, detail, audit ---------------------------------------------------------------------

def test_queue_filters_and_pages(logged_in):
    flagged = [seed.comment(f"shit number {n}", thread=f"blog/{n % 2}") for n in range(23)]
    published = seed.comment("A kind word", status=Status.PUBLISHED)
    page = logged_in.get("/moderation/").text
    assert page.count('class="card ') == 20 and f'id="c{published}"' not in page
    next_url = re.search(r'href="([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    second = logged_in.get(next_url).text
    assert second.count('class="card ') == 3 and f'id="c{flagged[-1]}"' in second and "First page" in second
    assert logged_in.get("/moderation/?status=published").text.count('class="card ') == 1
    assert logged_in.get("/moderation/?thread=blog/1").text.count('class="card ') == 11
    assert logged_in.get("/moderation/?q=NUMBER 7").text.count('class="card ') == 1
    bad = logged_in.get("/moderation/?status=bogus&cursor=zzz")
    assert bad.status_code == 200 and "Filter ignored" in bad.text


def test_comment_page_shows_everything_and_its_audit_trail(logged_in, no_dispatch):
    comment_id = seed.comment(translations={"de": "So ein Mist", "fr": {"status": "failed", "reason": "timeout"}})
    post_form(logged_in, f"/moderation/comments/{comment_id}/decision", action="approve", reason="fine in context")
    html = logged_in.get(f"/moderation/comments/{comment_id}").text
    assert "So ein Mist" in html and "timeout" in html and "<mark>shit</mark>" in html
    assert "Approved by <bdi>alice</bdi>" in html and "fine in context" in html
    assert logged_in.get("/moderation/comments/999999").status_code == 404


def test_audit_page_shows_moderator_action_reason_and_time(logged_in, no_dispatch):
    first, second = seed.comment(), seed.comment()
    post_form(logged_in, f"/moderation/comments/{first}/decision", action="reject", reason="harassment")
    post_form(logged_in, f"/moderation/comments/{second}/decision", action="approve")
    html = logged_in.get("/moderation/audit").text
    assert "harassment" in html and html.count("<td><bdi>alice</bdi></td>") == 2 and "UTC" in html
    only_first = logged_in.get(f"/moderation/audit?comment_id={first}").text
    assert f"#{first}<" in only_first and f"#{second}<" not in only_first
    assert "Filter ignored" in logged_in.get("/moderation/audit?comment_id=abc").text


# ---- word lists, jobs, stats ------------------------------------------------------------------

def test_word_list_changes_are_versioned_and_audited(logged_in):
    post_form(logged_in, "/moderation/words", op="add", kind="banned", word="  Frack ")
    with db.session_scope() as session:
        first = wordlists.current_version(session)  # versions are never reused, even after deletes
    post_form(logged_in, "/moderation/words", op="add", kind="allowed", word="Scunthorpe")
    html = logged_in.get("/moderation/words").text
    assert f"version {first + 1}" in html and "frack" in html and "scunthorpe" in html
    post_form(logged_in, "/moderation/words", op="add", kind="banned", word="frack")
    assert "already in the banned list" in logged_in.get("/moderation/words").text
    post_form(logged_in, "/moderation/words", op="remove", kind="banned", word="frack")
    with db.session_scope() as session:
        assert session.scalars(select(WordEntry.word)).all() == ["scunthorpe"]
        assert session.scalar(select(func.count()).select_from(WordListVersion)) == 3
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["wordlist_add", "wordlist_add", "wordlist_remove"]


def test_preview_and_rescan_forms_start_jobs_and_show_their_progress(logged_in, no_dispatch):
    response = post_form(logged_in, "/moderation/words/preview", op="add", kind="banned", word="frack")
    assert response.status_code == 302
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert no_dispatch["jobs"] == [job_id]
    with db.session_scope() as session:
        job = session.get(Task, job_id)
        assert (job.kind, job.params, job.created_by) == ("wordlist_preview", {"op": "add", "kind": "banned",
                                                                                 "word": "frack"}, "alice")
    page = logged_in.get(response.headers["Location"]).text
    assert '<meta http-equiv="refresh" content="2">' in page and "queued" in page
    with db.session_scope() as session:
        session.get(Task, job_id).status, session.get(Task, job_id).result = "done", {
            "would_flag": 3, "would_unflag": 1, "examples": [5]}
    page = logged_in.get(response.headers["Location"]).text
    assert "would flag 3 / unflag 1" in page and "http-equiv" not in page
    rescan = post_form(logged_in, "/moderation/words/rescan")
    assert rescan.status_code == 302 and len(no_dispatch["jobs"]) == 2
    assert post_form(logged_in, "/moderation/words/preview", kind="banned", word="").status_code == 302
    assert len(no_dispatch["jobs"]) == 2


def test_stats_page_draws_the_daily_chart(logged_in):
    from datetime import timedelta

    from core.storage.models import utcnow

    for days_ago in (0, 1, 1, 3):
        seed.comment(created_at=utcnow() - timedelta(days=days_ago, hours=1))
    html = logged_in.get("/moderation/stats?days=7").text
    assert "last 7 days" in html and html.count('<rect class="bar') >= 3
    assert '<svg class="chart" id="latency-chart"' in html
    assert "Days ignored" in logged_in.get("/moderation/stats?days=0").text
