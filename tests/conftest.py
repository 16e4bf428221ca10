"""Shared fixtures: a private database and RabbitMQ vhost per backend, the app, a real worker; and for the
fault-injection tests, private RabbitMQ and PostgreSQL servers and the stack built on them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete

from core.config import Settings
from core.moderation import passwords
from core.storage import db
from core.storage.models import (
    AuditEvent,
    Comment,
    Credential,
    LoginFailure,
    Moderator,
    RateLimit,
    Task,
    Translation,
    WordEntry,
    WordListVersion,
)
from core.storage.models_notifications import MailAddress, Outbox, WebhookEndpoint
from core.storage.models_scheduling import DailyStats, JobRun, SchedulerLease
from core.storage.models_signals import Ban, Label
from tests import support

if TYPE_CHECKING:
    from tests.fault_support import FaultStack, FaultTranslator
    from tests.private_services import PrivatePostgres, PrivateRabbit

#: PASSWORD_SCRYPT_N of the tests: the production 2**17 takes ~1 s a hash; tests/test_security_accounts.py
#: checks that default. Seeded moderators, the app and the CLI of every stack hash at this cost.
TEST_SCRYPT_N = 2**14
passwords.configure(TEST_SCRYPT_N)


@dataclass(frozen=True)
class Stack:
    """The services one backend's tests run against."""

    backend: str
    database_url: str
    broker_url: str
    translation_url: str

    def settings(self, **overrides: object) -> Settings:
        """Return settings pointing at this stack."""
        base = Settings(
            database_url=self.database_url,
            broker_url=self.broker_url,
            env="test",
            translation_provider="libre",
            translation_url=self.translation_url,
            translation_timeout_seconds=2.0,
            translation_max_attempts=support.TEST_TRANSLATION_MAX_ATTEMPTS,
            rate_limit_per_minute=0,
            password_scrypt_n=TEST_SCRYPT_N,
            offensive_model=False,  # as support.worker_env: on only where a test turns it on
            burst_max=100_000, duplicate_max=100_000,  # as support.worker_env: the tests of signals set them
        )
        return replace(base, **overrides)

    def env(self, **extra: str) -> dict[str, str]:
        """Return the environment a child process of this stack needs."""
        return support.worker_env(
            self.database_url,
            self.broker_url,
            TRANSLATION_PROVIDER="libre",
            TRANSLATION_URL=self.translation_url,
            TRANSLATION_TIMEOUT_SECONDS="2",
            TRANSLATION_MAX_ATTEMPTS=str(support.TEST_TRANSLATION_MAX_ATTEMPTS),
            RATE_LIMIT_PER_MINUTE="0",
            PASSWORD_SCRYPT_N=str(TEST_SCRYPT_N),
            **extra,
        )


@pytest.fixture(scope="session")
def fake_translator():  # type: ignore[no-untyped-def]
    """A LibreTranslate-compatible server on 127.0.0.1 for every test."""
    from tests.fake_translator import FakeTranslator

    with FakeTranslator() as fake:
        yield fake


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Stop every process a test body started and left running (it failed half-way), so it cannot
    disturb the next test; processes of fixtures are their fixtures' business."""
    before = list(support.LIVE)
    yield
    for proc in [p for p in support.LIVE if p not in before and not p.shared]:
        proc.stop(timeout=5)


@pytest.fixture(autouse=True)
def _reset_fake(request: pytest.FixtureRequest) -> None:
    if "fake_translator" in request.fixturenames:
        request.getfixturevalue("fake_translator").set_mode("ok")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake_translator) -> Iterator[Stack]:
    """A migrated database and an empty RabbitMQ vhost, for SQLite and for PostgreSQL."""
    backend = request.param
    name = support.unique("parley_test")
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'parley.db'}"
    else:
        url = support.create_pg_database(name)
    support.migrate(url)
    broker_url = support.create_vhost(name)
    yield Stack(backend, url, broker_url, fake_translator.url)
    support.delete_vhost(name)
    if backend == "postgresql":
        db.configure("sqlite://")  # release the pool before dropping the database
        support.drop_pg_database(name)


@pytest.fixture(scope="session")
def quiet_vhost(stack: Stack) -> Iterator[str]:
    """A private RabbitMQ vhost per backend that no fixture's worker consumes from; yields its URL."""
    name = support.unique("parley_vhost")
    url = support.create_vhost(name)
    yield url
    support.delete_vhost(name)


