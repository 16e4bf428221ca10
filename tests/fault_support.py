"""Fault-injection support: real web, worker and scheduler processes on a private RabbitMQ node and PostgreSQL
cluster, a Jepsen-style record of every POST, and one invariant check over the database.

A test asks for the fixture ``fault_stack`` (or ``sqlite_fault_stack``; both from ``tests/conftest.py``)::

    def test_something(fault_stack: fault_support.FaultStack) -> None:
        fault_stack.start_web(); fault_stack.start_worker(); fault_stack.start_scheduler()
        history = fault_support.History()
        ...inject a fault, post through fault_stack.post(history, ...)...
        fault_support.assert_invariants(fault_stack, history)

Every POST outcome is recorded as ``ok`` (202 with an id), ``fail`` (a documented 4xx or 503: nothing may be
stored), ``error`` (any other answer, which is a bug) or ``info`` (timeout / connection error: indeterminate, the
comment may or may not exist, but if it exists it must settle like any other).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dramatiq
import pika
import pika.exceptions
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from core.messaging.broker import (
    CLASSIFICATION_QUEUE,
    MAINTENANCE_QUEUE,
    MODERATION_QUEUE,
    NOTIFICATIONS_QUEUE,
    TRANSLATION_QUEUE,
)
from core.moderation import accounts
from core.storage.models import AuditEvent, Comment, Status, Translation, TranslationStatus
from core.storage.models_notifications import Outbox, OutboxStatus
from tests import support
from tests.fake_translator import MODES, FakeRequest, FakeTranslator
from tests.private_services import PrivatePostgres, PrivateRabbit, port_open

log = logging.getLogger(__name__)

#: Every queue Dramatiq declares for Parley: the work queues, their delay (DQ) and dead-letter (XQ) queues.
QUEUES = tuple(f"{q}{suffix}" for q in (MODERATION_QUEUE, TRANSLATION_QUEUE, MAINTENANCE_QUEUE, NOTIFICATIONS_QUEUE,
                                        CLASSIFICATION_QUEUE)
               for suffix in ("", ".DQ", ".XQ"))
#: Timings scaled down so a fault heals within seconds (the production defaults are in README.md).
FAST = {
    "REDISPATCH_INTERVAL_SECONDS": "2",
    "STUCK_AFTER_SECONDS": "5",
    "REDISPATCH_MAX_ATTEMPTS": "5",
    "SCHEDULER_LEASE_SECONDS": "3",
    "CATCHUP_INTERVAL_SECONDS": "2",
    "TRANSLATION_MAX_ATTEMPTS": "3",
    "CHECK_MAX_ATTEMPTS": "3",
    "TRANSLATION_TIMEOUT_SECONDS": "1",
    "PUBLISH_TIMEOUT_SECONDS": "1.5",
}
#: A comment whose first publish was never confirmed is re-sent this long after it was stored (UNDISPATCHED_GRACE).
UNDISPATCHED_GRACE = 10.0
MODERATOR = "faultmod"
#: How long a POST may take whatever the broker does (PUBLISH_TIMEOUT_SECONDS plus the request's own work).
POST_DEADLINE = 3.0
#: Log lines that mean a bug or lost work (a transient error's traceback from Dramatiq's retry logging is neither).
_SUBPROCESS_LOG_ERRORS = ("database is locked", "Unhandled error", "Consumer encountered an unexpected error",
                          "Unexpected failure")


# --------------------------------------------------------------------------------------------------------------
# the translation service: per-text modes and a hook that runs when a request arrives
# --------------------------------------------------------------------------------------------------------------


class FaultTranslator(FakeTranslator):
    """The fake LibreTranslate with per-text modes: ``rule("poison", "hang")`` hangs only texts containing it.

    ``on_request(text, mode)`` runs in the server thread before the answer is sent; a test uses it to kill the
    worker while the call is in flight, or to raise a broker alarm right before an error answer.
    """

    def __init__(self) -> None:
        super().__init__()
        # Clients that time out (as they must) make the server print broken-pipe tracebacks: not news here.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.rules: list[tuple[str, str]] = []
        self.on_request: Callable[[str, str], None] | None = None

    def reset(self) -> None:
        """Back to "ok" for every text, no hook, no history."""
        self.set_mode("ok", delay=1.0, fail_times=None)
        with self._lock:
            self.rules = []
            self.on_request = None
        self.clear()

    def rule(self, marker: str, mode: str) -> None:
        """Answer texts containing *marker* in *mode* (the first matching rule wins)."""
        if mode not in MODES:
            raise ValueError(mode)
        with self._lock:
            self.rules.append((marker, mode))

    def _mode_for(self, path: str, params: dict[str, str], mode: str) -> str:
        """Apply the first rule whose marker the text contains (called under the lock)."""
        if path != "/translate":
            return mode
        text = params.get("q", "")
        return next((m for marker, m in self.rules if marker in text), mode)

    def _record(self, method: str, path: str, params: dict[str, str], query: str = "") -> str:
        mode = super()._record(method, path, params, query)
        hook = self.on_request
        if hook is not None and path == "/translate":
            hook(params.get("q", ""), mode)
        return mode

    def calls(self, marker: str = "") -> list[FakeRequest]:
        """The /translate requests whose text contains *marker*."""
        return [r for r in self.translations() if marker in r.params.get("q", "")]


# --------------------------------------------------------------------------------------------------------------
# the client's history (Jepsen style)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one POST got: ``ok`` 202, ``fail`` documented refusal, ``error`` anything else, ``info`` unknown."""

    kind: str
    body: str
    status: int | None
    seconds: float
    comment_id: int | None = None
    detail: str = ""
    token: str | None = None  # the author token of a 202


