"""Bans on SQLite and PostgreSQL: the API (both scopes, errors, list, unban), their audit, and reject_existing as
a background job (run in the test and by the real worker) that rejects the author's undecided comments."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import delete, func, select, update

from core.moderation import tasks
from core.notifications import endpoints, outbox
from core.signals import identity
from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Task, utcnow
from core.storage.models_notifications import Outbox
from core.storage.models_signals import Ban, Label
from tests import seed
from tests.clients import api
from tests.support import poll

SPAMMER = "Spammer@Example.com"
CLIENT = "203.0.113.7"


@pytest.fixture(autouse=True)
def _no_bans_left(stack):  # type: ignore[no-untyped-def]
    """Empty the bans and labels after each test (the shared clean-up predates them)."""
    yield
    db.configure(stack.database_url)
    with db.session_scope() as session:
        session.execute(delete(Ban))
        session.execute(delete(Label))


@pytest.fixture
def token(app) -> str:  # type: ignore[no-untyped-def]
    """An API token of moderator alice."""
    return seed.moderator_token()


@pytest.fixture
def sent_tasks(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """Record the tasks the API would send instead of sending them (a test runs them itself)."""
    sent: list[int] = []

    class Dispatcher:
        def send_task(self, task_id: int) -> bool:
            sent.append(task_id)
            return True

    monkeypatch.setattr("webapp.bans_api.dispatcher", Dispatcher)
    return sent


def client_hash(app, address: str = CLIENT) -> str:  # type: ignore[no-untyped-def]
    """Return the stored form of *address* under the app's settings."""
    return identity.client_hash(app.config["PARLEY"], address)


def ban(client, token, comment_id, scope="email", **extra):  # type: ignore[no-untyped-def]
    """POST a ban; return the response."""
    return api(client, "post", "/api/moderation/bans", token, {"comment_id": comment_id, "scope": scope, **extra})


def ban_events(action: str) -> list[AuditEvent]:
    """Return the audit events of bans (``ban``) or unbans (``unban``), oldest first."""
    with db.session_scope() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.kind == "ban", AuditEvent.action == action)
                                    .order_by(AuditEvent.id)))


def state(comment_id: int) -> tuple[str, str | None, str | None]:
    """Return (status, decision, decided_by) of a comment."""
    with db.session_scope() as session:
        row = session.get(Comment, comment_id)
        return row.status, row.decision, row.decided_by


def test_ban_by_email_stores_the_keyed_hash_and_is_audited(app, client, token):
    comment_id = seed.comment("buy pills", email=SPAMMER, client_hash=client_hash(app))
    response = ban(client, token, comment_id, reason="pill spam <b>")
    assert response.status_code == 201
    body = response.get_json()
    assert body["scope"] == "email" and body["reason"] == "pill spam <b>" and body["comment_id"] == comment_id
    assert body["created_by"] == "alice" and body["created_at"] and body["task_id"] is None
    assert response.headers["Location"] == f"/api/moderation/bans/{body['id']}"
    assert "value_hash" not in body  # the fingerprint of the author stays in the database
    with db.session_scope() as session:
        row = session.get(Ban, body["id"])
        # Case and spaces do not make another author: the hash is of the normalised address.
        assert row.value_hash == identity.email_hash(app.config["PARLEY"], " spammer@example.COM ")
        assert SPAMMER.lower() not in row.value_hash
    [event] = ban_events("ban")
    assert (event.actor, event.comment_id, event.reason) == ("alice", comment_id, "pill spam <b>")
    assert event.detail == {"ban": body["id"], "scope": "email", "reject_existing": False}


def test_ban_by_client_stores_the_comments_client_hash(app, client, token):
    comment_id = seed.comment("buy pills", client_hash=client_hash(app))
    response = ban(client, token, comment_id, scope="client")
    assert response.status_code == 201
    with db.session_scope() as session:
        assert session.get(Ban, response.get_json()["id"]).value_hash == client_hash(app)


@pytest.mark.parametrize(
    "payload, field",
    [({"scope": "email"}, "comment_id"), ({"comment_id": 1, "scope": "ip"}, "scope"),
     ({"comment_id": True, "scope": "email"}, "comment_id"), ({"comment_id": 1, "scope": "email", "reason": 5},
                                                               "reason"),
     ({"comment_id": 1, "scope": "email", "reject_existing": "yes"}, "reject_existing"),
     ({"comment_id": 1, "scope": "email", "reason": "x" * 401}, "reason")],
)
def test_invalid_bans_are_explained(client, token, payload, field):
    response = api(client, "post", "/api/moderation/bans", token, payload)
    assert response.status_code == 400 and field in response.get_json()["error"]["fields"]


