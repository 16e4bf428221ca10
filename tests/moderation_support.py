"""Authenticated calls to the moderator JSON API (make the moderator and its token with ``tests.seed``)."""

from __future__ import annotations

import json
from typing import Any

# Only for tests/test_web_errors.py, written alongside this clean-up: new code calls tests.seed.moderator_token.
from tests.seed import moderator_token as make_moderator

__all__ = ["api", "make_moderator"]


def api(client, method: str, path: str, token: str | None, payload: Any = None):  # type: ignore[no-untyped-def]
    """Call the moderator API with a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if payload is not None:
        kwargs.update(data=json.dumps(payload), content_type="application/json")
    return getattr(client, method)(path, **kwargs)
