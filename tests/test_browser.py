"""The moderator pages in Debian's chromium through Playwright, against a live server on the SQLite stack."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Task
from tests import seed
from tests.browser_support import (
    XSS_AUTHOR,
    XSS_BODY,
    XSS_TRANSLATION,
    LiveServer,
    chromium,
    login,
    seed_showcase,
)
from tests.support import ROOT, free_port

pytest.importorskip("playwright.sync_api")
# The README's screenshots are refreshed only on request (`make screenshots`), so a test run leaves the
# tree clean; otherwise they go to test-artifacts/ for inspection.
SCREENSHOTS = ROOT / ("docs" if os.environ.get("UPDATE_SCREENSHOTS") else "test-artifacts") / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}

# One backend is enough to drive the pages; the page logic itself runs on both in test_pages.py.
pytestmark = [pytest.mark.browser, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless chromium shared by the module."""
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def server(stack) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """The web app on a free port of 127.0.0.1."""
    from webapp import create_app

    app = create_app({"PARLEY": stack.settings()})
    with LiveServer(app, free_port()) as live:
        yield live


@pytest.fixture
def page(browser, server, stack, clean_db) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies) with one page; dialogs are recorded and dismissed."""
    db.configure(stack.database_url)
    seed.moderator("alice")
    context = browser.new_context(viewport=VIEWPORT, base_url=server.url)
    context.set_default_timeout(5000)
    tab = context.new_page()
    tab.dialogs = []
    tab.errors = []
    tab.accept_dialogs = False

    def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        tab.dialogs.append(dialog.message)
        dialog.accept() if tab.accept_dialogs else dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()
    assert tab.errors == [], f"JavaScript errors: {tab.errors}"


def state(comment_id: int) -> tuple[str, str | None, str | None]:
    """Return (status, decision, reason) of a comment."""
    with db.session_scope() as session:
        row = session.get(Comment, comment_id)
        return row.status, row.decision, row.decision_reason


def card(page, comment_id: int):  # type: ignore[no-untyped-def]
    """Return the locator of a comment's card."""
    return page.locator(f"#c{comment_id}")


def test_anonymous_visitors_are_sent_to_login(page):
    page.goto("/moderation/stats")
    assert "/moderation/login?next=/moderation/stats" in page.url
    assert page.get_by_role("heading", name="Moderator login").is_visible()
    page.get_by_label("Name").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_text("Unknown name or wrong password.").is_visible()
    page.get_by_label("Password").fill(seed.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/moderation/stats")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/moderation/login")
    page.goto("/moderation/")
    assert "/moderation/login" in page.url


def test_approve_and_reject_with_a_reason(page):
    first, second = seed.comment(), seed.comment("You are all shit at this.")
    login(page)
    card(page, first).get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    assert page.get_by_text(f"Comment {first} approved.").is_visible()
    assert card(page, first).count() == 0 and state(first) == (Status.PUBLISHED, "approve", None)
    card(page, second).get_by_placeholder("Reason (optional)").fill("Insults other readers")
    card(page, second).get_by_role("button", name="Reject").click()
    page.wait_for_load_state()
    assert page.get_by_text(f"Comment {second} rejected.").is_visible()
    assert state(second) == (Status.REJECTED, "reject", "Insults other readers")
    page.get_by_role("link", name="Audit").click()
    row = page.locator("tr", has_text="Insults other readers")
    assert row.count() == 1 and "alice" in row.inner_text() and "reject" in row.inner_text()


def test_bulk_approve_of_a_selection(page):
    ids = [seed.comment(f"shit #{n}") for n in range(3)]
    login(page)
    card(page, ids[0]).locator(".select-box").check()
    card(page, ids[2]).locator(".select-box").check()
    assert page.locator("#selected-count").inner_text() == "2 selected"
    page.get_by_label("Reason for the bulk decision").fill("Song lyrics")
    page.get_by_role("button", name="Approve selected").click()
    page.wait_for_load_state()
    assert page.get_by_text("Approved 2 of 2 comments.").is_visible()
    assert [state(i)[0] for i in ids] == [Status.PUBLISHED, Status.FLAGGED, Status.PUBLISHED]
    assert state(ids[0])[2] == "Song lyrics"
    # Everything matching the filter, only after a confirmation.
    reject_all = page.get_by_role("button", name="Reject all matching filter (1)")
    reject_all.click()
    assert page.dialogs == ["Reject every comment matching this filter (1)?"]
    assert state(ids[1])[0] == Status.FLAGGED
    page.accept_dialogs = True
    reject_all.click()
    page.wait_for_load_state()
    assert page.get_by_text("Rejected 1 of 1 comments.").is_visible()
    assert state(ids[1])[0] == Status.REJECTED
    with db.session_scope() as session:
        events = session.scalars(select(AuditEvent.comment_id).where(AuditEvent.kind == "decision")).all()
    assert sorted(events) == ids


