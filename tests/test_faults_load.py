"""Many concurrent actors on the same rows (PostgreSQL), and the SQLite default under concurrent writers.

Real gunicorn, ``dramatiq actors`` and ``scheduler.py`` processes on a private RabbitMQ node (and a private
PostgreSQL cluster); every message is delivered several times on purpose while a moderator decides.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections import Counter

import pytest
import requests

from core.messaging.broker import CHECK_PROFANITY, MODERATION_QUEUE, TRANSLATE_COMMENT, TRANSLATION_QUEUE
from core.storage.models import Status
from tests import fault_support
from tests.fault_support import FaultStack, History, Outcome, unique_body

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)


def body_for(number: int) -> tuple[str, str]:
    """Return (body, lang) for comment *number*: a third profane, a fifth already English."""
    if number % 3 == 0:
        return unique_body(f"fuck {number}"), "fr"
    if number % 5 == 0:
        return f"hello world {number} {unique_body('en')}", "en"
    return unique_body(f"load {number}"), "fr"


def edits_for(number: int) -> list[str]:
    """Return the bodies comment *number*'s author edits it to, right after posting: every fourth comment is
    edited (profane to clean and back), every eighth twice, while its check and translation are in flight."""
    if number % 4 != 1:
        return []
    first = unique_body(f"edited {number}") if number % 3 == 0 else unique_body(f"fuck edited {number}")
    return [first, unique_body(f"edited again {number}")] if number % 8 == 1 else [first]


class Moderator(threading.Thread):
    """Decides flagged comments (approve or reject) and rejects some published ones, as they appear."""

    def __init__(self, stack: FaultStack) -> None:
        super().__init__(name="moderator", daemon=True)
        self.stack, self.stop = stack, threading.Event()
        self.answers: list[int] = []
        self.random = random.Random(7)

    def queue(self, status: str) -> list[int]:
        response = requests.get(f"{self.stack.web_url}/api/moderation/comments", timeout=10,
                                params={"status": status, "limit": 100},
                                headers={"Authorization": f"Bearer {self.stack.moderator_token()}"})
        self.answers.append(response.status_code)
        return [c["id"] for c in response.json()["comments"]] if response.status_code == 200 else []

    def run(self) -> None:
        while not self.stop.is_set():
            for comment_id in self.queue("flagged"):
                action = self.random.choice(["approve", "reject"])
                self.answers.append(self.stack.decide(comment_id, action).status_code)
            for comment_id in self.queue("published")[::7]:
                self.answers.append(self.stack.decide(comment_id, "reject").status_code)
            self.stop.wait(0.2)


def test_many_concurrent_actors_on_the_same_rows_postgres(fault_stack: FaultStack) -> None:
    """2 worker processes x 8 threads, 300 comments, every check delivered 3 times and every translation twice,
    a quarter of them edited by their authors meanwhile, while a moderator decides concurrently; then every
    message once more, decided and edited comments included: no stale verdict applied, no edit lost."""
    stack = fault_stack
    stack.settings["TRANSLATION_TIMEOUT_SECONDS"] = "5"  # the fake shares this busy process: no timeouts here
    stack.start_web()
    stack.start_worker(processes=2, threads=8)
    stack.start_scheduler()
    stack.moderator_token()
    history = History()
    moderator = Moderator(stack)
    moderator.start()
    counter = itertools.count()
    send_lock = threading.Lock()  # one publishing connection in this process, shared by the client threads

    def client() -> None:
        while (number := next(counter)) < 300:
            body, lang = body_for(number)
            outcome = stack.post(history, body, lang=lang, thread=f"load-{number % 10}")
            if outcome.kind == "ok":
                with send_lock:
                    for _ in range(2):
                        stack.send(MODERATION_QUEUE, CHECK_PROFANITY, outcome.comment_id)
                    if lang != "en":
                        stack.send(TRANSLATION_QUEUE, TRANSLATE_COMMENT, outcome.comment_id, "en")
                for new_body in edits_for(number):
                    stack.edit(history, outcome, new_body)

    began = time.monotonic()
    clients = [threading.Thread(target=client, daemon=True) for _ in range(8)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(300)
    posted = time.monotonic() - began
    fault_support.wait_all_settled(stack, 120)
    time.sleep(1)  # let the moderator see the last flagged comments
    moderator.stop.set()
    moderator.join(30)
    assert not history.of("error") and len(history.accepted) == 300, history.summary()
    edits = Counter(edit.kind for edit in history.edits)
    assert edits["ok"] >= 50 and set(edits) <= {"ok", "fail"}, edits  # a 409 when the moderator rejected first
    assert set(moderator.answers) <= {200, 409}, sorted(set(moderator.answers))
    decided = stack.snapshot_decided()
    assert len(decided) >= 50, len(decided)
    # Every message once more, decided comments included: nothing may change.
    for comment_id in history.accepted:
        stack.send(MODERATION_QUEUE, CHECK_PROFANITY, comment_id)
        stack.send(TRANSLATION_QUEUE, TRANSLATE_COMMENT, comment_id, "en")
    marker: Outcome = stack.post(history, unique_body("marker"))
    stack.wait_settled(marker.comment_id, timeout=60)
    fault_support.wait_all_settled(stack, 60)
    fault_support.support.poll(lambda: stack.depth(MODERATION_QUEUE) + stack.depth(TRANSLATION_QUEUE) == 0, 60,
                               interval=0.5, what="the queues to drain")
    report = fault_support.assert_invariants(stack, history, decided, settle=60)
    fault_support.assert_clean_logs(stack)
    log.info("300 comments posted in %.1f s (%s edits); %d decided; %s", posted, dict(edits), len(decided), report)


def test_sqlite_under_concurrent_posting_while_the_worker_writes(sqlite_fault_stack: FaultStack) -> None:
    """The embedded default: 8 clients x 50 posts through gunicorn (2 processes) while a worker (2 processes) and
    the scheduler write to the same SQLite file. No 5xx, no "database is locked" anywhere."""
    stack = sqlite_fault_stack
    stack.settings["TRANSLATION_TIMEOUT_SECONDS"] = "5"
    stack.start_web()
    stack.start_worker(processes=2, threads=4)
    stack.start_scheduler()
    history = History()
    reads: list[int] = []

    def reader(stop: threading.Event) -> None:
        while not stop.is_set():
            reads.append(requests.get(f"{stack.web_url}/api/threads/faults/comments?lang=en", timeout=30).status_code)

    stop = threading.Event()
    readers = [threading.Thread(target=reader, args=(stop,), daemon=True) for _ in range(2)]
    for thread in readers:
        thread.start()
    began = time.monotonic()
    stack.post_many(history, [unique_body(f"sqlite-{n}") for n in range(400)], threads=8, timeout=30)
    posted = time.monotonic() - began
    stop.set()
    for thread in readers:
        thread.join(30)
    assert history.summary() == {"ok:202": 400}, history.summary()
    assert reads and set(reads) == {200}, sorted(set(reads))
    report = fault_support.assert_invariants(stack, history, settle=120)
    assert report.statuses == {Status.PUBLISHED: 400} and report.translations == {"done": 400}, report
    fault_support.assert_clean_logs(stack)
    log.info("SQLite: 400 posts in %.1f s (slowest %.2f s), %d reads; %s", posted,
             max(o.seconds for o in history.outcomes), len(reads), report)