def _empty_queues(url: str) -> None:
    """Purge every queue Parley uses on *url*, failing if any has a consumer (a process a test left behind)."""
    import pika
    import pika.exceptions

    from core.messaging.queues import all_queue_names

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for name in all_queue_names():
            try:
                channel.queue_declare(queue=name, passive=True)
            except pika.exceptions.ChannelClosedByBroker:  # 404: not declared yet, so empty
                channel = connection.channel()
                continue
            # A process stopped at the end of the last test may hold its consumer for a moment more.
            support.poll(lambda ch=channel, name=name: ch.queue_declare(queue=name, passive=True).method.consumer_count
                         == 0, 10, what=f"no consumer on {name} (a process an earlier test left running?)")
            channel.queue_purge(name)
    finally:
        if connection.is_open:
            connection.close()


@pytest.fixture
def vhost(quiet_vhost: str) -> str:
    """A private RabbitMQ vhost nobody consumes from, every queue empty (queue depths are exact); its URL.

    One vhost per backend, emptied before each test: ``rabbitmqctl`` starts an Erlang VM per call (about 0.5 s of
    CPU), and a vhost per test cost three of them, over 300 times a run.
    """
    _empty_queues(quiet_vhost)
    return quiet_vhost


@pytest.fixture
def clean_db(stack: Stack) -> Iterator[None]:
    """Empty every table after the test."""
    yield
    db.configure(stack.database_url)
    with db.session_scope() as session:
        for table in (Outbox, WebhookEndpoint, MailAddress, Translation, AuditEvent, RateLimit, LoginFailure, Comment,
                      Credential, Moderator, WordEntry,
                      WordListVersion, Task, JobRun, SchedulerLease, DailyStats, Ban, Label):
            session.execute(delete(table))


@pytest.fixture
def app(stack: Stack, clean_db: None):  # type: ignore[no-untyped-def]
    """The Flask app on this stack."""
    from webapp import create_app

    return create_app({"PARLEY": stack.settings(), "TESTING": True})


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    """A test client of the app."""
    return app.test_client()


@pytest.fixture(scope="session")
def worker(stack: Stack) -> Iterator[support.Proc]:
    """A real ``dramatiq actors`` process on this stack (one per backend)."""
    proc = support.start_worker(stack.env())
    proc.shared = True
    yield proc
    proc.stop()


# ---- fault injection: private servers a test may stop, kill, pause and block --------------------------------


def _started(server):  # type: ignore[no-untyped-def]
    """Start *server*, yield it, and close it even if it never started."""
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def private_rabbit() -> Iterator[PrivateRabbit]:
    """A started private RabbitMQ node for one test module, removed afterwards."""
    from tests.private_services import PrivateRabbit

    yield from _started(PrivateRabbit())


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private PostgreSQL cluster for one test module, removed afterwards."""
    from tests.private_services import PrivatePostgres

    yield from _started(PrivatePostgres())


@pytest.fixture(scope="module")
def fault_translator() -> Iterator[FaultTranslator]:
    """One fake translation service per test module, reset before each test."""
    from tests.fault_support import FaultTranslator

    with FaultTranslator() as fake:
        yield fake


def _fault_stack(rabbit: PrivateRabbit, translator: FaultTranslator, postgres: PrivatePostgres | None,
                 tmp_path: Path) -> Iterator[FaultStack]:
    """A fresh database (PostgreSQL on *postgres*, or SQLite when None) on the private servers."""
    from tests.fault_support import FaultStack, make_database

    rabbit.ensure_running()
    if postgres is not None:
        postgres.ensure_running()
    translator.reset()
    stack = FaultStack(rabbit, translator, make_database(postgres, tmp_path), postgres)
    try:
        yield stack
    finally:
        translator.reset()
        stack.close()


@pytest.fixture
def fault_stack(private_rabbit: PrivateRabbit, private_postgres: PrivatePostgres, fault_translator: FaultTranslator,
                tmp_path: Path) -> Iterator[FaultStack]:
    """A fresh PostgreSQL database on the private cluster; the test starts the processes it needs."""
    yield from _fault_stack(private_rabbit, fault_translator, private_postgres, tmp_path)


@pytest.fixture
def sqlite_fault_stack(private_rabbit: PrivateRabbit, fault_translator: FaultTranslator,
                       tmp_path: Path) -> Iterator[FaultStack]:
    """A fresh SQLite database (the embedded default) with the private RabbitMQ node."""
    yield from _fault_stack(private_rabbit, fault_translator, None, tmp_path)
