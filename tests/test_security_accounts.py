"""Moderator accounts hardened (issue 13): login backoff per account and address, expiring and revocable API tokens,
no-store and HSTS headers, scrypt at OWASP's cost with rehash on login."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from core.config import Settings
from core.errors import ConfigError
from core.moderation import accounts, passwords, throttle
from core.scheduling import maintenance
from core.storage import db
from core.storage.models import Credential, LoginFailure, Moderator, utcnow
from tests import seed
from tests.clients import api, csrf, moderators_cli

WRONG = "not the password at all"


class Clock:
    """A clock the test moves by hand (the throttle's waits are checked without sleeping)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Replace the throttle's clock."""
    fake = Clock()
    monkeypatch.setattr(throttle, "clock", fake)
    return fake


@pytest.fixture
def alice(app):  # type: ignore[no-untyped-def]
    """A moderator alice with seed.PASSWORD."""
    seed.moderator("alice")
    return "alice"


def attempt(client, address: str, password: str = seed.PASSWORD, name: str = "alice"):  # type: ignore[no-untyped-def]
    """POST the login form from client *address*."""
    return client.post("/moderation/login", data={"name": name, "password": password, "csrf_token": csrf(client)},
                       environ_base={"REMOTE_ADDR": address})


def stored_hash(name: str = "alice") -> str:
    """Return the password hash stored for *name*."""
    with db.session_scope() as session:
        return session.scalar(select(Moderator.password_hash).where(Moderator.name == name))


# ---- login throttling ---------------------------------------------------------------------------------------


def test_a_strangers_failures_never_lock_the_owner_out(client, alice, clock):
    # Given a stranger who fails 50 times on alice's name from five addresses (waiting out each delay)
    for n in range(50):
        response = attempt(client, f"10.0.0.{n % 5 + 1}", WRONG)
        assert response.status_code == 401
        clock.now += throttle.MAX_DELAY
    # And 50 more tries from one address, refused fast once its pair is throttled
    statuses = {attempt(client, "10.9.9.9", WRONG).status_code for _ in range(50)}
    assert statuses == {401, 429}
    # When alice logs in from her own address, at once
    response = attempt(client, "192.0.2.10")
    # Then she is in
    assert response.status_code == 302
    # And the stranger's pair waits, even with the right password (which is not even checked)
    throttled = attempt(client, "10.9.9.9")
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert "Too many failed logins. Try again in" in throttled.text


def test_backoff_doubles_after_five_failures_and_a_success_resets_the_pair(app, stack, client, alice, clock):
    from webapp import create_app

    for _ in range(throttle.PAIR_FREE_FAILURES):
        assert attempt(client, "10.0.0.1", WRONG).status_code == 401
    waits = []
    for _ in range(4):
        refused = attempt(client, "10.0.0.1", WRONG)
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        clock.now += waits[-1]
        assert attempt(client, "10.0.0.1", WRONG).status_code == 401  # after the wait, a real (failed) try
    assert waits == [1, 2, 4, 8]
    # Another web process shares the state through the database.
    other = create_app({"PARLEY": stack.settings(), "TESTING": True}).test_client()
    assert attempt(other, "10.0.0.1").status_code == 429
    assert throttle.delay(100, throttle.PAIR_FREE_FAILURES) == throttle.MAX_DELAY == 900
    # A success after the wait resets the pair: the next failure is answered normally.
    clock.now += 16
    assert attempt(client, "10.0.0.1").status_code == 302
    assert attempt(client, "10.0.0.1", WRONG).status_code == 401
    assert attempt(client, "10.0.0.1").status_code == 302


def test_successes_are_not_counted(client, alice, clock):
    for _ in range(25):
        assert attempt(client, "10.0.0.2").status_code == 302
    for _ in range(throttle.PAIR_FREE_FAILURES):
        assert attempt(client, "10.0.0.2", WRONG).status_code == 401
    with db.session_scope() as session:
        failures = {key: count for key, count in session.execute(select(LoginFailure.key, LoginFailure.failures))}
    assert failures == {"pair:alice@10.0.0.2": 5, "addr:10.0.0.2": 5}


def test_one_address_trying_many_accounts_hits_the_address_ceiling(client, alice, clock, monkeypatch):
    monkeypatch.setattr(throttle, "ADDRESS_FREE_FAILURES", 12)
    for n in range(12):
        assert attempt(client, "10.0.0.3", WRONG, name=f"user{n}").status_code == 401
    response = attempt(client, "10.0.0.3", WRONG, name="someone-else")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert attempt(client, "10.0.0.4").status_code == 302  # other addresses are not affected


# ---- API tokens ---------------------------------------------------------------------------------------------


def test_tokens_expire_list_and_revoke_from_the_cli(stack, client):
    assert moderators_cli(stack, "create", "bob", "--password-stdin", stdin=seed.PASSWORD + "\n").returncode == 0
    default = moderators_cli(stack, "token", "bob", "--label", "laptop").stdout.strip()
    short = moderators_cli(stack, "token", "bob", "--expires-in", "12h").stdout.strip()
    forever = moderators_cli(stack, "token", "bob", "--expires-in", "never").stdout.strip()
    bad = moderators_cli(stack, "token", "bob", "--expires-in", "0d")
    assert bad.returncode == 2 and "'never'" in bad.stderr
    assert api(client, "get", "/api/moderation/comments", default).status_code == 200
    with db.session_scope() as session:
        rows = accounts.list_tokens(session, "bob")
        lifetimes = [row.expires_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None) if row.expires_at else None
                     for row in rows]
        ids = [row.id for row in rows]
    assert timedelta(days=89) < lifetimes[0] <= timedelta(days=90)
    assert timedelta(hours=11) < lifetimes[1] <= timedelta(hours=12) and lifetimes[2] is None
    listing = moderators_cli(stack, "tokens", "bob").stdout.splitlines()
    assert listing[0] == "id\tlabel\tcreated\texpires\tlast used" and len(listing) == 4
    assert listing[1].startswith(f"{ids[0]}\tlaptop\t") and not listing[1].endswith("never")  # used once
    assert listing[2].endswith("\tnever") and listing[3].split("\t")[3:] == ["never", "never"]
    assert not any(secret in "\n".join(listing) for secret in (default, short, forever))
    revoked = moderators_cli(stack, "revoke-token", "bob", str(ids[0]))
    assert revoked.returncode == 0, revoked.stderr
    assert api(client, "get", "/api/moderation/comments", default).status_code == 401
    assert api(client, "get", "/api/moderation/comments", forever).status_code == 200  # the account still works
    missing = moderators_cli(stack, "revoke-token", "bob", str(ids[0]))
    assert missing.returncode == 1 and "has no token" in missing.stderr


def test_an_expired_token_is_refused(client, alice):
    with db.session_scope() as session:
        token = accounts.issue_token(session, "alice", lifetime=timedelta(days=1))
    assert api(client, "get", "/api/moderation/comments", token).status_code == 200
    with db.session_scope() as session:
        session.execute(update(Credential).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert api(client, "get", "/api/moderation/comments", token).status_code == 401


def test_the_nightly_purge_drops_expired_tokens_sessions_and_old_failures(stack, alice, clock):
    now = utcnow()
    with db.session_scope() as session:
        expired_token = accounts.issue_token(session, "alice", lifetime=timedelta(days=1))
        kept_token = accounts.issue_token(session, "alice", lifetime=None)
        identity = accounts.Identity(accounts.by_name(session, "alice").id, "alice", "moderator")
        expired_session = accounts.open_session(session, identity)
        expired = [accounts.digest(expired_token), accounts.digest(expired_session)]
        session.execute(update(Credential).where(Credential.secret_hash.in_(expired))
                        .values(expires_at=now - timedelta(hours=1)))
        throttle.record_failure(session, "alice", "10.0.0.5")
    clock.now += throttle.MEMORY_SECONDS + 1
    with db.session_scope() as session:
        throttle.record_failure(session, "bob", "10.0.0.6")
    with db.session_scope() as session:
        outcome = maintenance.purge(session, stack.settings(), utcnow())
    assert outcome.detail["expired_credentials"] == 2 and outcome.detail["login_failures"] == 0
    with db.session_scope() as session:
        assert session.scalars(select(Credential.secret_hash)).all() == [accounts.digest(kept_token)]
        outcome = maintenance.purge(session, stack.settings(), utcnow() + timedelta(seconds=clock.now - time.time()))
        assert outcome.detail["login_failures"] == 2  # alice's pair and address, a day old
        assert set(session.scalars(select(LoginFailure.key))) == {"pair:bob@10.0.0.6", "addr:10.0.0.6"}


# ---- headers -----------------------------------------------------------------------------------------------


def test_moderator_api_answers_are_never_stored_and_hsts_only_in_production(stack, client, alice):
    from webapp import create_app

    with db.session_scope() as session:
        token = accounts.issue_token(session, "alice")
    for response in (api(client, "get", "/api/moderation/comments", token),
                     api(client, "get", "/api/moderation/comments", None),
                     api(client, "get", "/api/moderation/audit", token)):
        assert response.headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in response.headers
    production = create_app({"PARLEY": stack.settings(env="production", secret_key="k" * 32), "TESTING": True})
    for path in ("/api/moderation/comments", "/moderation/login", "/api/comments?thread=t"):
        response = production.test_client().get(path)
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains", path


# ---- password hashing --------------------------------------------------------------------------------------


def test_the_default_cost_is_owasps_and_the_setting_is_checked():
    assert Settings().password_scrypt_n == Settings.from_env({}).password_scrypt_n == 2**17
    assert Settings.from_env({"PASSWORD_SCRYPT_N": "16384"}).password_scrypt_n == 2**14
    for bad in ("1024", "100000", str(2**21), "lots"):
        with pytest.raises(ConfigError, match="PASSWORD_SCRYPT_N"):
            Settings.from_env({"PASSWORD_SCRYPT_N": bad})
    assert not passwords.check_password("scrypt:1099511627776:8:1$salt$00", "x")  # absurd costs are refused


def test_an_old_cost_hash_verifies_and_is_replaced_at_the_production_cost_on_login(stack, app, monkeypatch):
    from webapp import create_app

    monkeypatch.setattr(passwords, "N", passwords.N)  # put the tests' cost back afterwards
    production_cost = create_app({"PARLEY": stack.settings(password_scrypt_n=Settings().password_scrypt_n),
                                  "TESTING": True}).test_client()
    seed.moderator("alice")
    assert stored_hash().startswith("scrypt:131072:8:1$")  # new hashes get the production cost
    # Given alice's hash made by Werkzeug at its old default cost (2**15)
    old = generate_password_hash(seed.PASSWORD, method="scrypt:32768:8:1")
    with db.session_scope() as session:
        session.execute(update(Moderator).values(password_hash=old))
    # When she logs in
    assert attempt(production_cost, "10.0.0.7").status_code == 302
    # Then her hash is replaced by one at N=2**17, still in Werkzeug's format
    new = stored_hash()
    assert new.startswith("scrypt:131072:8:1$") and check_password_hash(new, seed.PASSWORD)
    # And a hash at the current cost is left alone; a higher one is never lowered.
    assert attempt(production_cost, "10.0.0.7").status_code == 302 and stored_hash() == new
    passwords.configure(2**14)
    assert not passwords.needs_rehash(new) and passwords.needs_rehash(old.replace("scrypt:32768:8", "scrypt:32768:4"))