@dataclass(frozen=True)
class Edit:
    """What one author's PATCH got: ``ok`` 200, ``fail`` documented refusal (409, 429...), ``info`` unknown."""

    comment_id: int
    body: str
    kind: str
    status: int | None


@dataclass
class History:
    """Every POST (and author's edit) of a scenario, thread-safe."""

    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    edits: list[Edit] = field(default_factory=list)

    def add_edit(self, edit: Edit) -> Edit:
        """Record *edit* and return it."""
        with self.lock:
            self.edits.append(edit)
        return edit

    def expected_bodies(self) -> dict[int, set[str]]:
        """Comment id -> the bodies it may hold: its last acknowledged one, or any later edit of unknown outcome."""
        with self.lock:
            edits = list(self.edits)
        bodies = {cid: {body} for cid, body in self.accepted.items()}
        for edit in edits:  # in the order each client saw its answers: one client edits a comment at a time
            if edit.kind == "ok":
                bodies[edit.comment_id] = {edit.body}
            elif edit.kind == "info":
                bodies.setdefault(edit.comment_id, set()).add(edit.body)
        return bodies

    def acknowledged_edits(self) -> Counter[int]:
        """Comment id -> how many edits were answered 200."""
        with self.lock:
            return Counter(e.comment_id for e in self.edits if e.kind == "ok")

    def add(self, outcome: Outcome) -> Outcome:
        """Record *outcome* and return it."""
        with self.lock:
            self.outcomes.append(outcome)
        return outcome

    def of(self, kind: str) -> list[Outcome]:
        """Return the outcomes of one kind."""
        with self.lock:
            return [o for o in self.outcomes if o.kind == kind]

    @property
    def accepted(self) -> dict[int, str]:
        """Comment id -> body of every 202."""
        return {o.comment_id: o.body for o in self.of("ok") if o.comment_id is not None}

    def summary(self) -> dict[str, int]:
        """Counts by kind and status."""
        with self.lock:
            return dict(Counter(f"{o.kind}:{o.status}" for o in self.outcomes))