def test_a_comment_without_address_or_client_cannot_be_banned_by_it(client, token):
    comment_id = seed.comment("anonymous")
    for scope in ("email", "client"):
        response = ban(client, token, comment_id, scope=scope)
        assert response.status_code == 400 and "scope" in response.get_json()["error"]["fields"]
    assert ban(client, token, 999_999).status_code == 404
    assert ban_events("ban") == []


def test_second_ban_of_the_same_author_conflicts_until_lifted(app, client, token):
    first = seed.comment("spam 1", email=SPAMMER)
    second = seed.comment("spam 2", email=SPAMMER.lower())  # the same address, spelled otherwise
    ban_id = ban(client, token, first).get_json()["id"]
    assert ban(client, token, second).status_code == 409
    assert api(client, "delete", f"/api/moderation/bans/{ban_id}", token).status_code == 200
    assert ban(client, token, second).status_code == 201


def test_a_ban_racing_another_of_the_same_author_conflicts(app, client, token, monkeypatch):
    """Two moderators at once: neither sees the other's ban before inserting; the index refuses the second."""
    first = seed.comment("spam 1", email=SPAMMER)
    second = seed.comment("spam 2", email=SPAMMER)
    assert ban(client, token, first).status_code == 201
    monkeypatch.setattr("core.moderation.bans.active", lambda *_args: None)  # the race: the check saw nothing
    response = ban(client, token, second)
    assert response.status_code == 409 and "already banned" in response.get_json()["error"]["message"]
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Ban).where(Ban.removed_at.is_(None))) == 1
    assert len(ban_events("ban")) == 1  # the refused ban left no audit event behind
    with db.session_scope() as session:  # a lifted ban does not count: the author can be banned again
        session.execute(update(Ban).values(removed_at=utcnow(), removed_by="alice"))
    assert ban(client, token, second).status_code == 201


def test_list_newest_first_pages_and_all_includes_lifted(app, client, token):
    ids = [ban(client, token, seed.comment(f"spam {n}", email=f"s{n}@example.com")).get_json()["id"]
           for n in range(3)]
    api(client, "delete", f"/api/moderation/bans/{ids[0]}", token)
    first = api(client, "get", "/api/moderation/bans?limit=1", token).get_json()
    rest = api(client, "get", f"/api/moderation/bans?limit=1&cursor={first['next_cursor']}", token).get_json()
    assert [b["id"] for b in first["bans"] + rest["bans"]] == [ids[2], ids[1]] and rest["next_cursor"] is None
    everything = api(client, "get", "/api/moderation/bans?all=1", token).get_json()["bans"]
    assert [b["id"] for b in everything] == ids[::-1]
    assert everything[-1]["removed_by"] == "alice" and everything[-1]["removed_at"]
    assert api(client, "get", "/api/moderation/bans?cursor=junk", token).status_code == 400


def test_unban_is_audited_once_and_unknown_or_lifted_bans_are_refused(client, token):
    comment_id = seed.comment("spam", email=SPAMMER)
    ban_id = ban(client, token, comment_id).get_json()["id"]
    response = api(client, "delete", f"/api/moderation/bans/{ban_id}", token)
    assert response.status_code == 200 and response.get_json()["removed_by"] == "alice"
    assert api(client, "delete", f"/api/moderation/bans/{ban_id}", token).status_code == 409
    assert api(client, "delete", "/api/moderation/bans/999999", token).status_code == 404
    [event] = ban_events("unban")
    assert (event.actor, event.comment_id, event.detail) == ("alice", comment_id, {"ban": ban_id, "scope": "email"})


@pytest.mark.parametrize("method, path", [("get", "/api/moderation/bans"), ("post", "/api/moderation/bans"),
                                          ("get", "/api/moderation/bans/1"), ("delete", "/api/moderation/bans/1")])
@pytest.mark.parametrize("credential", [None, "pmt_wrong"])
def test_ban_endpoints_are_closed_without_a_token(client, token, method, path, credential):
    comment_id = seed.comment("spam", email=SPAMMER)
    response = api(client, method, path, credential, {"comment_id": comment_id, "scope": "email"}
                   if method == "post" else None)
    assert response.status_code == 401
    with db.session_scope() as session:
        assert session.scalars(select(Ban)).all() == []


