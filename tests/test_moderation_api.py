"""The moderator JSON API on SQLite and PostgreSQL: auth, queue, decisions, audit, stats, word lists."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.storage import db
from core.storage.models import AuditEvent, Comment, Status, Translation
from tests import seed
from tests.clients import api


@pytest.fixture
def token(app) -> str:  # type: ignore[no-untyped-def]
    """An API token of moderator alice."""
    return seed.moderator_token()


def decision_events(comment_id: int) -> list[AuditEvent]:
    """Return the decision events of a comment."""
    with db.session_scope() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.comment_id == comment_id,
                                                             AuditEvent.kind == "decision")))


@pytest.mark.parametrize(
    "method, path",
    [("get", "/api/moderation/comments"), ("get", "/api/moderation/comments/1"),
     ("post", "/api/moderation/comments/1/decision"), ("post", "/api/moderation/decisions"),
     ("get", "/api/moderation/audit"), ("get", "/api/moderation/stats"), ("get", "/api/moderation/wordlists"),
     ("post", "/api/moderation/wordlists"), ("post", "/api/moderation/rescan"), ("get", "/api/moderation/jobs/1"),
     ("head", "/api/moderation/comments"), ("options", "/api/moderation/comments")],
)
@pytest.mark.parametrize("credential", [None, "pmt_wrong", "session-cookie-is-not-a-token"])
def test_every_moderator_endpoint_refuses_without_valid_token(client, token, method, path, credential):
    response = api(client, method, path, credential, {"action": "approve"} if method == "post" else None)
    assert response.status_code == 401
    if method not in ("head",):
        assert response.get_json()["error"]["code"] == "unauthorized"


def test_disabled_moderator_token_stops_working(client, token):
    assert api(client, "get", "/api/moderation/comments", token).status_code == 200
    with db.session_scope() as session:
        from core.moderation import accounts

        accounts.disable(session, "alice")
    assert api(client, "get", "/api/moderation/comments", token).status_code == 401


def test_queue_lists_flagged_by_default_with_full_view(client, token):
    flagged = seed.comment("what the fuck", words=["fuck"], translations={"fr": "quoi le fuck"})
    seed.comment("nice post", status=Status.PUBLISHED)
    body = api(client, "get", "/api/moderation/comments", token).get_json()
    assert [c["id"] for c in body["comments"]] == [flagged]
    view = body["comments"][0]
    assert view["body"] == "what the fuck" and view["matched_words"] == ["fuck"] and view["decision"] is None
    assert view["translations"]["fr"]["text"] == "quoi le fuck"


def test_queue_filters_search_and_pages(client, token):
    a = seed.comment("100% fuck", thread="a")
    b = seed.comment("fuck_this", thread="b")
    c = seed.comment("FUCK that", thread="a")
    assert [x["id"] for x in api(client, "get", "/api/moderation/comments?thread=a", token).get_json()["comments"]] \
        == [a, c]
    assert [x["id"] for x in api(client, "get", "/api/moderation/comments?q=100%25", token).get_json()["comments"]] \
        == [a]
    assert [x["id"] for x in api(client, "get", "/api/moderation/comments?q=k_t", token).get_json()["comments"]] \
        == [b]
    assert [x["id"] for x in api(client, "get", "/api/moderation/comments?q=fuck%20that", token)
            .get_json()["comments"]] == [c]
    first = api(client, "get", "/api/moderation/comments?limit=2", token).get_json()
    second = api(client, "get", f"/api/moderation/comments?limit=2&cursor={first['next_cursor']}", token).get_json()
    assert [x["id"] for x in first["comments"] + second["comments"]] == [a, b, c] and second["next_cursor"] is None
    all_ = api(client, "get", "/api/moderation/comments?status=all", token).get_json()["comments"]
    assert len(all_) == 3


@pytest.mark.parametrize("query", ["status=erased", "limit=0", "limit=101", "cursor=%%%", "q=" + "x" * 201])
def test_queue_rejects_bad_parameters(client, token, query):
    assert api(client, "get", f"/api/moderation/comments?{query}", token).status_code == 400


def test_approve_publishes_and_records_one_audit_event(client, token):
    comment_id = seed.comment("what the fuck", words=["fuck"])
    response = api(client, "post", f"/api/moderation/comments/{comment_id}/decision", token,
                   {"action": "approve", "reason": "quoting a song"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "published"
    assert body["decision"]["action"] == "approve" and body["decision"]["moderator"] == "alice"
    assert body["decision"]["reason"] == "quoting a song" and body["decision"]["at"].endswith("Z")
    again = api(client, "post", f"/api/moderation/comments/{comment_id}/decision", token, {"action": "reject"})
    assert again.status_code == 409 and "already decided" in again.get_json()["error"]["message"]
    events = decision_events(comment_id)
    assert [(e.action, e.actor, e.reason) for e in events] == [("approve", "alice", "quoting a song")]
    assert client.get(f"/api/comments/{comment_id}").get_json()["body"] == "what the fuck"


def test_reject_hides_and_skips_pending_translations(client, token):
    comment_id = seed.comment(status=Status.PUBLISHED, translations={"fr": {"status": "pending"}})
    response = api(client, "post", f"/api/moderation/comments/{comment_id}/decision", token, {"action": "reject"})
    assert response.status_code == 200 and response.get_json()["status"] == "rejected"
    assert response.get_json()["translations"]["fr"]["status"] == "skipped"
    assert client.get(f"/api/comments/{comment_id}").get_json()["body"] is None


@pytest.mark.parametrize(
    "status, payload, code",
    [(Status.PENDING, {"action": "approve"}, 409), (Status.PUBLISHED, {"action": "approve"}, 409),
     (Status.FLAGGED, {"action": "delete"}, 400), (Status.FLAGGED, {"action": "approve", "reason": 5}, 400),
     (Status.FLAGGED, {"action": "approve", "reason": "x" * 501}, 400), (Status.FLAGGED, ["approve"], 400)],
)
def test_decision_conflicts_and_bad_input(client, token, status, payload, code):
    comment_id = seed.comment(status=status)
    response = api(client, "post", f"/api/moderation/comments/{comment_id}/decision", token, payload)
    assert response.status_code == code
    assert decision_events(comment_id) == []


def test_decision_on_unknown_comment_is_404(client, token):
    assert api(client, "post", "/api/moderation/comments/999999/decision", token,
               {"action": "approve"}).status_code == 404


def test_bulk_decision_reports_each_id(client, token):
    ok = seed.comment()
    decided = seed.comment()
    api(client, "post", f"/api/moderation/comments/{decided}/decision", token, {"action": "reject"})
    body = api(client, "post", "/api/moderation/decisions", token,
               {"ids": [ok, decided, 999999, ok], "action": "approve"}).get_json()
    assert [(r["id"], r["result"]) for r in body["results"]] == [(ok, "ok"), (decided, "conflict"),
                                                                   (999999, "not_found")]
    assert body["summary"] == {"ok": 1, "conflict": 1, "not_found": 0 + 1}
    assert len(decision_events(ok)) == 1


def test_bulk_decision_by_filter(client, token):
    ids = [seed.comment(thread="spam") for _ in range(3)]
    other = seed.comment(thread="keep")
    body = api(client, "post", "/api/moderation/decisions", token,
               {"filter": {"status": "flagged", "thread": "spam"}, "action": "reject",
                "reason": "spam wave"}).get_json()
    assert sorted(r["id"] for r in body["results"]) == ids and body["summary"]["ok"] == 3
    with db.session_scope() as session:
        assert session.get(Comment, other).status == Status.FLAGGED


@pytest.mark.parametrize("payload", [{"ids": [], "action": "approve"}, {"ids": "1", "action": "approve"},
                                     {"ids": [True], "action": "approve"}, {"ids": [-1], "action": "approve"},
                                     {"ids": list(range(1, 1002)), "action": "approve"},
                                     {"filter": "all", "action": "approve"}, {"ids": [1], "action": "nuke"}])
def test_bulk_decision_rejects_bad_input(client, token, payload):
    assert api(client, "post", "/api/moderation/decisions", token, payload).status_code == 400


def test_audit_lists_decisions_with_moderator_reason_and_time(client, token):
    comment_id = seed.comment()
    api(client, "post", f"/api/moderation/comments/{comment_id}/decision", token,
        {"action": "reject", "reason": "abuse"})
    events = api(client, "get", f"/api/moderation/audit?comment_id={comment_id}", token).get_json()["events"]
    assert [(e["kind"], e["action"], e["actor"], e["reason"]) for e in events] == [("decision", "reject", "alice",
                                                                                     "abuse")]
    assert events[0]["at"].endswith("Z")
    assert api(client, "get", "/api/moderation/audit?comment_id=abc", token).status_code == 400


def test_stats_count_today(client, token):
    seed.comment(status=Status.PUBLISHED)
    flagged = seed.comment()
    api(client, "post", f"/api/moderation/comments/{flagged}/decision", token, {"action": "approve"})
    days = api(client, "get", "/api/moderation/stats?days=3", token).get_json()["days"]
    assert len(days) == 3
    today = days[-1]
    assert (today["posted"], today["published"], today["flagged"], today["approved"], today["rejected"]) == \
        (2, 2, 1, 1, 0)
    assert today["latency_seconds"]["count"] == 1 and today["latency_seconds"]["p50"] >= 0
    assert api(client, "get", "/api/moderation/stats?days=0", token).status_code == 400
    assert api(client, "get", "/api/moderation/stats?days=9999", token).status_code == 400


def test_word_list_changes_are_versioned_and_audited(client, token):
    add = api(client, "post", "/api/moderation/wordlists", token, {"op": "add", "kind": "banned", "word": " Grape "})
    assert add.status_code == 201 and add.get_json()["word"] == "grape"
    assert api(client, "post", "/api/moderation/wordlists", token,
               {"op": "add", "kind": "banned", "word": "grape"}).status_code == 409
    api(client, "post", "/api/moderation/wordlists", token, {"op": "add", "kind": "allowed", "word": "Scunthorpe"})
    lists = api(client, "get", "/api/moderation/wordlists", token).get_json()
    assert lists["banned"] == ["grape"] and lists["allowed"] == ["scunthorpe"]
    assert lists["version"] == add.get_json()["version"] + 1
    assert api(client, "post", "/api/moderation/wordlists", token,
               {"op": "remove", "kind": "banned", "word": "kiwi"}).status_code == 404
    assert api(client, "post", "/api/moderation/wordlists", token,
               {"op": "add", "kind": "rude", "word": "x"}).status_code == 400
    with db.session_scope() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.kind == "system")).all()
        assert actions.count("wordlist_add") == 2


def test_cookie_session_writes_need_the_csrf_header(client, token):
    with db.session_scope() as session:
        count = session.scalar(select(func.count()).select_from(Translation))
    assert count == 0
    client.post("/moderation/login", data={"name": "alice", "password": seed.PASSWORD,
                                          "csrf_token": _csrf(client)})
    comment_id = seed.comment()
    response = api(client, "post", f"/api/moderation/comments/{comment_id}/decision", None, {"action": "approve"})
    assert response.status_code == 400
    response = client.post(f"/api/moderation/comments/{comment_id}/decision", json={"action": "approve"},
                           headers={"X-CSRF-Token": _csrf(client)})
    assert response.status_code == 200


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    client.get("/moderation/login")
    with client.session_transaction() as session:
        return session["csrf_token"]


def test_scheduler_overview_and_admin_only_trigger(client, token):
    overview = api(client, "get", "/api/moderation/scheduler", token).get_json()
    assert [j["job"] for j in overview["jobs"]] == ["redispatch", "purge", "daily_stats", "digest"]
    assert all(j["next_run"].endswith("Z") and j["last_run"] is None for j in overview["jobs"])
    assert api(client, "post", "/api/moderation/scheduler/purge/trigger", token).status_code == 403
    admin = seed.moderator_token("root", role="admin")
    assert api(client, "post", "/api/moderation/scheduler/purge/trigger", admin).status_code == 202
    assert api(client, "post", "/api/moderation/scheduler/reboot/trigger", admin).status_code == 404
