"""Prototype of the proposed ``core.translation_http._TimedRequests.request``: a reused ``requests.Session``.

Today every translation goes through ``requests.request()``, which builds a new Session (cookie jar, adapters,
connection pool) and re-reads the whole process environment for proxies, netrc and CA bundles
(``merge_environment_settings`` → ``getproxies_environment``), then opens a new TCP connection. The prototype
keeps one Session per worker thread, resolves the environment once when the Session is made
(``trust_env=False`` with the proxies and CA bundle read at that moment), and keeps the same hard deadline:
the call still runs in a helper thread that is abandoned when late — and then its Session is dropped, so an
abandoned request never shares a Session with the next one.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from typing import Any

import requests

from core import translation_http

_local = threading.local()


def _session() -> requests.Session:
    """Return the calling thread's Session, made on first use with the environment resolved once."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False
        session.proxies = {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")}
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        _local.session = session
    return session


def request(self: Any, method: str, url: str, **kwargs: Any) -> Any:
    """Same contract as ``_TimedRequests.request``: bounded by the adapter's timeout, last response kept."""
    timeout = getattr(translation_http.local, "timeout", None) or translation_http.DEFAULT_TIMEOUT
    if kwargs.get("timeout") is None:
        kwargs["timeout"] = timeout
    if self._rewrite is not None:
        method = self._rewrite(method, kwargs)
    session = _session()
    outcome: list[tuple[bool, Any]] = []

    def fetch() -> None:
        """Make the call in the helper thread."""
        try:
            outcome.append((True, session.request(method, url, **kwargs)))
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append((False, exc))

    worker = threading.Thread(target=fetch, name="translation-http", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        _local.session = None  # the abandoned call keeps using it: the next call gets a fresh one
        raise self._real.exceptions.ReadTimeout(f"no complete response within {timeout} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    translation_http.local.response = value
    return value


def install() -> None:
    """Replace the shim's request method (process-wide)."""
    translation_http._TimedRequests.request = request  # type: ignore[method-assign]
