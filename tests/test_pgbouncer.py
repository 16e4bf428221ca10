"""Parley behind PgBouncer in transaction pooling mode (issue 17): DATABASE_PREPARED=off runs the web and the worker;
prepared statements left on fail there as PgBouncer documents; sessions stay in UTC."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg2
import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bench.pgbouncer import PgBouncer
from core.storage import db
from core.storage.models import Comment
from core.storage.prepared import Prepared
from tests import seed, support
from tests.conftest import TEST_SCRYPT_N

#: A statement of the Prepared kind the hot paths use, small enough to read in a failure.
PLUS_ONE = Prepared("parley_test_plus_one", "SELECT CAST(:x AS integer) + 1", {"x": "integer"})
PREPARED_ERROR = r'prepared statement "parley_test_plus_one" (already exists|does not exist)'


@dataclass(frozen=True)
class Bounced:
    """A private migrated database and a private PgBouncer in front of it."""

    bouncer: PgBouncer
    url: str


@pytest.fixture(scope="module")
def bounced() -> Iterator[Bounced]:
    """Two server connections shared by every client: consecutive transactions really change connections."""
    name = support.unique("parley_pgbouncer")
    direct = support.create_pg_database(name)
    try:
        support.migrate(direct)
        with PgBouncer(pool_size=2) as bouncer:
            yield Bounced(bouncer, bouncer.url(direct))
    finally:
        db.configure("sqlite://")  # release the pool before dropping the database
        support.drop_pg_database(name)


def test_prepared_statements_fail_through_transaction_pooling_and_unprepared_ones_run(bounced, caplog):
    # Given: two client connections of one engine, which PgBouncer serves from the same server connections
    prepared = db.make_engine(bounced.url, autocommit=True)
    try:
        with prepared.connect() as a, prepared.connect() as b:
            # When / Then: each prepares on the server connection it is lent; the next one lent it finds it there
            with pytest.raises(DBAPIError, match=PREPARED_ERROR):
                for connection in (a, b) * 3:
                    PLUS_ONE.execute(connection, {"x": 1})
            assert "set DATABASE_PREPARED=off" in caplog.text  # the operator is told what to do
    finally:
        prepared.dispose()
    # When: the same statements run unprepared (DATABASE_PREPARED=off)
    plain = db.make_engine(bounced.url, autocommit=True, prepared=False)
    try:
        with plain.connect() as a, plain.connect() as b:
            # Then: each is one statement, whichever server connection runs it
            assert [PLUS_ONE.execute(c, {"x": n}).scalar() for n, c in enumerate((a, b) * 3)] == [1, 2, 3, 4, 5, 6]
    finally:
        plain.dispose()


def test_sessions_stay_in_utc_whatever_time_zone_another_client_set(bounced):
    # Given: another client of the same pool that set its session's time zone
    url = make_url(bounced.url)
    other = psycopg2.connect(host=url.host, port=url.port, user=url.username, dbname=url.database)
    other.autocommit = True
    engine = db.make_engine(bounced.url, autocommit=True, prepared=False)
    try:
        with other.cursor() as cursor, engine.connect() as connection:
            cursor.execute("SET TIME ZONE 'Asia/Tokyo'")
            for _ in range(3):
                # Then: PgBouncer sets each client's own time zone on the server connection it lends it
                cursor.execute("SELECT current_setting('TimeZone')")
                assert cursor.fetchone() == ("Asia/Tokyo",)
                assert connection.exec_driver_sql("SELECT current_setting('TimeZone')").scalar() == "UTC"
    finally:
        other.close()
        engine.dispose()


@pytest.mark.slow
def test_web_worker_and_scheduler_through_pgbouncer_check_publish_translate_and_decide(bounced, fake_translator):
    # Given: gunicorn, a worker and the scheduler, whose every transaction goes through PgBouncer, without PREPARE
    vhost = support.unique("parley_pgbouncer")
    env = support.worker_env(
        bounced.url, support.create_vhost(vhost), DATABASE_PREPARED="off", TRANSLATION_PROVIDER="libre",
        TRANSLATION_URL=fake_translator.url, TRANSLATION_TIMEOUT_SECONDS="2", PASSWORD_SCRYPT_N=str(TEST_SCRYPT_N),
        RATE_LIMIT_PER_MINUTE="1000",  # the rate-limited insert, the POST's hot statement
        OFFENSIVE_MODEL="on",  # the classifier's claim too
        REDISPATCH_INTERVAL_SECONDS="1", CATCHUP_INTERVAL_SECONDS="1", SCHEDULER_LEASE_SECONDS="3",
    )
    procs: list[support.Proc] = []
    try:
        web, base = support.start_web(env)
        procs += [web, support.start_worker(env, threads=4)]
        procs.append(support.Proc("scheduler", [str(support.BIN / "python"), "scheduler.py"], env))
        procs[-1].wait_for_log("Active scheduler is now", timeout=60)
        db.configure(bounced.url, prepared=False)
        token = seed.moderator_token()

        # When: comments are posted concurrently, one of them profane
        def post(body: str, lang: str = "en") -> int:
            response = requests.post(f"{base}/api/comments", timeout=10,
                                     json={"thread": "pgb", "author": "Ada", "body": body, "lang": lang})
            assert response.status_code == 202, response.text
            return response.json()["id"]

        with ThreadPoolExecutor(6) as pool:
            clean = list(pool.map(post, [f"thanks for the clear post, part {n}" for n in range(12)]))
        french, profane = post("bonjour le monde", "fr"), post("you are a fucking idiot")

        # Then: the clean ones are checked, classified and published, the French one translated; the profane one
        # is flagged
        def status(comment_id: int) -> dict:
            return requests.get(f"{base}/api/comments/{comment_id}", timeout=5).json()

        support.poll(lambda: all(status(c)["status"] == "published" for c in clean), 30, what="published")
        support.poll(lambda: status(profane)["status"] == "flagged", 30, what="flagged")
        support.poll(lambda: status(french)["translations"]["en"]["status"] == "done", 30, what="translation")
        with db.session_scope() as session:
            assert session.scalar(select(func.count()).where(Comment.id.in_(clean), Comment.classified_at.isnot(None),
                                                             Comment.model_score.isnot(None))) == len(clean)

        # When: a moderator approves the flagged one; Then: it is published
        decided = requests.post(f"{base}/api/moderation/comments/{profane}/decision", timeout=10,
                                headers={"Authorization": f"Bearer {token}"}, json={"action": "approve"})
        assert decided.status_code == 200 and decided.json()["status"] == "published", decided.text
        assert status(profane)["status"] == "published"
    finally:
        logs = {proc.name: proc.log() for proc in procs}
        for proc in procs:
            proc.stop()
        support.delete_vhost(vhost)
    for name, log in logs.items():
        assert "prepared statement" not in log, f"{name}:\n{log[-3000:]}"
        assert "Traceback" not in log, f"{name}:\n{log[-3000:]}"
    assert "unsupported startup parameter" not in bounced.bouncer.log()