def seed_author(app) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Seed comments of one author (by address and by client), decided ones and another author's; return ids."""
    other_client = client_hash(app, "198.51.100.1")
    return {
        "flagged": seed.comment("spam flagged", email=SPAMMER, model_score=0.95),
        "published": seed.comment("spam published", status=Status.PUBLISHED, email=SPAMMER.lower()),
        "by_client": seed.comment("spam from the same client", status=Status.PUBLISHED,
                                  client_hash=client_hash(app)),
        "pending": seed.comment("spam pending", status=Status.PENDING, email=SPAMMER),
        "approved": seed.comment("approved earlier", email=SPAMMER, decision="approve", decided_by="bob"),
        "other": seed.comment("someone else", status=Status.PUBLISHED, email="ok@example.com",
                              client_hash=other_client),
    }


def test_reject_existing_rejects_the_authors_undecided_comments_with_progress(app, client, token, monkeypatch,
                                                                              sent_tasks):
    # Given an author's comments in every state, and the ban task queued instead of sent
    ids = seed_author(app)
    # When a moderator bans by address with reject_existing, and a worker runs the task in batches of one
    body = ban(client, token, ids["flagged"], reason="pills", reject_existing=True).get_json()
    assert sent_tasks == [body["task_id"]]
    job = api(client, "get", f"/api/moderation/jobs/{body['task_id']}", token).get_json()
    assert job["status"] == "queued" and job["kind"] == tasks.BAN_REJECT
    monkeypatch.setattr("core.moderation.bans.BATCH", 1)
    with db.session_scope() as session:  # a webhook subscriber of decisions
        endpoints.add(session, "http://127.0.0.1:9/hook", outbox.DECIDED,
                      replace(app.config["PARLEY"], webhook_allow_private=True))
    notified: list[int] = []
    result = tasks.run(body["task_id"], app.config["PARLEY"], lambda outbox_id: notified.append(outbox_id) or True)
    # Then the undecided flagged and published comments of the address are rejected through the decision path
    assert result["rejected"] == 2 and result["skipped"] == 0
    for key in ("flagged", "published"):
        assert state(ids[key]) == (Status.REJECTED, "reject", "alice")
    # and nothing else changed: another client, a pending one, a decided one, another author
    assert state(ids["by_client"])[1] is None and state(ids["pending"])[0] == Status.PENDING
    assert state(ids["approved"])[1:] == ("approve", "bob") and state(ids["other"])[1] is None
    job = api(client, "get", f"/api/moderation/jobs/{body['task_id']}", token).get_json()
    assert (job["status"], job["done"], job["total"]) == ("done", 2, 2)
    with db.session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.kind == "decision")).all()
        assert sorted(e.comment_id for e in events) == sorted([ids["flagged"], ids["published"]])
        assert {(e.action, e.actor, e.reason) for e in events} == {("reject", "alice", "Banned author (email): pills")}
        # each rejection announced like a moderator's own, its row sent after its batch's commit
        rows = session.scalars(select(Outbox).where(Outbox.event == outbox.DECIDED)).all()
        assert sorted(r.comment_id for r in rows) == sorted([ids["flagged"], ids["published"]])
        assert sorted(notified) == sorted(r.id for r in rows) and all(r.dispatched_at for r in rows)
        # A ban judges the author, not the text: no training label, even for a scored comment
        assert session.scalars(select(Label)).all() == []
    # And running the task again (a redelivery) changes nothing
    assert tasks.run(body["task_id"], app.config["PARLEY"]) is None


def test_reject_existing_by_client_runs_on_the_real_worker(app, client, token, worker):
    ids = seed_author(app)
    body = ban(client, token, ids["by_client"], scope="client", reject_existing=True).get_json()

    def finished() -> dict | None:
        job = api(client, "get", f"/api/moderation/jobs/{body['task_id']}", token).get_json()
        return job if job["status"] in ("done", "failed") else None

    job = poll(finished, 30, what=f"ban task {body['task_id']}")
    assert (job["status"], job["result"]["rejected"], job["done"], job["total"]) == ("done", 1, 1, 1)
    assert state(ids["by_client"]) == (Status.REJECTED, "reject", "alice")
    assert state(ids["flagged"])[1] is None and state(ids["other"])[1] is None


def test_reject_existing_when_the_banned_comment_was_erased_compares_hashes(app, client, token, sent_tasks):
    ids = seed_author(app)
    task_id = ban(client, token, ids["flagged"], reject_existing=True).get_json()["task_id"]
    with db.session_scope() as session:
        session.get(Comment, ids["flagged"]).email = None  # the author erased it after the ban
    result = tasks.run(task_id, app.config["PARLEY"])
    assert result["rejected"] == 1  # the address's other comment, found by its hash; the erased one has none
    assert state(ids["published"])[0] == Status.REJECTED and state(ids["flagged"])[1] is None
    assert state(ids["other"])[1] is None
    with db.session_scope() as session:
        assert session.get(Task, task_id).total is None  # unknown up front: the scan compares as it goes
