"""`flask --app webapp moderators …` against a real database, as an operator would run it."""

from __future__ import annotations

from tests.clients import api
from tests.clients import moderators_cli as flask


def test_create_token_list_disable(stack, client):
    created = flask(stack, "create", "bob", "--password-stdin", stdin="a long enough password\n")
    assert created.returncode == 0, created.stderr
    token = flask(stack, "token", "bob").stdout.strip()
    assert token.startswith("pmt_") and len(token) > 40
    assert api(client, "get", "/api/moderation/comments", token).status_code == 200
    listing = flask(stack, "list").stdout
    assert "bob\tmoderator\tactive" in listing
    assert flask(stack, "disable", "bob").returncode == 0
    assert "bob\tmoderator\tdisabled" in flask(stack, "list").stdout
    assert api(client, "get", "/api/moderation/comments", token).status_code == 401


def test_tokens_and_passwords_are_stored_hashed(stack, client):
    flask(stack, "create", "carol", "--password-stdin", "--role", "admin", stdin="another long password\n")
    token = flask(stack, "token", "carol").stdout.strip()
    from core.storage import db
    from core.storage.models import Credential, Moderator

    with db.session_scope() as session:
        moderator = session.query(Moderator).filter_by(name="carol").one()
        assert moderator.password_hash.startswith("scrypt:") and "another long password" not in moderator.password_hash
        assert moderator.role == "admin"
        secrets = [c.secret_hash for c in session.query(Credential).all()]
        assert token not in secrets and len(secrets) == 1 and len(secrets[0]) == 64


def test_errors_are_clear_and_exit_non_zero(stack, client):
    weak = flask(stack, "create", "dave", "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr
    flask(stack, "create", "erin", "--password-stdin", stdin="a long enough password\n")
    duplicate = flask(stack, "create", "erin", "--password-stdin", stdin="a long enough password\n")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    missing = flask(stack, "token", "nobody")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert "Traceback" not in weak.stderr + duplicate.stderr + missing.stderr