# --------------------------------------------------------------------------------------------------------------
# one scenario's stack: a fresh database, purged queues, the processes it starts
# --------------------------------------------------------------------------------------------------------------


class FaultStack:
    """A fresh Parley database plus web, worker and scheduler processes on the private services."""

    def __init__(self, rabbit: PrivateRabbit, translator: FaultTranslator, database_url: str,
                 postgres: PrivatePostgres | None = None) -> None:
        self.rabbit, self.translator, self.postgres = rabbit, translator, postgres
        self.database_url = database_url
        self.broker_url = rabbit.url
        self.procs: list[support.Proc] = []
        self.web_url = ""
        self.engine: Engine = create_engine(database_url, poolclass=NullPool,
                                            connect_args={"connect_timeout": 3} if postgres else {})
        self.token = ""
        self.settings: dict[str, str] = dict(FAST)
        self._broker: dramatiq.Broker | None = None

    # -- environment and processes ---------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """Return the environment of a Parley process of this stack."""
        return support.worker_env(
            self.database_url, self.broker_url, TRANSLATION_PROVIDER="libre", TRANSLATION_URL=self.translator.url,
            RATE_LIMIT_PER_MINUTE="0", **{**self.settings, **extra},
        )

    def _track(self, proc: support.Proc) -> support.Proc:
        self.procs.append(proc)
        return proc

    def start_web(self, workers: int = 2, threads: int = 4, **extra: str) -> support.Proc:
        """Start gunicorn on a spare loopback port and wait until it answers."""
        proc, self.web_url = support.start_web(self.env(**extra), "fault-web", workers, threads)
        return self._track(proc)

    def start_worker(self, processes: int = 1, threads: int = 4, **extra: str) -> support.Proc:
        """Start ``dramatiq actors`` and wait until it consumes."""
        cmd = [str(support.BIN / "dramatiq"), "actors", "--processes", str(processes), "--threads", str(threads),
               "--worker-shutdown-timeout", "5000"]
        proc = self._track(support.Proc("fault-worker", cmd, self.env(**extra)))
        proc.wait_for_log("is ready for action", timeout=90)
        # Its consumers declare the queues a moment later; tests publish straight onto them.
        support.poll(lambda: all(self.ready(q) >= 0 for q in QUEUES if not q.endswith(".XQ")), 30, interval=0.1,
                     what="the worker's queues")
        return proc

    def start_scheduler(self, **extra: str) -> support.Proc:
        """Start ``python scheduler.py`` and wait until it holds the lease."""
        proc = self._track(support.Proc("fault-scheduler", [str(support.BIN / "python"), "scheduler.py"],
                                        self.env(**extra)))
        proc.wait_for_log("Active scheduler is now", timeout=60)
        return proc

    def logs(self) -> str:
        """Everything every process of this stack printed."""
        return "\n".join(f"===== {p.name} {p.log_path.name}\n{p.log()}" for p in self.procs)

    def close(self) -> None:
        """Stop every process, heal the services, empty the queues."""
        for proc in self.procs:
            proc.stop(timeout=10)
        if self._broker is not None:
            self._broker.close()
        self.rabbit.ensure_running()
        if self.postgres is not None:
            self.postgres.ensure_running()
        purge_queues(self.rabbit)
        self.engine.dispose()

    # -- the client ------------------------------------------------------------------------------------------

    def post(self, history: History, body: str, *, lang: str | None = "fr", thread: str = "faults",
             timeout: float = 10.0, **extra: Any) -> Outcome:
        """POST one comment through the web and record the outcome."""
        payload: dict[str, Any] = {"thread": thread, "author": "Jepsen", "body": body, **extra}
        if lang:
            payload["lang"] = lang
        started = time.monotonic()
        try:
            response = requests.post(f"{self.web_url}/api/comments", json=payload, timeout=(2, timeout))
        except requests.RequestException as exc:
            return history.add(Outcome("info", body, None, time.monotonic() - started, detail=type(exc).__name__))
        seconds = time.monotonic() - started
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 202:
            return history.add(Outcome("ok", body, 202, seconds, comment_id=answer["id"],
                                       token=answer.get("author_token")))
        documented = response.status_code in (400, 413, 415, 429, 503) and isinstance(answer.get("error"), dict)
        return history.add(Outcome("fail" if documented else "error", body, response.status_code, seconds,
                                   detail=response.text[:300]))

    def edit(self, history: History, outcome: Outcome, body: str, timeout: float = 10.0) -> Edit:
        """PATCH the body of an accepted comment with its author token, and record the outcome."""
        assert outcome.comment_id is not None and outcome.token, outcome
        try:
            response = requests.patch(f"{self.web_url}/api/comments/{outcome.comment_id}", json={"body": body},
                                      headers={"X-Author-Token": outcome.token}, timeout=(2, timeout))
        except requests.RequestException:
            return history.add_edit(Edit(outcome.comment_id, body, "info", None))
        kind = "ok" if response.status_code == 200 else "fail" if response.status_code in (409, 429, 503) else "error"
        return history.add_edit(Edit(outcome.comment_id, body, kind, response.status_code))

    def post_many(self, history: History, bodies: list[str], threads: int = 8, **kwargs: Any) -> list[Outcome]:
        """POST *bodies* from *threads* concurrent clients."""
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="jepsen") as pool:
            return list(pool.map(lambda body: self.post(history, body, **kwargs), bodies))

    def moderator_token(self) -> str:
        """Create the scenario's moderator (once) and return an API token."""
        if not self.token:
            with Session(self.engine) as session, session.begin():
                accounts.create(session, MODERATOR, "fault-injection-password", "moderator")
                self.token = accounts.issue_token(session, MODERATOR)
        return self.token

    def decide(self, comment_id: int, action: str, reason: str = "fault test") -> requests.Response:
        """Approve or reject through the moderator API."""
        return requests.post(f"{self.web_url}/api/moderation/comments/{comment_id}/decision", timeout=10,
                             headers={"Authorization": f"Bearer {self.moderator_token()}"},
                             json={"action": action, "reason": reason})

    # -- the database ---------------------------------------------------------------------------------------

    def comment(self, comment_id: int) -> Comment | None:
        """Read one comment and its translations."""
        with Session(self.engine) as session:
            comment = session.get(Comment, comment_id)
            if comment is not None:
                _ = comment.translations
                session.expunge_all()
            return comment

    def translation(self, comment_id: int, lang: str = "en") -> Translation | None:
        """Read one translation."""
        with Session(self.engine) as session:
            return session.scalar(select(Translation).where(Translation.comment_id == comment_id,
                                                            Translation.lang == lang))

    def wait_comment(self, comment_id: int, done: Callable[[Comment], bool], timeout: float, what: str) -> Comment:
        """Poll until *done* holds for the comment."""
        return support.poll(lambda: (lambda c: c if c is not None and done(c) else None)(self.comment(comment_id)),
                            timeout, interval=0.1, what=what)

    def settled(self, comment_id: int) -> Comment | None:
        """Return the comment once its check and every translation are final."""
        comment = self.comment(comment_id)
        if comment is None or comment.status == Status.PENDING:
            return None
        if any(t.status not in TranslationStatus.FINAL for t in comment.translations):
            return None
        return comment

    def wait_settled(self, comment_id: int, timeout: float = 30) -> Comment:
        """Poll until comment *comment_id* settles."""
        return support.poll(lambda: self.settled(comment_id), timeout, interval=0.1,
                            what=f"comment {comment_id} to settle")

    def snapshot_decided(self) -> dict[int, tuple[Any, ...]]:
        """Return (status, decision, decided_by, decided_at, decision_reason) of every decided comment."""
        with Session(self.engine) as session:
            rows = session.execute(select(Comment.id, Comment.status, Comment.decision, Comment.decided_by,
                                          Comment.decided_at, Comment.decision_reason)
                                   .where(Comment.decision.is_not(None)))
            return {row[0]: tuple(row[1:]) for row in rows}

    # -- the broker -----------------------------------------------------------------------------------------

    def publish(self, queue: str, body: bytes, **properties: Any) -> None:
        """Publish raw *body* onto *queue* (persistent, confirmed), as a buggy or hostile producer would."""
        publish_raw(self.rabbit, queue, body, **properties)

    def send(self, queue: str, actor: str, *args: Any) -> None:
        """Publish a well-formed Dramatiq message (declaring its queue), as a duplicate delivery would."""
        if self._broker is None:
            from dramatiq.brokers.rabbitmq import RabbitmqBroker

            self._broker = RabbitmqBroker(url=self.broker_url, confirm_delivery=True)
        self._broker.enqueue(dramatiq.Message(queue_name=queue, actor_name=actor, args=args, kwargs={}, options={}))

    def ready(self, queue: str) -> int:
        """Messages ready in *queue* (fast; equals the depth while no worker consumes); -1 if never declared."""
        connection = self.rabbit.connect()
        try:
            return connection.channel().queue_declare(queue, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:  # 404: nobody declared it
            return -1
        finally:
            if connection.is_open:
                connection.close()

    def depths(self) -> dict[str, int]:
        """Messages (ready + unacknowledged) in every queue of the node, in one call."""
        out = self.rabbit.rabbitmqctl("list_queues", "-p", "/", "--silent", "name", "messages", timeout=30)
        return {name: int(count) for name, _, count in (line.rpartition("\t") for line in out.splitlines()) if name}

    def depth(self, queue: str) -> int:
        """Messages in *queue* (ready + unacknowledged); 0 if it was never declared."""
        try:
            return self.rabbit.queue_depth(queue)
        except KeyError:
            return 0


def start_again(rabbit: PrivateRabbit) -> None:
    """Start the private node after a stop; a second try if the first boot fails (test infrastructure, not Parley).

    Once in a few dozen runs on a loaded machine the node refused to boot right after a clean stop; the reason is
    logged so that it can be looked into.
    """
    try:
        rabbit.start()
    except (RuntimeError, TimeoutError) as exc:
        log.warning("private RabbitMQ did not start again (%s); retrying once", exc)
        rabbit.ensure_running()


def publish_raw(rabbit: PrivateRabbit, queue: str, body: bytes, **properties: Any) -> None:
    """Publish *body* to *queue* through the default exchange and wait for the broker's confirm."""
    connection = rabbit.connect()
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2, **properties), mandatory=True)
    finally:
        connection.close()


