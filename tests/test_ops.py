"""Operability against real RabbitMQ: metrics, gauges, dead letters, liveness, alerts, logs."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pika
import pytest
import requests
import yaml

from core.logs import JsonFormatter, OneLineFormatter, log_context
from core.storage import db
from core.storage.models import Status, utcnow
from core.storage.models_scheduling import JobRun
from tests import seed, support

VALID = {"thread": "ops", "author": "a", "body": "bonjour", "lang": "fr"}


@pytest.fixture
def ops_client(stack, vhost, clean_db):  # type: ignore[no-untyped-def]
    """A client of an app whose broker is the private vhost."""
    from webapp import create_app

    return create_app({"PARLEY": stack.settings(broker_url=vhost), "TESTING": True}).test_client()


def metric(text: str, name: str, **labels: str) -> float | None:
    """Return the value of one sample in Prometheus text, or None."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:]+)(?:\{(.*)\})? (\S+)$", line)
        if match and match.group(1) == name:
            found = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if found == wanted:
                return float(match.group(3))
    return None


def test_metrics_count_requests_accepted_comments_and_read_the_queues(ops_client):
    for _ in range(3):
        assert ops_client.post("/api/comments", json=VALID).status_code == 202
    ops_client.post("/api/comments", json={"thread": "x"})
    text = ops_client.get("/metrics").get_data(as_text=True)
    assert metric(text, "parley_http_requests_total", method="POST", route="/api/comments", status="202") >= 3
    assert metric(text, "parley_http_requests_total", method="POST", route="/api/comments", status="400") >= 1
    assert metric(text, "parley_comments_accepted_total") >= 3
    assert metric(text, "parley_http_request_duration_seconds_count", method="POST", route="/api/comments") >= 4
    assert metric(text, "parley_queue_messages", queue="moderation") == 3
    assert metric(text, "parley_queue_messages", queue="moderation.XQ") == 0
    assert metric(text, "parley_pending_comments") == 3
    assert metric(text, "parley_oldest_pending_seconds") >= 0
    assert metric(text, "parley_dependency_up", source="broker") == 1


def test_gauges_for_backlog_failures_and_scheduler(ops_client):
    old = seed.comment(status=Status.FLAGGED)
    seed.comment(status=Status.PUBLISHED,
                 translations={"fr": {"status": "failed", "reason": "gave up after 5 attempts: timeout"}})
    with db.session_scope() as session:
        from sqlalchemy import update

        from core.storage.models import Comment

        session.execute(update(Comment).where(Comment.id == old).values(flagged_at=utcnow() - timedelta(hours=2)))
        finished = datetime(2026, 11, 27, 3, 30, 5, tzinfo=UTC)
        session.add(JobRun(job="purge", slot=finished, status="done", finished_at=finished))
    text = ops_client.get("/metrics").get_data(as_text=True)
    assert metric(text, "parley_flagged_backlog") == 1
    assert 7100 < metric(text, "parley_oldest_flagged_seconds") < 7300
    assert metric(text, "parley_translation_failures", reason="timeout") == 1
    assert metric(text, "parley_scheduler_last_success_timestamp_seconds", job="purge") == finished.timestamp()


def test_metrics_survive_a_broker_outage(stack, clean_db):
    from webapp import create_app

    nobody_listens = f"amqp://guest:guest@127.0.0.1:{support.free_port()}/"
    client = create_app({"PARLEY": stack.settings(broker_url=nobody_listens), "TESTING": True}).test_client()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert metric(response.get_data(as_text=True), "parley_dependency_up", source="broker") == 0


