"""How POST /api/comments stores a comment: one statement on PostgreSQL, the session on SQLite, same answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import event, func, select

from core.comments import reading, validation, views
from core.config import POLICIES
from core.storage import db
from core.storage.models import Comment, RateLimit, Translation
from tests.clients import VALID, post


@pytest.fixture
def make_client(stack, vhost, clean_db):  # type: ignore[no-untyped-def]
    """Build a test client with settings overrides, on a vhost no worker consumes (comments stay pending)."""
    from webapp import create_app

    def build(**overrides: object):  # type: ignore[no-untyped-def]
        settings = stack.settings(broker_url=vhost, **overrides)
        return create_app({"PARLEY": settings, "TESTING": True}).test_client()

    return build


def only_postgresql(stack) -> None:  # type: ignore[no-untyped-def]
    """Skip on SQLite, which keeps the session path."""
    if stack.backend != "postgresql":
        pytest.skip("the one-statement accept is PostgreSQL's")


def stored() -> tuple[int, int, list[tuple[str, int, int]]]:
    """Return the number of comments and translations, and every rate-limit row (key, window, count)."""
    with db.session_scope() as session:
        count = session.scalar(select(func.count()).select_from(Comment))
        translations = session.scalar(select(func.count()).select_from(Translation))
        limits = session.execute(select(RateLimit.key, RateLimit.window, RateLimit.count).order_by(RateLimit.window))
        return count, translations, [tuple(row) for row in limits]


@pytest.fixture
def request_thread_activity(stack) -> Iterator[dict[str, int]]:  # type: ignore[no-untyped-def]
    """Count the pool checkouts and SQL statements of this thread (the test client runs requests on it)."""
    counts = {"checkouts": 0, "statements": 0}
    me = threading.get_ident()
    db.configure(stack.database_url)  # the engine the apps of this test use (configure is idempotent)
    # On PostgreSQL the autocommit engine has a pool of its own; on SQLite it shares the sessions' engine.
    engines = [db.engine()] + ([db.autocommit_engine()] if db.autocommit_engine().pool is not db.engine().pool else [])

    def on_checkout(*_args: object) -> None:
        if threading.get_ident() == me:
            counts["checkouts"] += 1

    def on_statement(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        # PREPARE runs once per database connection (core/storage/prepared.py): not a statement of the request.
        if threading.get_ident() == me and not statement.startswith("PREPARE "):
            counts["statements"] += 1

    for engine in engines:
        event.listen(engine, "checkout", on_checkout)
        event.listen(engine, "before_cursor_execute", on_statement)
    yield counts
    for engine in engines:
        event.remove(engine, "checkout", on_checkout)
        event.remove(engine, "before_cursor_execute", on_statement)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("lang", ["fr", None, "de"])
def test_the_202_body_is_the_public_view_of_the_stored_row(make_client, policy, lang):
    client = make_client(moderation_policy=policy, translation_targets=("fr", "en", "de"))
    payload = {**VALID, "lang": lang} if lang else {k: v for k, v in VALID.items() if k != "lang"}
    response = post(client, payload)
    assert response.status_code == 202
    answer = response.get_json()
    comment_id, token = answer["id"], answer.pop("author_token")
    with db.session_scope() as session:
        view = views.public_view(reading.get(session, comment_id), policy)
    assert answer == view and token
    # Field and language order included: what a GET answers for the same row (the token is shown only once).
    assert json.dumps(answer) == json.dumps(client.get(f"/api/comments/{comment_id}").get_json())
    assert list(view["translations"]) == sorted({"fr", "en", "de"} - {lang})


def test_one_statement_stores_comment_translations_and_rate_limit_together(stack, make_client,
                                                                          request_thread_activity):
    only_postgresql(stack)
    client = make_client(rate_limit_per_minute=5, translation_targets=("en", "de"))
    assert post(client, VALID).status_code == 202  # the first hit of a window also forgets older windows
    request_thread_activity.update(checkouts=0, statements=0)
    response = post(client, VALID)
    assert response.status_code == 202
    assert request_thread_activity == {"checkouts": 1, "statements": 1}
    count, translations, limits = stored()
    assert (count, translations) == (2, 4) and [row[2] for row in limits] == [2]
    with db.session_scope() as session:
        comment = reading.get(session, response.get_json()["id"])
        assert [(t.lang, t.status, t.attempts) for t in comment.translations] == [("de", "pending", 0),
                                                                                   ("en", "pending", 0)]
        assert comment.created_at == comment.updated_at == comment.translations[0].created_at
        # dispatch_attempts becomes 1 when the batcher writes the broker's confirmation (any moment now).
        assert (comment.check_attempts, comment.redispatches) == (0, 0) and comment.dispatch_attempts in (0, 1)


def test_a_failing_part_of_the_statement_stores_nothing(stack, make_client, monkeypatch):
    only_postgresql(stack)
    client = make_client(rate_limit_per_minute=5)
    # A language longer than the column: the translations' INSERT fails after the other two ran.
    monkeypatch.setattr(validation, "translation_langs", lambda targets, lang: ("x" * 40,))
    response = post(client, VALID)
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    assert stored() == (0, 0, [])


def test_a_post_is_one_statement_on_postgresql_even_from_a_new_client(stack, make_client, request_thread_activity):
    """The hit, the comment and its translations: one round trip. A client's first hit of a window used to add a
    second statement (forgetting the key's older windows); the nightly purge does that now."""
    only_postgresql(stack)
    client = make_client(rate_limit_per_minute=5)
    for address in ("10.0.0.1", "10.0.0.2"):  # two new clients: each the first hit of its key's window
        request_thread_activity.update(statements=0)
        response = client.post("/api/comments", json=VALID, environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 202
        assert request_thread_activity["statements"] == 1
    assert [(key, hits) for key, _window, hits in stored()[2]] == [("post:10.0.0.1", 1), ("post:10.0.0.2", 1)]


def test_one_pool_checkout_per_request(make_client, request_thread_activity):
    client = make_client(rate_limit_per_minute=5)
    comment_id = post(client, VALID).get_json()["id"]
    assert request_thread_activity["checkouts"] == 1
    request_thread_activity.update(checkouts=0)
    assert client.get(f"/api/comments/{comment_id}").status_code == 200
    assert request_thread_activity["checkouts"] == 1


def test_a_rate_limited_request_stores_nothing(make_client):
    client = make_client(rate_limit_per_minute=1)
    assert post(client, VALID).status_code == 202
    response = post(client, {**VALID, "body": "second"})
    assert response.status_code == 429 and 1 <= int(response.headers["Retry-After"]) <= 61
    assert response.get_json()["error"]["code"] == "rate_limited"
    count, translations, limits = stored()
    assert (count, translations) == (1, 1)
    assert [(key, hits) for key, _window, hits in limits] == [("post:127.0.0.1", 1)]  # the refused hit is not counted


def test_without_a_rate_limit_nothing_is_counted(make_client):
    client = make_client(rate_limit_per_minute=0)
    assert [post(client, VALID).status_code for _ in range(3)] == [202] * 3
    assert stored() == (3, 3, [])


def test_json_body_fields_keep_the_documented_order(make_client):
    response = post(make_client(), VALID)
    keys = list(json.loads(response.get_data(as_text=True)))
    assert keys == ["id", "thread", "author", "lang", "status", "body", "created_at", "updated_at", "translations",
                    "parent_id", "reply_count", "version", "edited_at", "lang_detected", "author_token"]