def purge_queues(rabbit: PrivateRabbit) -> None:
    """Delete every Parley queue on the node, so the next scenario starts empty (the worker re-declares them)."""
    connection = rabbit.connect()
    try:
        channel = connection.channel()
        for queue in QUEUES:
            channel.queue_delete(queue)
    finally:
        connection.close()


def make_database(postgres: PrivatePostgres | None, tmp_path: Path) -> str:
    """Create and migrate a fresh database: on the private cluster, or SQLite when *postgres* is None."""
    if postgres is None:
        url = f"sqlite:///{tmp_path / 'parley.db'}"
    else:
        url = postgres.create_database(f"faults_{uuid.uuid4().hex[:10]}")
    support.migrate(url)
    return url


# --------------------------------------------------------------------------------------------------------------
# the invariants, read from the database
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Report:
    """What the database held once the scenario settled."""

    comments: int
    statuses: dict[str, int]
    translations: dict[str, int]
    held: int
    settle_seconds: float

    def __str__(self) -> str:
        return (f"{self.comments} comments {self.statuses}, translations {self.translations}, held {self.held}, "
                f"settled in {self.settle_seconds:.1f} s")


def _unsettled(session: Session) -> list[str]:
    """Describe every comment or translation that is not final yet."""
    pending = [f"comment {c.id} {c.status} checks={c.check_attempts} redispatches={c.redispatches} "
               f"dispatched={c.dispatched_at is not None}"
               for c in session.scalars(select(Comment).where(Comment.status == Status.PENDING).limit(20))]
    pending += [f"translation {t.comment_id}/{t.lang} attempts={t.attempts} redispatches={t.redispatches}"
                for t in session.scalars(select(Translation).where(
                    Translation.status == TranslationStatus.PENDING).limit(20))]
    return pending