def test_keyboard_shortcuts(page):
    ids = [seed.comment(f"shit number {n}") for n in range(4)]
    login(page)
    page.keyboard.press("j")
    assert card(page, ids[0]).evaluate("el => el === document.activeElement && el.classList.contains('current')")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert card(page, ids[1]).evaluate("el => el === document.activeElement")
    page.keyboard.press("x")
    assert card(page, ids[1]).locator(".select-box").is_checked()
    page.keyboard.press("x")
    assert not card(page, ids[1]).locator(".select-box").is_checked()
    # Typing in a reason box never triggers a shortcut, and Enter there submits nothing.
    page.keyboard.press("e")
    page.keyboard.type("a rare word")
    page.keyboard.press("Enter")
    assert state(ids[1]) == (Status.FLAGGED, None, None)
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press("r")
    assert state(ids[1]) == (Status.REJECTED, "reject", "a rare word")
    # Focus comes back at the same place: the next comment took the rejected one's slot.
    page.wait_for_function(f"document.activeElement && document.activeElement.id === 'c{ids[2]}'")
    with page.expect_navigation():
        page.keyboard.press("a")
    assert state(ids[2])[0] == Status.PUBLISHED
    page.wait_for_function(f"document.activeElement && document.activeElement.id === 'c{ids[3]}'")
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    # Clicking a checkbox does not swallow the shortcuts that follow.
    card(page, ids[0]).locator(".select-box").click()
    page.keyboard.press("j")
    assert card(page, ids[3]).evaluate("el => el === document.activeElement")
    assert state(ids[0])[0] == state(ids[3])[0] == Status.FLAGGED


def test_xss_payloads_stay_inert_text(page):
    comment_id = seed.comment(author=XSS_AUTHOR, body=XSS_BODY, translations={"de": XSS_TRANSLATION},
                              words=["script"])
    login(page)
    for url in ("/moderation/", f"/moderation/comments/{comment_id}"):
        page.goto(url)
        page.wait_for_timeout(200)
        assert card(page, comment_id).locator(".author").inner_text() == XSS_AUTHOR
        assert card(page, comment_id).locator(".original .text").inner_text() == XSS_BODY
        assert card(page, comment_id).locator(".translation .text").inner_text() == XSS_TRANSLATION
        assert card(page, comment_id).locator("img, svg, script").count() == 0
    assert page.dialogs == []


def test_bidi_override_shows_a_warning_and_a_visible_marker(page):
    comment_id = seed.comment("Download the invoice: \u202egnp.exe\u202c")
    login(page)
    badge = card(page, comment_id).locator(".badge.warn")
    assert badge.inner_text() == "⚠ bidi controls" and badge.is_visible()
    text = card(page, comment_id).locator(".original .text").inner_text()
    assert text == "Download the invoice: ⟨U+202E⟩gnp.exe⟨U+202C⟩"


def test_posts_without_csrf_token_are_rejected(page, server):
    comment_id = seed.comment()
    login(page)
    # A form on another origin posting to the server (a classic CSRF attack).
    page.set_content(f'<form method="post" action="{server.url}/moderation/comments/{comment_id}/decision">'
                     '<input name="action" value="approve"></form>')
    with page.expect_navigation() as navigation:
        page.evaluate("document.forms[0].submit()")
    assert navigation.value.status == 400
    # Same origin, logged in, but no token: the form and the JSON API both refuse.
    page.goto("/moderation/")
    statuses = page.evaluate("""async (id) => {
        const form = new URLSearchParams({action: "approve"});
        const page = await fetch(`/moderation/comments/${id}/decision`, {method: "POST", body: form});
        const api = await fetch(`/api/moderation/comments/${id}/decision`, {method: "POST",
            headers: {"Content-Type": "application/json"}, body: JSON.stringify({action: "approve"})});
        return [page.status, api.status];
    }""", comment_id)
    assert statuses == [400, 400]
    assert state(comment_id) == (Status.FLAGGED, None, None)


def test_preview_and_rescan_show_worker_progress(page, worker):
    seed.comment("What a load of shit.", words=["shit"])
    seed.comment("what a frack up", status=Status.PUBLISHED)
    login(page)
    page.get_by_role("link", name="Words").click()
    page.get_by_label("Word or phrase").fill("frack")
    page.get_by_role("button", name="Preview effect").click()
    result = page.locator("#preview-result")
    result.get_by_text("would flag 1 and unflag 0").wait_for(timeout=20000)
    page.get_by_role("button", name="Apply change").click()
    page.wait_for_load_state()
    assert page.get_by_text(re.compile(r"Added “frack” to the banned words \(version \d+\)\.")).is_visible()
    page.get_by_role("button", name="Rescan now").click()
    page.locator("#rescan-progress").get_by_text("Rescan done: 1 flagged, 0 unflagged").wait_for(timeout=20000)
    assert page.locator("#rescan-progress progress").evaluate("el => el.value === el.max")
    with db.session_scope() as session:
        assert [job.status for job in session.scalars(select(Task).order_by(Task.id))] == ["done", "done"]


def test_screenshots_of_the_main_pages(page):
    ids = seed_showcase()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto("/moderation/login")
    page.get_by_label("Name").fill("alice")
    page.screenshot(path=SCREENSHOTS / "login.png", full_page=True)
    login(page)
    page.locator(".card .select-box").nth(0).check()
    page.locator(".card .select-box").nth(1).check()
    page.keyboard.press("j")
    page.screenshot(path=SCREENSHOTS / "queue.png", full_page=True)
    page.goto(f"/moderation/comments/{ids['Jürgen Weiß']}")
    page.screenshot(path=SCREENSHOTS / "comment.png", full_page=True)
    page.goto("/moderation/audit")
    page.screenshot(path=SCREENSHOTS / "audit.png", full_page=True)
    page.goto("/moderation/words")
    page.screenshot(path=SCREENSHOTS / "words.png", full_page=True)
    page.goto("/moderation/stats")
    page.screenshot(path=SCREENSHOTS / "stats.png", full_page=True)
    assert page.locator("#counts-chart rect.bar").count() > 20
    for name in ("login", "queue", "comment", "audit", "words", "stats"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
    assert json.dumps(page.dialogs) == "[]"
