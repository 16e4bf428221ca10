"""How tests talk to the web app as its users do: the public API, moderator forms (CSRF), the moderator API and
the operator's ``flask --app webapp moderators`` commands."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from tests import seed
from tests.support import BIN, ROOT

#: A comment every validation rule accepts.
VALID = {"thread": "blog/post-1", "author": "Ada", "body": "Hello world", "lang": "fr"}


def post(client, payload, **kwargs):  # type: ignore[no-untyped-def]
    """POST *payload* as JSON to /api/comments."""
    return client.post("/api/comments", data=json.dumps(payload), content_type="application/json", **kwargs)


def csrf(client) -> str:  # type: ignore[no-untyped-def]
    """Return the client's CSRF token, creating its session with a page view if needed."""
    with client.session_transaction() as session:
        token = session.get("csrf_token")
    if token is None:
        client.get("/moderation/login")
        with client.session_transaction() as session:
            token = session["csrf_token"]
    return token


def login(client, name: str = "alice", password: str = seed.PASSWORD):  # type: ignore[no-untyped-def]
    """Log *name* in through the form; return the response."""
    return client.post("/moderation/login", data={"name": name, "password": password, "csrf_token": csrf(client)})


def post_form(client, path: str, **data: object):  # type: ignore[no-untyped-def]
    """POST a form with the CSRF token."""
    return client.post(path, data={"csrf_token": csrf(client), **data})


def api(client, method: str, path: str, token: str | None, payload: Any = None):  # type: ignore[no-untyped-def]
    """Call the moderator API with a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if payload is not None:
        kwargs.update(data=json.dumps(payload), content_type="application/json")
    return getattr(client, method)(path, **kwargs)


def moderators_cli(stack, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    """Run ``flask --app webapp moderators ARGS`` with *stack*'s environment, as an operator would."""
    return subprocess.run([str(BIN / "flask"), "--app", "webapp", "moderators", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60, env={**os.environ, **stack.env()})