def wait_all_settled(stack: FaultStack, timeout: float) -> float:
    """Wait until no comment is pending and every translation is final; return the seconds it took."""
    started = time.monotonic()
    last: list[str] = []

    def settled() -> bool:
        nonlocal last
        with Session(stack.engine) as session:
            last = _unsettled(session)
        return not last

    try:
        support.poll(settled, timeout, interval=0.25, what="every comment and translation to be final")
    except AssertionError:
        raise AssertionError(f"not settled after {timeout} s: {last}\n{tail_logs(stack)}") from None
    return time.monotonic() - started


def tail_logs(stack: FaultStack, lines: int = 40) -> str:
    """The broker's state and the last lines of every process log (for failure messages)."""
    rabbit = stack.rabbit
    broker = (f"--- private RabbitMQ: running={rabbit.is_running()} port {rabbit.port} "
              f"open={port_open(rabbit.port)} last start {rabbit.last_start_seconds} s")
    return "\n".join([broker] + [f"--- {p.name}:\n" + "\n".join(p.log().splitlines()[-lines:]) for p in stack.procs])


def assert_invariants(stack: FaultStack, history: History, decided: dict[int, tuple[Any, ...]] | None = None, *,
                      settle: float = 60.0, extra_ids: set[int] | frozenset[int] = frozenset(),
                      attempt_slack: int = 0) -> Report:
    """Wait a bounded time for everything to settle, then check the issue's invariants over the database.

    INV-1 no loss: every 202 id exists and is final (checked or held, translations done/failed/skipped).
    INV-2 no phantom: nothing stored for a documented refusal; nothing stored that nobody posted.
    INV-3 effects once: one translation per (comment, language), one audit event per key and per (comment, action).
    INV-4 decisions final: each decided comment is exactly as the moderator left it.
    INV-5 bounded: no step was attempted more than its limit allows (plus *attempt_slack* for duplicates).
    INV-6 no edit lost: each comment holds its last acknowledged body, at version 1 + its acknowledged edits.
    INV-7 no stale result: every verdict and every done translation is of the body the comment holds now.
    """
    errors = [o for o in history.of("error")]
    assert not errors, f"answers outside the contract: {errors[:5]}"
    edit_errors = [e for e in history.edits if e.kind == "error"]
    assert not edit_errors, f"edits answered outside the contract: {edit_errors[:5]}"
    seconds = wait_all_settled(stack, settle)
    accepted = history.accepted
    expected_bodies = history.expected_bodies()
    edited = history.acknowledged_edits()
    refused = {o.body for o in history.of("fail")}
    posted = {o.body for o in history.outcomes} | {e.body for e in history.edits}
    check_limit = int(stack.settings["CHECK_MAX_ATTEMPTS"]) + 1 + attempt_slack
    translation_limit = int(stack.settings["TRANSLATION_MAX_ATTEMPTS"]) + 1 + attempt_slack
    with Session(stack.engine) as session:
        rows = {c.id: c for c in session.scalars(select(Comment))}
        translations = list(session.scalars(select(Translation)))
        events = list(session.scalars(select(AuditEvent)))
        # INV-1
        missing = sorted(set(accepted) - set(rows))
        assert not missing, f"accepted (202) comments lost: {missing[:20]}"
        wrong_body = [cid for cid in accepted if rows[cid].body not in expected_bodies[cid]]
        assert not wrong_body, f"stored bodies differ from what was accepted: {wrong_body[:10]}"
        # INV-6 (an edit of unknown outcome may or may not have landed: only the version's lower bound holds)
        lost = [(cid, rows[cid].version, 1 + edited[cid]) for cid in accepted
                if rows[cid].version < 1 + edited[cid]
                or (len(expected_bodies[cid]) == 1 and rows[cid].version != 1 + edited[cid])]
        assert not lost, f"edits lost (id, version, expected): {lost[:10]}"
        # INV-2
        phantoms = [c.id for c in rows.values() if c.body in refused]
        assert not phantoms, f"comments stored although the POST was refused: {phantoms[:10]}"
        strangers = [c.id for c in rows.values() if c.body not in posted and c.id not in extra_ids]
        assert not strangers, f"comments nobody posted: {strangers[:10]}"
        # INV-3
        per_lang = Counter((t.comment_id, t.lang) for t in translations)
        assert max(per_lang.values(), default=1) == 1, [k for k, n in per_lang.items() if n > 1][:10]
        keys = Counter(e.dedupe_key for e in events if e.dedupe_key)
        assert max(keys.values(), default=1) == 1, [k for k, n in keys.items() if n > 1][:10]
        # One event per action and comment version (an edited comment is checked, and may be flagged, again).
        per_action = Counter((e.comment_id, e.kind, e.action, _key_version(e.dedupe_key)) for e in events
                             if e.comment_id is not None and e.action != "edited")  # one per edit
        assert max(per_action.values(), default=1) == 1, [k for k, n in per_action.items() if n > 1][:10]
        expected_langs = {cid: {"en"} - {c.lang} for cid, c in rows.items()}
        have_langs: dict[int, set[str]] = {}
        for t in translations:
            have_langs.setdefault(t.comment_id, set()).add(t.lang)
        assert all(have_langs.get(cid, set()) == langs for cid, langs in expected_langs.items())
        # INV-4
        for comment_id, before in (decided or {}).items():
            now = rows[comment_id]
            after = (now.status, now.decision, now.decided_by, now.decided_at, now.decision_reason)
            assert after == before, f"decided comment {comment_id} changed: {before} -> {after}"
        for comment in rows.values():
            if comment.decision:
                expected = Status.PUBLISHED if comment.decision == "approve" else Status.REJECTED
                assert comment.status == expected, (comment.id, comment.decision, comment.status)
        # INV-7
        stale = [cid for cid, c in rows.items() if c.checked_at is not None and not c.check_error
                 and _marker(c.body) and _marker(c.body) not in (c.censored_body or "")]
        assert not stale, f"verdicts of another body than the stored one: {stale[:10]}"
        stale = [(t.comment_id, t.lang) for t in translations if t.status == TranslationStatus.DONE
                 and (t.version != rows[t.comment_id].version
                      or (_marker(rows[t.comment_id].body) or "") not in (t.text or ""))]
        assert not stale, f"translations of another body than the stored one: {stale[:10]}"
        # INV-5
        over = [(c.id, c.check_attempts) for c in rows.values() if c.check_attempts > check_limit]
        assert not over, f"checks attempted more than {check_limit} times: {over[:10]}"
        over = [(t.comment_id, t.attempts) for t in translations if t.attempts > translation_limit]
        assert not over, f"translations attempted more than {translation_limit} times: {over[:10]}"
        report = Report(
            comments=len(rows),
            statuses=dict(Counter(c.status for c in rows.values())),
            translations=dict(Counter(t.status for t in translations)),
            held=sum(1 for c in rows.values() if c.check_error),
            settle_seconds=seconds,
        )
    log.info("invariants hold: %s; client history %s", report, history.summary())
    return report