def publish(url: str, queue: str, body: bytes) -> None:
    """Put a raw body on *queue* (declared as Dramatiq declares dead-letter queues)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(queue=queue, durable=True, arguments={"x-message-ttl": 7 * 86400 * 1000}
                          if queue.endswith(".XQ") else None)
    channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
    connection.close()


def flask_cli(stack, vhost: str, *args: str) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    """Run ``flask --app webapp …`` against the private vhost."""
    return subprocess.run([str(support.BIN / "flask"), "--app", "webapp", *args], cwd=support.ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **stack.env(), "BROKER_URL": vhost})


def test_dead_letters_list_replay_and_purge(stack, vhost, ops_client):
    # Given a check that died during an outage, and an undecodable body, in moderation.XQ
    comment_id = seed.comment(status=Status.PENDING)
    message = {"queue_name": "moderation", "actor_name": "check_profanity", "args": [comment_id], "kwargs": {},
               "options": {"retries": 10, "traceback": "Traceback ...\nOperationalError: server closed"},
               "message_id": "4f1c-dead", "message_timestamp": int((utcnow().timestamp() - 120) * 1000)}
    publish(vhost, "moderation.XQ", json.dumps(message).encode())
    publish(vhost, "moderation.XQ", b"\xff not json")
    # When an operator lists them
    listed = [json.loads(line) for line in flask_cli(stack, vhost, "deadletters", "list", "--json").stdout.splitlines()]
    assert [(d["message_id"], d["actor"], d["args"]) for d in listed] == [("4f1c-dead", "check_profanity",
                                                                            [comment_id]), ("?", "?", [])]
    assert listed[0]["failure"] == "OperationalError: server closed" and 100 < listed[0]["age_seconds"] < 400
    assert listed[1]["failure"] == "undecodable body"
    # Then listing did not remove anything, replay moves the chosen one back with retries reset
    replayed = flask_cli(stack, vhost, "deadletters", "replay", "4f1c-dead")
    assert replayed.returncode == 0 and "replayed 1" in replayed.stdout
    text = ops_client.get("/metrics").get_data(as_text=True)
    assert metric(text, "parley_queue_messages", queue="moderation") == 1
    assert metric(text, "parley_queue_messages", queue="moderation.XQ") == 1
    connection = pika.BlockingConnection(pika.URLParameters(vhost))
    _method, _props, body = connection.channel().basic_get("moderation", auto_ack=True)
    connection.close()
    assert json.loads(body)["args"] == [comment_id] and "retries" not in json.loads(body)["options"]
    # And purge empties the dead letters
    assert "moderation=1" in flask_cli(stack, vhost, "deadletters", "purge", "--yes").stdout
    assert flask_cli(stack, vhost, "deadletters", "list").stdout.strip() == "0 dead letter(s)"


def test_dead_letters_api_is_admin_only(ops_client, vhost):
    moderator, admin = seed.moderator_token("mod"), seed.moderator_token("boss", role="admin")
    headers = {"Authorization": f"Bearer {moderator}"}
    assert ops_client.get("/api/moderation/deadletters", headers=headers).status_code == 403
    publish(vhost, "translation.XQ", b'{"actor_name": "translate_comment", "args": [1, "en"], "message_id": "m1"}')
    headers = {"Authorization": f"Bearer {admin}"}
    letters = ops_client.get("/api/moderation/deadletters", headers=headers).get_json()["dead_letters"]
    assert [(d["queue"], d["message_id"]) for d in letters] == [("translation", "m1")]
    assert ops_client.post("/api/moderation/deadletters/replay", json={}, headers=headers).status_code == 400
    purged = ops_client.post("/api/moderation/deadletters/purge", headers=headers).get_json()["purged"]
    assert purged["translation"] == 1


def test_worker_metrics_port_and_json_logs_with_ids(stack, vhost, ops_client, tmp_path):
    port = support.free_port()
    env = stack.env(BROKER_URL=vhost, WORKER_METRICS="1", dramatiq_prom_port=str(port),
                    dramatiq_prom_db=str(tmp_path), LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    worker = support.start_worker(env, processes=1, threads=2)
    try:
        comment_id = ops_client.post("/api/comments", json={**VALID, "body": "line one\nFAKE ERROR line two"}
                                     ).get_json()["id"]

        def processed() -> str | None:
            try:
                text = requests.get(f"http://127.0.0.1:{port}/", timeout=2).text
            except requests.ConnectionError:
                return None
            value = metric(text, "dramatiq_messages_total", actor_name="check_profanity", queue_name="moderation")
            return text if value and value >= 1 else None

        support.poll(processed, 30, interval=0.2, what="worker metrics")
        support.poll(lambda: f'"comment_id": {comment_id}' in worker.log(), 10, what="actor log line")
    finally:
        worker.stop()
    records = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    actor_lines = [r for r in records if r.get("logger") in ("core.translation.workflow", "actors.moderation")]
    assert actor_lines and all(r["comment_id"] == comment_id and r["message_id"] for r in actor_lines)


def test_scheduler_liveness_endpoint(stack, clean_db):
    port = support.free_port()
    proc = support.Proc("scheduler", [sys.executable, "scheduler.py"],
                        stack.env(SCHEDULER_HEALTH_PORT=str(port), SCHEDULER_LEASE_SECONDS="3"))
    try:
        body = support.poll(lambda: _get_json(f"http://127.0.0.1:{port}/healthz"), 30, what="scheduler /healthz")
        assert body["status"] == "ok" and body["last_tick_seconds_ago"] < 10
        assert support.poll(lambda: _get_json(f"http://127.0.0.1:{port}/healthz")["active"], 15)
    finally:
        proc.stop()


def _get_json(url: str) -> dict | None:
    try:
        return requests.get(url, timeout=2).json()
    except requests.ConnectionError:
        return None


def test_alert_rules_are_valid_and_use_exported_metrics():
    rules = yaml.safe_load((support.ROOT / "deploy/prometheus/alerts.yml").read_text())
    exported = {"parley_oldest_pending_seconds", "parley_oldest_flagged_seconds", "parley_queue_messages",
                "parley_scheduler_last_success_timestamp_seconds", "parley_translation_failures",
                "parley_dependency_up", "parley_flagged_backlog", "parley_pending_comments", "parley_outbox_pending",
                "parley_outbox_oldest_pending_seconds", "parley_outbox_overdue_seconds", "parley_outbox_failed"}
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in alerts}
    assert {"ParleyCommentsStuckPending", "ParleyDeadLetters", "ParleySchedulerMissedRun",
            "ParleyModerationBacklogOld", "ParleyOutboxStuck", "ParleyOutboxOld", "ParleyOutboxGrowing"} <= names
    for rule in alerts:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("page", "ticket") and rule["annotations"]["summary"]
        used = set(re.findall(r"parley_[a-z_]+", rule["expr"]))
        assert used and used <= exported, (rule["alert"], used - exported)
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["for"]


def test_log_lines_cannot_be_broken_by_user_text():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "body %s", ("evil\nFAKE ERROR line\x1b[31m",), None)
    token = log_context.set({"comment_id": 7, "message_id": "m"})
    try:
        from core.logs import ContextFilter

        ContextFilter().filter(record)
        text = OneLineFormatter("%(context)s %(message)s").format(record)
        as_json = JsonFormatter().format(record)
    finally:
        log_context.reset(token)
    assert "\n" not in text and "\x1b" not in text and "comment_id=7" in text
    assert "\n" not in as_json and json.loads(as_json)["comment_id"] == 7
