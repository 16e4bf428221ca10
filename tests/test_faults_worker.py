"""Fault injection on the worker: SIGKILL, SIGTERM, a poison message, a sick translation service, hostile messages.

Real gunicorn, ``dramatiq actors`` and ``scheduler.py`` processes run against a private RabbitMQ node and a private
PostgreSQL cluster (tests/private_services.py); every scenario ends with ``fault_support.assert_invariants``.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.messaging.broker import (
    CHECK_PROFANITY,
    MODERATION_QUEUE,
    RUN_MAINTENANCE,
    TRANSLATE_COMMENT,
    TRANSLATION_QUEUE,
)
from core.storage.models import Status, Translation
from tests import fault_support, support
from tests.fault_support import FaultStack, History, unique_body


def in_flight(stack: FaultStack, count: int, marker: str = "", timeout: float = 30) -> None:
    """Wait until the translation service has received *count* requests (with *marker*)."""
    support.poll(lambda: len(stack.translator.calls(marker)) >= count, timeout, interval=0.02,
                 what=f"{count} translation requests in flight")


@pytest.mark.slow
def test_worker_killed_mid_translation_then_restarted(fault_stack: FaultStack) -> None:
    stack = fault_stack
    stack.start_web()
    worker = stack.start_worker()
    stack.start_scheduler()
    # Every translation takes 0.6 s (under the 1 s timeout), so the kill lands while calls are in flight.
    stack.translator.set_mode("slow", delay=0.6)
    history = History()
    stack.post_many(history, [unique_body(f"kill9-{n}") for n in range(24)], threads=4)
    in_flight(stack, 4)
    worker.signal(signal.SIGKILL)
    assert worker.popen.wait(10) == -signal.SIGKILL
    killed_calls = len(stack.translator.translations())
    # Comments keep being accepted while no worker runs.
    stack.post_many(history, [unique_body(f"kill9-late-{n}") for n in range(6)], threads=3)
    stack.translator.set_mode("ok")
    stack.start_worker()
    report = fault_support.assert_invariants(stack, history, settle=60)
    assert len(history.accepted) == 30 and report.statuses == {Status.PUBLISHED: 30}
    assert report.translations == {"done": 30}, report
    # The calls cut off by the kill were made again by the new worker (redelivery), not lost.
    assert len(stack.translator.translations()) > killed_calls
    with Session(stack.engine) as session:
        assert session.scalar(select(func.max(Translation.attempts))) >= 2  # claimed before the kill, and after


@pytest.mark.slow
def test_worker_stopped_with_sigterm_finishes_its_work_and_restarts(fault_stack: FaultStack) -> None:
    stack = fault_stack
    stack.start_web()
    worker = stack.start_worker()
    stack.translator.set_mode("slow", delay=0.6)
    history = History()
    stack.post_many(history, [unique_body(f"term-{n}") for n in range(16)], threads=4)
    in_flight(stack, 4)
    began = time.monotonic()
    # Like `docker stop`: SIGTERM to the main process only, which relays it to its worker processes. (A second
    # SIGTERM sent straight to a worker process, as `kill` on the whole group or systemd's default
    # KillMode=control-group does, makes Dramatiq kill it at once: see docs/RELIABILITY.md.)
    os.kill(worker.popen.pid, signal.SIGTERM)
    assert worker.popen.wait(15) == 0
    # The running actors were allowed to finish (within --worker-shutdown-timeout), not abandoned.
    assert time.monotonic() - began < 10
    log = worker.log()
    assert "Killing worker process" not in log and "Traceback" not in log, log[-3000:]
    stack.translator.set_mode("ok")
    stack.start_worker()
    report = fault_support.assert_invariants(stack, history, settle=45)
    assert report.translations == {"done": 16}, report


@pytest.mark.slow
def test_poison_translation_kills_the_worker_every_time_and_ends_failed(fault_stack: FaultStack) -> None:
    """Each delivery of the poison translation kills the worker (OOM-like); the DB attempt count ends the loop."""
    stack = fault_stack
    stack.start_web()
    stack.start_scheduler()
    limit = int(stack.settings["TRANSLATION_MAX_ATTEMPTS"])
    deaths: list[float] = []
    worker_box: list[support.Proc] = [stack.start_worker()]
    stack.translator.rule("poison", "hang")

    def kill_on_poison(text: str, mode: str) -> None:
        if "poison" in text:
            deaths.append(time.monotonic())
            worker_box[0].signal(signal.SIGKILL)  # the call is in flight: the worker dies holding the message

    stack.translator.on_request = kill_on_poison
    history = History()
    poison = stack.post(history, "bonjour poison")
    assert poison.kind == "ok"
    innocents: list[str] = []
    # The test plays the supervisor (systemd/compose "restart: always"): restart the worker after each death,
    # and keep posting innocent comments meanwhile; they must keep flowing.
    deadline = time.monotonic() + 120
    while stack.translation(poison.comment_id).status == "pending":
        assert time.monotonic() < deadline, f"poison not given up after {len(deaths)} deaths"
        if worker_box[0].popen.poll() is not None:
            worker_box[0] = stack.start_worker()
        body = unique_body("innocent")
        innocents.append(body)
        stack.post(history, body)
        time.sleep(0.3)
    translation = stack.translation(poison.comment_id)
    assert translation.status == "failed" and translation.reason == f"gave up after {limit} attempts"
    # Bounded: one death per counted attempt, then the message is acknowledged for good.
    assert len(deaths) == limit, deaths
    assert len(stack.translator.calls("poison")) == limit
    if worker_box[0].popen.poll() is not None:
        worker_box[0] = stack.start_worker()
    report = fault_support.assert_invariants(stack, history, settle=60)
    # Only the poison failed: the comments that died beside it came back and were translated.
    assert report.translations.get("failed") == 1 and report.translations["done"] == len(innocents), report
    assert report.statuses == {Status.PUBLISHED: len(innocents) + 1}, report


def dramatiq_message(actor: str, args: object, queue: str = MODERATION_QUEUE, **fields: object) -> bytes:
    """Encode a Dramatiq message by hand, so any field can be wrong."""
    message = {"queue_name": queue, "actor_name": actor, "args": args, "kwargs": {}, "options": {},
               "message_id": f"hostile-{time.monotonic_ns()}", "message_timestamp": int(time.time() * 1000)}
    message.update(fields)
    return fault_support.as_json(message)


HOSTILE = [
    (MODERATION_QUEUE, b"not json at all \xff"),
    (MODERATION_QUEUE, b'{"just": "an object"}'),
    (MODERATION_QUEUE, b"[1, 2, 3]"),
    (MODERATION_QUEUE, dramatiq_message("drop_all_tables", [1])),
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, ["not-an-id"])),
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, [1.5])),
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, [True])),
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, [-7])),
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, [])),
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, "abc")),
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, None)),
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, [1], kwargs=[])),
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, [1], options=5)),
    (MODERATION_QUEUE, dramatiq_message(["check_profanity"], [1])),
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, [1], options={"eta": int(time.time() * 1000) + 864_000_000})),
    (TRANSLATION_QUEUE, dramatiq_message(TRANSLATE_COMMENT, [1, 5], queue=TRANSLATION_QUEUE)),
    (TRANSLATION_QUEUE, dramatiq_message(TRANSLATE_COMMENT, [1, "xx"], queue=TRANSLATION_QUEUE)),
    (TRANSLATION_QUEUE, dramatiq_message(TRANSLATE_COMMENT, [1, ["en"]], queue=TRANSLATION_QUEUE)),
    (TRANSLATION_QUEUE, dramatiq_message(TRANSLATE_COMMENT, ["1", "en"], queue=TRANSLATION_QUEUE)),
    ("maintenance", dramatiq_message(RUN_MAINTENANCE, ["reboot", "2020-01-01T00:00:00"], queue="maintenance")),
    ("maintenance", dramatiq_message(RUN_MAINTENANCE, ["purge", "not-a-date"], queue="maintenance")),
    ("maintenance", dramatiq_message(RUN_MAINTENANCE, [["purge"], 5], queue="maintenance")),
]
#: Well-formed messages about comments that do not exist: acknowledged as "nothing to do", never retried.
UNKNOWN_IDS = [
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, [987654321])),
    (MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, [2**63 - 1])),
    (TRANSLATION_QUEUE, dramatiq_message(TRANSLATE_COMMENT, [987654321, "en"], queue=TRANSLATION_QUEUE)),
]


@pytest.mark.slow
def test_hostile_messages_are_dead_lettered_at_once_and_the_worker_keeps_going(fault_stack: FaultStack) -> None:
    stack = fault_stack
    stack.start_web()
    worker = stack.start_worker()
    history = History()
    first = stack.post(history, unique_body("before"))
    stack.wait_settled(first.comment_id)
    for queue, body in HOSTILE + UNKNOWN_IDS:
        stack.publish(queue, body)
    after = [stack.post(history, unique_body(f"after-{n}")) for n in range(5)]
    for outcome in after:
        stack.wait_settled(outcome.comment_id, timeout=30)
    # Every hostile message is in a dead-letter queue now, none waits in a delay queue for a retry.
    dead = lambda: sum(n for q, n in stack.depths().items() if q.endswith(".XQ"))  # noqa: E731
    support.poll(lambda: dead() == len(HOSTILE), 30, interval=0.5, what=f"{len(HOSTILE)} dead letters")
    assert {q: n for q, n in stack.depths().items() if not q.endswith(".XQ") and n} == {}
    log = worker.log()
    assert "Retrying message" not in log and "Consumer encountered an unexpected error" not in log, log[-4000:]
    assert worker.popen.poll() is None
    fault_support.assert_invariants(stack, history, settle=30)


@pytest.mark.slow
def test_ids_beyond_64_bits_are_dead_lettered_on_sqlite(sqlite_fault_stack: FaultStack) -> None:
    """Found and fixed: SQLite cannot even compare such an id (OverflowError), so the message was retried
    for half an hour instead of being refused at once."""
    stack = sqlite_fault_stack
    stack.start_web()
    worker = stack.start_worker()
    history = History()
    stack.publish(MODERATION_QUEUE, dramatiq_message(CHECK_PROFANITY, [2**63]))
    stack.publish(TRANSLATION_QUEUE, dramatiq_message(TRANSLATE_COMMENT, [2**64, "en"], queue=TRANSLATION_QUEUE))
    marker = stack.post(history, unique_body("after-huge-ids"))
    stack.wait_settled(marker.comment_id)
    support.poll(lambda: stack.depth("moderation.XQ") + stack.depth("translation.XQ") == 2, 30, interval=0.5,
                 what="two dead letters")
    assert "Retrying message" not in worker.log()
    fault_support.assert_invariants(stack, history, settle=30)

#: Provider behaviour -> (final status, attempts, provider calls) with TRANSLATION_MAX_ATTEMPTS=3.
PROVIDER_MODES = {
    "hang": ("failed", 3), "slow": ("failed", 3), "drip": ("failed", 3), "reset": ("failed", 3),
    "429": ("failed", 3), "403": ("failed", 3), "500": ("failed", 3),
    "garbage": ("failed", 1), "html": ("failed", 1), "empty": ("failed", 1),
    "echo": ("skipped", 1), "xss": ("done", 1),
}


@pytest.mark.slow
def test_a_sick_translation_service_frees_threads_bounds_attempts_and_never_storms(fault_stack: FaultStack) -> None:
    stack = fault_stack
    stack.start_web()
    stack.start_worker(threads=4)
    # slow and drip take 2.5 s (drip: one byte every 2.5 s), beyond TRANSLATION_TIMEOUT_SECONDS=1.
    stack.translator.set_mode("ok", delay=2.5)
    for mode in PROVIDER_MODES:
        stack.translator.rule(f"mode{mode}", mode)
    history = History()
    sick = {mode: stack.post(history, f"bonjour mode{mode}") for mode in PROVIDER_MODES}
    # More stalling calls than worker threads are now in flight; healthy comments must still get through,
    # which they can only do if every stalled call lets its thread go within the timeout.
    support.poll(lambda: len(stack.translator.calls("modeh")) + len(stack.translator.calls("modes")) >= 2, 20,
                 interval=0.05, what="stalling calls in flight")
    began = time.monotonic()
    healthy = [stack.post(history, unique_body(f"healthy-{n}")) for n in range(8)]
    for outcome in healthy:
        translation = stack.wait_settled(outcome.comment_id, timeout=30).translations[0]
        assert translation.status == "done", translation.reason
    assert time.monotonic() - began < 20
    report = fault_support.assert_invariants(stack, history, settle=60)
    for mode, (status, attempts) in PROVIDER_MODES.items():
        translation = stack.translation(sick[mode].comment_id)
        assert (translation.status, translation.attempts) == (status, attempts), (mode, translation.reason)
        # One provider call per counted attempt: no hidden retry loop, no storm.
        assert len(stack.translator.calls(f"mode{mode}")) == attempts, mode
        if status == "failed":
            assert translation.reason.startswith("gave up after 3 attempts" if attempts == 3 else ""), mode
    assert "<img src=x onerror=alert(1)>" in stack.translation(sick["xss"].comment_id).text  # stored as plain text
    # (The injected markup may itself trip the profanity check of the translation: either verdict is final.)
    assert report.statuses.get(Status.PUBLISHED, 0) >= len(PROVIDER_MODES) - 1 + 8, report


@pytest.mark.slow
def test_a_translation_finishing_after_the_moderator_decided_changes_nothing(fault_stack: FaultStack) -> None:
    stack = fault_stack
    stack.start_web()
    stack.start_worker()
    stack.moderator_token()
    history = History()
    # Both bodies are profane in English (flagged by the check); their translations take 0.8 s.
    stack.translator.set_mode("ok", delay=0.8)
    stack.translator.rule("fuck", "slow")
    approved = stack.post(history, "fuck bonjour approve")
    rejected = stack.post(history, "fuck bonjour reject")
    in_flight(stack, 2, "fuck")
    for outcome in (approved, rejected):
        stack.wait_comment(outcome.comment_id, lambda c: c.status == Status.FLAGGED, 10, "flagged")
    # The moderator decides while both translations are still running.
    assert stack.decide(approved.comment_id, "approve").status_code == 200
    assert stack.decide(rejected.comment_id, "reject").status_code == 200
    decided = stack.snapshot_decided()
    assert all(stack.translation(o.comment_id).status in ("pending", "skipped") for o in (approved, rejected))
    fault_support.assert_invariants(stack, history, decided, settle=30)
    # The profane translation ("[en] fuck hello") did not re-flag the approved comment ...
    late = stack.translation(approved.comment_id)
    assert late.status == "done" and late.matched_words == ["fuck"]
    assert stack.comment(approved.comment_id).status == Status.PUBLISHED
    # ... and the rejected comment's translation stayed skipped: the late result was dropped.
    assert stack.translation(rejected.comment_id).status == "skipped"
    # Duplicate deliveries for both decided comments, afterwards, change nothing either.
    for outcome in (approved, rejected):
        stack.send(MODERATION_QUEUE, CHECK_PROFANITY, outcome.comment_id)
        stack.send(TRANSLATION_QUEUE, TRANSLATE_COMMENT, outcome.comment_id, "en")
    marker = stack.post(history, unique_body("marker"))
    stack.wait_settled(marker.comment_id)
    fault_support.assert_invariants(stack, history, decided, settle=30)


@pytest.mark.slow
def test_duplicates_of_the_last_allowed_attempt_do_not_fail_it(fault_stack: FaultStack) -> None:
    """Found and fixed: every delivery counted an attempt before working, so duplicates arriving together
    (redelivery, re-dispatch, re-sent publishes) could exceed TRANSLATION_MAX_ATTEMPTS and end the translation
    "failed: gave up" while its last attempt was still running and about to succeed."""
    stack = fault_stack
    stack.start_web()
    history = History()
    outcome = stack.post(history, "bonjour dupes")
    with Session(stack.engine) as session, session.begin():  # two attempts failed already (say, 500s)
        session.execute(update(Translation).where(Translation.comment_id == outcome.comment_id).values(attempts=2))
    stack.translator.set_mode("ok", delay=0.8)
    stack.translator.rule("dupes", "slow")
    for _ in range(4):
        stack.send(TRANSLATION_QUEUE, TRANSLATE_COMMENT, outcome.comment_id, "en")
    stack.start_worker(threads=4)  # takes the four copies at once
    fault_support.assert_invariants(stack, history, settle=30)
    translation = stack.translation(outcome.comment_id)
    assert (translation.status, translation.attempts) == ("done", 3), translation.reason
    assert len(stack.translator.calls("dupes")) == 1