def _key_version(key: str | None) -> int:
    """Return the comment version an audit dedupe key names (``flagged:7:v2``); 1 when it names none."""
    match = re.search(r":v(\d+)$", key or "")
    return int(match.group(1)) if match else 1


def _marker(body: str) -> str | None:
    """Return the unique marker unique_body() put in *body* (its last 12 hex digits), if it has one."""
    found = re.findall(r"\b[0-9a-f]{12}\b", body)
    return found[-1] if found else None


def assert_clean_logs(stack: FaultStack, *forbidden: str) -> None:
    """No process printed any of *forbidden* (default: "database is locked", a 500, a crashed consumer...)."""
    for proc in stack.procs:
        text = proc.log()
        for needle in forbidden or _SUBPROCESS_LOG_ERRORS:
            assert needle not in text, f"{proc.name} printed {needle!r}:\n{_around(text, needle)}"


def _around(text: str, needle: str, width: int = 1500) -> str:
    index = text.find(needle)
    return text[max(0, index - width):index + width]


def count_log(proc: support.Proc, pattern: str) -> int:
    """How many lines of *proc*'s output match the regular expression *pattern*."""
    regex = re.compile(pattern)
    return sum(1 for line in proc.log().splitlines() if regex.search(line))


def unique_body(prefix: str) -> str:
    """A French comment body nobody else posts (bodies identify requests in the history)."""
    return f"bonjour {prefix} {uuid.uuid4().hex[:12]}"


