"""The HTTP layer under deep-translator: a hard deadline on every call, and the last response kept."""

from __future__ import annotations

import importlib
import os
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

#: Used only when deep_translator is called outside the adapter (no per-call timeout in scope).
DEFAULT_TIMEOUT = 10.0

#: Per thread: ``timeout`` of the adapter call in progress, ``response`` of its last HTTP request.
local = threading.local()


def _session(real: Any) -> Any:
    """Return the calling thread's ``requests.Session``, made on first use with the environment read once."""
    # ``requests.request()`` builds a new Session per call and re-reads the whole environment for proxies
    # and CA bundles: a quarter of a translation's Python time (docs/BENCHMARKS.md). One Session per
    # thread also keeps the provider's connection alive between calls.
    session = getattr(local, "session", None)
    if session is None:
        session = real.Session()
        session.trust_env = False
        session.proxies = {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")}
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        local.session = session
    return session


class _TimedRequests:
    """Stand-in for ``requests`` inside one deep_translator module: bounds every call, remembers the response."""

    def __init__(self, real: Any, rewrite: Callable[[str, dict[str, Any]], str] | None) -> None:
        self._real, self._rewrite = real, rewrite

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        timeout = getattr(local, "timeout", None) or DEFAULT_TIMEOUT
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = timeout  # per connect/read: also ends an abandoned call once the server goes quiet
        if self._rewrite is not None:
            method = self._rewrite(method, kwargs)
        outcome: list[tuple[bool, Any]] = []
        session = _session(self._real)

        def fetch() -> None:
            try:
                outcome.append((True, session.request(method, url, **kwargs)))
            except BaseException as exc:  # handed to the caller's thread below
                outcome.append((False, exc))

        # A server trickling bytes never trips a per-read timeout: bound the whole call, abandon it when late.
        worker = threading.Thread(target=fetch, name="translation-http", daemon=True)
        worker.start()
        worker.join(timeout)
        if not outcome:
            local.session = None  # the abandoned call still uses it: the next call gets a fresh one
            raise self._real.exceptions.ReadTimeout(f"no complete response within {timeout} s")
        ok, value = outcome[0]
        if not ok:
            raise value
        local.response = value
        return value

    def get(self, url: str, params: Any = None, **kwargs: Any) -> Any:
        return self.request("GET", url, params=params, **kwargs)

    def post(self, url: str, data: Any = None, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", url, data=data, json=json, **kwargs)


def _libre_rewrite(method: str, kwargs: dict[str, Any]) -> str:
    # deep-translator puts q in the query string, where long or non-Latin text hits URL limits: send a form body.
    if method == "POST" and kwargs.get("params") and not kwargs.get("data"):
        kwargs["data"] = kwargs.pop("params")
    return method


def _deepl_rewrite(method: str, kwargs: dict[str, Any]) -> str:
    # DeepL takes the key in a header (query-string auth is deprecated); auto-detect means no source_lang.
    params = dict(kwargs.pop("params", None) or {})
    if key := params.pop("auth_key", None):
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"DeepL-Auth-Key {key}"}
    if str(params.get("source_lang", "")).lower() == "auto":
        del params["source_lang"]
    kwargs["data"] = params
    return "POST"


_install_lock = threading.Lock()


def install_shim(provider: str) -> None:
    """Bound every HTTP call of ``deep_translator.<provider>`` (idempotent, thread-safe)."""
    module = importlib.import_module(f"deep_translator.{provider}")  # google, libre, mymemory, deepl
    with _install_lock:
        if not isinstance(module.requests, _TimedRequests):
            rewrite = {"libre": _libre_rewrite, "deepl": _deepl_rewrite}.get(provider)
            module.requests = _TimedRequests(module.requests, rewrite)
