"""axe-core on every moderator page in chromium: no accessibility violation at all (serious or critical, nor
the moderate heading order and the minor empty table header the pages once had)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pika
import pytest
from sqlalchemy import select

from core.notifications import endpoints, outbox
from core.storage import db
from core.storage.models_notifications import Outbox, OutboxStatus
from tests import seed, support
from tests.browser_support import LiveServer, axe_violations, chromium, describe_violations, login, seed_showcase

# One backend is enough: the pages render the same markup on both.
pytestmark = [pytest.mark.browser, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

#: Every impact axe reports: the moderator pages are held to all of them.
ALL = ("minor", "moderate", "serious", "critical")

#: Every page a moderator (here an admin, who sees them all) can open, by name.
PAGES = {
    "queue": "/moderation/",
    "queue, all statuses": "/moderation/?status=all",
    "comment": "/moderation/comments/{comment}",
    "audit": "/moderation/audit",
    "words": "/moderation/words",
    "stats": "/moderation/stats",
    "scheduler": "/moderation/scheduler",
    "dead letters": "/moderation/deadletters",
    "webhooks": "/moderation/webhooks",
    "webhook": "/moderation/webhooks/{webhook}",
    "job": "/moderation/jobs/{job}",
}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless chromium shared by the module."""
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(stack) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """The web app on a free port, on a private vhost holding one dead letter."""
    from webapp import create_app

    name = support.unique("parley_a11y")
    vhost = support.create_vhost(name)
    connection = pika.BlockingConnection(pika.URLParameters(vhost))
    channel = connection.channel()
    channel.queue_declare("moderation.XQ", durable=True, arguments={"x-message-ttl": 7 * 86400 * 1000})
    letter = {"queue_name": "moderation", "actor_name": "check_profanity", "args": [1], "kwargs": {},
              "options": {"traceback": "Traceback\nValueError: boom"}, "message_id": "m1", "message_timestamp": 0}
    channel.basic_publish("", "moderation.XQ", json.dumps(letter).encode())
    connection.close()
    try:
        with LiveServer(create_app({"PARLEY": stack.settings(broker_url=vhost)}), support.free_port()) as live:
            yield live
    finally:
        support.delete_vhost(name)


@pytest.fixture
def showcase(stack, clean_db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The screenshots' data (a queue, history, word lists, jobs, a webhook) and an admin; ids of a comment, a job
    and the webhook endpoint."""
    from core.storage.models import Task

    db.configure(stack.database_url)
    ids = seed_showcase()
    seed.moderator("alice", role="admin")
    with db.session_scope() as session:
        job = session.scalars(select(Task.id).order_by(Task.id)).first()
        # A webhook endpoint with a failed delivery (redeliver button) and a pending one.
        hook, _secret = endpoints.add(session, "http://127.0.0.1:9/hook", outbox.PUBLISHED,
                                      stack.settings(webhook_allow_private=True))
        for status in (OutboxStatus.FAILED, OutboxStatus.PENDING):
            row = session.get(Outbox, outbox.record(session, kind="webhook", event=outbox.PUBLISHED,
                                                    endpoint_id=hook.id))
            row.status, row.attempts, row.last_error = status, 8, "HTTP 500"
        hook_id = hook.id
    return {"comment": ids["Jürgen Weiß"], "job": job, "webhook": hook_id}


@pytest.fixture
def page(browser, server) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser context on the server with one page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
    context.set_default_timeout(5000)
    yield context.new_page()
    context.close()


def test_login_page_has_no_violation(page, showcase):
    page.goto("/moderation/login")
    assert (violations := axe_violations(page, impacts=ALL)) == [], describe_violations(violations)
    # A failed login shows its message without new violations.
    page.get_by_label("Name").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Unknown name or wrong password.").wait_for()
    assert (violations := axe_violations(page, impacts=ALL)) == [], describe_violations(violations)


@pytest.mark.parametrize("name", PAGES)
def test_moderator_page_has_no_violation(page, showcase, name):
    login(page)
    response = page.goto(PAGES[name].format(**showcase))
    assert response.status == 200
    assert (violations := axe_violations(page, impacts=ALL)) == [], f"{name}: {describe_violations(violations)}"


def test_queue_with_selection_flash_and_help_has_no_violation(page, showcase):
    login(page)
    page.locator(".card .select-box").nth(0).check()
    page.keyboard.press("j")
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    assert (violations := axe_violations(page, impacts=ALL)) == [], describe_violations(violations)
    page.keyboard.press("Escape")
    page.locator(".card").nth(0).get_by_role("button", name="Approve").click()
    page.get_by_text("approved.").wait_for()
    assert (violations := axe_violations(page, impacts=ALL)) == [], describe_violations(violations)
