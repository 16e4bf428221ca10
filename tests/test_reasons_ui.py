"""Why a comment was held, for moderators, on SQLite and PostgreSQL: reasons and signals on cards and the comment
page (escaped), the queue filter by reason (API and page), the Ban author form and the Bans page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, select

from core.moderation import review
from core.signals import identity
from core.storage import db
from core.storage.models import AuditEvent, Comment, Task
from core.storage.models_signals import Ban
from tests import seed
from tests.clients import api, login, post_form

XSS = '<img src=x onerror="alert(1)">'


@pytest.fixture(autouse=True)
def _no_bans_left(stack):  # type: ignore[no-untyped-def]
    """Empty the bans after each test (the shared clean-up predates them)."""
    yield
    db.configure(stack.database_url)
    with db.session_scope() as session:
        session.execute(delete(Ban))


@pytest.fixture
def logged_in(client, app):  # type: ignore[no-untyped-def]
    """The client, logged in as moderator alice."""
    seed.moderator("alice")
    assert login(client).status_code == 302
    return client


@pytest.fixture
def sent_tasks(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """Record the tasks the pages would send instead of sending them."""
    sent: list[int] = []

    class Dispatcher:
        def send_task(self, task_id: int) -> bool:
            sent.append(task_id)
            return True

    monkeypatch.setattr("webapp.pages_bans.dispatcher", Dispatcher)
    return sent


def held(body: str, reasons: list[str], signals: dict | None = None, **columns) -> int:  # type: ignore[no-untyped-def]
    """Seed a comment held (flagged, no word) for *reasons*; return its id."""
    return seed.comment(body, words=[], held=True, flag_reasons=reasons, signals=signals or {}, **columns)


def card_ids(html: str) -> list[int]:
    """Return the ids of the comment cards on a page, in order."""
    return [int(n) for n in re.findall(r'<article class="card[^"]*" id="c(\d+)"', html)]


def test_signals_read_as_moderators_expect():
    assert review.signal_text("links", 3) == "links: 3"
    assert [review.signal_text("duplicate", n) for n in (3, 11, 22)] == \
        ["duplicate: 3rd copy", "duplicate: 11th copy", "duplicate: 22nd copy"]
    assert review.signal_text("model", 0.9349) == "model: 0.93"
    assert review.signal_text("honeypot", True) == "honeypot"
    assert review.signal_text("burst", {"client": 6, "email": 2}) == "burst: client 6, email 2"


def test_queue_cards_show_reasons_and_signals_escaped(logged_in):
    comment_id = held("see my links", ["links", "duplicate"],
                      {"links": 3, "duplicate": 3, "model": 0.25, "note": XSS, "burst": 0})
    html = logged_in.get("/moderation/").get_data(as_text=True)
    assert card_ids(html) == [comment_id]
    assert 'class="badge reason reason-links"' in html and ">duplicate</a>" in html
    assert "/moderation/?status=flagged&amp;reason=links" in html  # a reason badge filters the queue by it
    assert "links: 3" in html and "duplicate: 3rd copy" in html and "model: 0.25" in html
    assert "burst" not in html.split('class="signals')[1].split("</p>")[0]  # a zero signal is noise
    assert XSS not in html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    page = logged_in.get(f"/moderation/comments/{comment_id}").get_data(as_text=True)
    assert "Held for" in page and "duplicate: 3rd copy" in page and XSS not in page


def test_a_reason_named_with_markup_is_escaped_too(logged_in):
    held("odd", [XSS])
    html = logged_in.get("/moderation/?status=flagged").get_data(as_text=True)
    assert XSS not in html and "&lt;img" in html


def test_api_filters_by_reason_exactly_and_shows_the_signals(client, app):
    token = seed.moderator_token()
    links = held("many links", ["links"], {"links": 4})
    both = held("links again", ["duplicate", "links"], {"links": 3, "duplicate": 5}, model_score=0.5)
    dup = held("copy", ["duplicate"], {"duplicate": 3})
    seed.comment("plain swearing shit", flag_reasons=["profanity"])
    other_reason = held("x", ["new_author_links"])
    held("y", ["newXauthorXlinks"])  # "_" is a LIKE wildcard: it must not match this
    seed.comment("no reasons at all")

    def ids(query: str) -> list[int]:
        response = api(client, "get", f"/api/moderation/comments?{query}", token)
        assert response.status_code == 200, response.get_json()
        return [c["id"] for c in response.get_json()["comments"]]

    assert ids("reason=links") == [links, both]
    assert ids("reason=duplicate") == [both, dup]
    assert ids("reason=link") == []  # a whole name, not a part of one
    assert ids("reason=new_author_links") == [other_reason]
    assert ids("reason=LINKS&status=all") == [links, both]
    assert ids("reason=links&q=again") == [both]
    view = api(client, "get", f"/api/moderation/comments/{both}", token).get_json()
    assert view["flag_reasons"] == ["duplicate", "links"] and view["signals"] == {"links": 3, "duplicate": 5}
    assert view["held"] is True and view["model_score"] == 0.5
    for bad in ("reason=%3Cb%3E", "reason=a%25", "reason=" + "x" * 40):
        response = api(client, "get", f"/api/moderation/comments?{bad}", token)
        assert response.status_code == 400 and "reason" in response.get_json()["error"]["fields"]


def test_queue_page_filters_by_reason_and_keeps_it_across_tabs(logged_in):
    links = held("many links", ["links"], {"links": 4})
    held("copy", ["duplicate"], {"duplicate": 3})
    html = logged_in.get("/moderation/?reason=links").get_data(as_text=True)
    assert card_ids(html) == [links]
    assert '<option value="links" selected>' in html
    assert "reason=links" in html.split('aria-label="Status"')[1].split("</nav>")[0]  # tabs keep the filter
    ignored = logged_in.get("/moderation/?reason=%3Cscript%3E", follow_redirects=True).get_data(as_text=True)
    assert "Filter ignored" in ignored and "<script>" not in ignored.split("</header>")[1]


def test_ban_form_bans_the_author_and_is_audited(app, logged_in, sent_tasks):
    comment_id = held("spam", ["links"], email="spam@example.com")
    page = logged_in.get(f"/moderation/comments/{comment_id}").get_data(as_text=True)
    assert f'action="/moderation/comments/{comment_id}/ban"' in page and 'name="csrf_token"' in page
    assert 'value="client" disabled' in page.replace("> client", "")  # no client recorded: nothing to ban by
    response = post_form(logged_in, f"/moderation/comments/{comment_id}/ban", scope="email", reason=XSS)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/moderation/comments/{comment_id}")
    with db.session_scope() as session:
        [ban] = session.scalars(select(Ban)).all()
        assert ban.value_hash == identity.email_hash(app.config["PARLEY"], "spam@example.com")
        assert ban.created_by == "alice" and ban.task_id is None
        assert session.scalars(select(AuditEvent).where(AuditEvent.kind == "ban")).one().actor == "alice"
    page = logged_in.get(f"/moderation/comments/{comment_id}").get_data(as_text=True)
    assert "Already banned" in page and XSS not in page
    again = post_form(logged_in, f"/moderation/comments/{comment_id}/ban", scope="email")
    assert "already banned" in logged_in.get(again.headers["Location"]).get_data(as_text=True)
    assert sent_tasks == []


def test_ban_form_needs_csrf_and_a_login(app, client, logged_in):
    comment_id = held("spam", ["links"], email="spam@example.com")
    response = logged_in.post(f"/moderation/comments/{comment_id}/ban", data={"scope": "email"})
    assert response.status_code == 400
    anonymous = app.test_client()
    assert anonymous.post(f"/moderation/comments/{comment_id}/ban", data={"scope": "email"}).status_code in (302, 400)
    with db.session_scope() as session:
        assert session.scalars(select(Ban)).all() == []


def test_ban_form_with_reject_existing_starts_the_job_and_the_bans_page_lifts_it(app, logged_in, sent_tasks):
    client_hash = identity.client_hash(app.config["PARLEY"], "192.0.2.9")
    comment_id = held("spam", ["burst"], client_hash=client_hash)
    response = post_form(logged_in, f"/moderation/comments/{comment_id}/ban", scope="client", reject_existing="1")
    with db.session_scope() as session:
        ban = session.scalars(select(Ban)).one()
        task = session.get(Task, ban.task_id)
        assert task.kind == "ban_reject" and task.status == "queued" and sent_tasks == [task.id]
    assert response.headers["Location"].endswith(f"/moderation/jobs/{task.id}")
    job_page = logged_in.get(f"/moderation/jobs/{task.id}").get_data(as_text=True)
    assert "Ban: rejecting" in job_page and "/moderation/bans" in job_page
    listing = logged_in.get("/moderation/bans").get_data(as_text=True)
    assert f'id="ban{ban.id}"' in listing and f"/moderation/comments/{comment_id}" in listing
    lifted = post_form(logged_in, f"/moderation/bans/{ban.id}/remove")
    assert lifted.status_code == 302
    assert f'id="ban{ban.id}"' not in logged_in.get("/moderation/bans").get_data(as_text=True)
    assert f'id="ban{ban.id}"' in logged_in.get("/moderation/bans?all=1").get_data(as_text=True)
    again = post_form(logged_in, f"/moderation/bans/{ban.id}/remove")
    assert "already lifted" in logged_in.get(again.headers["Location"]).get_data(as_text=True)


def test_audit_page_lists_ban_events(logged_in, sent_tasks):
    comment_id = held("spam", ["links"], email="spam@example.com")
    post_form(logged_in, f"/moderation/comments/{comment_id}/ban", scope="email", reason="pills")
    html = logged_in.get("/moderation/audit?kind=ban").get_data(as_text=True)
    assert "act-ban" in html and "pills" in html
    assert f'href="/moderation/comments/{comment_id}"' in html


def test_bulk_decision_on_a_reason_filter_decides_only_that_reason(logged_in):
    links = [held(f"links {n}", ["links"], {"links": 3}) for n in range(2)]
    dup = held("copy", ["duplicate"], {"duplicate": 3})
    html = logged_in.get("/moderation/?reason=links").get_data(as_text=True)
    assert '<input type="hidden" name="filter_reason" value="links">' in html
    # The decision's reason and the filter's reason are different fields of the bulk form.
    response = post_form(logged_in, "/moderation/decisions", bulk="reject:filter", status="flagged",
                         filter_reason="links", reason="link spam")
    assert response.status_code == 302
    with db.session_scope() as session:
        states = {c.id: (c.status, c.decision_reason) for c in session.scalars(select(Comment))}
    assert [states[i] for i in links] == [("rejected", "link spam")] * 2 and states[dup] == ("flagged", None)


@pytest.mark.browser
@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)  # the markup is the same on both databases
def test_reason_and_ban_pages_have_no_accessibility_violation(stack, app):
    from tests import support
    from tests.browser_support import LiveServer, axe_violations, chromium, describe_violations
    from tests.browser_support import login as browser_login

    seed.moderator("alice")
    comment_id = held("see <b>my</b> links", ["links", "duplicate"], {"links": 3, "duplicate": 3, "model": 0.91},
                      email="spam@example.com", model_score=0.91)
    with chromium() as browser, LiveServer(app, support.free_port()) as server:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
        context.set_default_timeout(5000)
        page = context.new_page()
        browser_login(page)
        for path in ("/moderation/?reason=links", f"/moderation/comments/{comment_id}"):
            assert page.goto(path).status == 200
            violations = axe_violations(page, impacts=("minor", "moderate", "serious", "critical"))
            assert violations == [], f"{path}: {describe_violations(violations)}"
        # Ban from the comment page with the form, then see the ban listed
        page.get_by_label("Reason", exact=True).fill("pills")
        page.once("dialog", lambda dialog: dialog.accept())  # "Ban the author of comment #…?"
        page.get_by_role("button", name="Ban author").click()
        page.get_by_text("Author banned by email").wait_for()
        assert page.goto("/moderation/bans").status == 200
        assert page.locator("#bans tbody tr").count() == 1
        violations = axe_violations(page, impacts=("minor", "moderate", "serious", "critical"))
        assert violations == [], f"bans: {describe_violations(violations)}"
        context.close()