def as_json(value: Any) -> bytes:
    """Encode *value* as JSON bytes."""
    return json.dumps(value).encode()


# --------------------------------------------------------------------------------------------------------------
# notifications: deliveries per outbox row, as the SMTP server and the webhook receiver saw them
# --------------------------------------------------------------------------------------------------------------


def outbox_rows(stack: FaultStack) -> list[Outbox]:
    """Every outbox row of the scenario, detached."""
    with Session(stack.engine) as session:
        rows = list(session.scalars(select(Outbox).order_by(Outbox.id)))
        session.expunge_all()
        return rows


def assert_deliveries(stack: FaultStack, seen: Callable[[], Counter[str]], *, at_most: int = 1,
                      settle: float = 60.0) -> dict[int, int]:
    """Wait a bounded time until no outbox row is pending, then check the deliveries per row; return them by row id.

    *seen* counts what the receivers got by message id (a mail's Message-ID without ``<…@host>``, a webhook's
    ``X-Parley-Delivery``). INV-N1 nothing lost: every row is ``sent``, delivered at least once; INV-N2 bounded
    duplicates: at most *at_most* deliveries per row, all with the row's id; INV-N3 no phantom: every delivery
    names a row.
    """
    last: list[str] = []

    def final() -> bool:
        nonlocal last
        last = [f"{r.id} {r.kind} {r.event} attempts={r.attempts} error={r.last_error}"
                for r in outbox_rows(stack) if r.status == OutboxStatus.PENDING]
        return not last

    try:
        support.poll(final, settle, interval=0.25, what="every outbox row to be final")
    except AssertionError:
        raise AssertionError(f"outbox rows still pending after {settle} s: {last[:10]}\n{tail_logs(stack)}") from None
    rows, counts = outbox_rows(stack), seen()
    not_sent = [(r.id, r.kind, r.status, r.last_error) for r in rows if r.status != OutboxStatus.SENT]
    assert not not_sent, f"outbox rows not sent: {not_sent[:10]}"
    per_row = {r.id: counts[r.message_id] for r in rows}
    lost = [row_id for row_id, n in per_row.items() if n == 0]
    assert not lost, f"rows marked sent that no receiver got: {lost[:10]}"
    doubled = {row_id: n for row_id, n in per_row.items() if n > at_most}
    assert not doubled, f"rows delivered more than {at_most} times: {doubled}"
    phantoms = set(counts) - {r.message_id for r in rows}
    assert not phantoms, f"deliveries no outbox row names: {sorted(phantoms)[:10]}"
    log.info("deliveries per row hold: %d rows, %s", len(rows), dict(Counter(per_row.values())))
    return per_row
