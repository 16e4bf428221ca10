"""A LibreTranslate-compatible fake HTTP server for tests, scriptable per test (stdlib only).

In-process::

    with FakeTranslator() as fake:
        fake.set_mode("429", fail_times=2)   # two 429s, then normal translations
        ... Settings(translation_provider="libre", translation_url=fake.url) ...

As a separate process (for tests that run the worker as a subprocess)::

    python tests/fake_translator.py --port 0     # prints its base URL on the first stdout line
    curl -X POST -d '{"mode": "slow", "delay": 2}' http://127.0.0.1:PORT/_control
    curl http://127.0.0.1:PORT/_stats

Modes: ok, echo, slow (wait ``delay`` s, then ok), hang (never answer), drip (send the "ok" response one
byte every ``delay`` s: never trips a per-read timeout), 429, 500, 403, garbage (non-JSON 200), html,
empty, reset (close without answering), xss. "ok" applies a small word dictionary and prefixes
``[target] `` so the output always differs from the input.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MODES = ("ok", "echo", "slow", "hang", "drip", "429", "500", "403", "garbage", "html", "empty", "reset", "xss")
WORDS = {
    "bonjour": "hello",
    "monde": "world",
    "merde": "shit",
    "merci": "thanks",
    "le": "the",
    "la": "the",
    "chat": "cat",
    "hola": "hello",
    "mundo": "world",
    "gracias": "thanks",
    "el": "the",
    "hallo": "hello",
    "welt": "world",
}
LANGUAGES = {
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
    "ja": "Japanese",
    "zh": "Chinese",
    "zt": "Chinese (traditional)",
    "ar": "Arabic",
    "uk": "Ukrainian",
}
XSS = "<img src=x onerror=alert(1)>"
HTML_PAGE = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>"
GARBAGE = b"\x00\xff\xfe not json {{{ \x80\x81"


def fake_translate(text: str, target: str) -> str:
    """Translate the way mode "ok" does: dictionary words replaced (first-letter case kept), ``[target] `` prefix."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        new = WORDS.get(word.lower())
        if new is None:
            return word
        return new.capitalize() if word[0].isupper() else new

    return f"[{target}] " + re.sub(r"\w+", swap, text)


@dataclass
class FakeRequest:
    """One request the fake received (control endpoints excluded)."""

    method: str
    path: str
    params: dict[str, str]  # query string and body (form or JSON) merged
    mode: str
    query: str = ""  # the raw query string alone
    at: float = field(default_factory=time.monotonic)


class FakeTranslator:
    """LibreTranslate look-alike on 127.0.0.1 with a mode that tests can switch at any time."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, mode: str = "ok") -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._mode, self._delay, self._fail_left = "ok", 1.0, None
        self._api_key: str | None = None
        self.requests: list[FakeRequest] = []
        self.set_mode(mode)
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, with a trailing slash."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def mode(self) -> str:
        """The current mode."""
        with self._lock:
            return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        self.set_mode(value)

    def set_mode(
        self, mode: str, *, delay: float | None = None, fail_times: int | None = None, api_key: str | None = None
    ) -> None:
        """Switch mode; ``fail_times=N``: the next N translations fail that way, later ones behave "ok".

        ``api_key`` (sticky until changed; ``""`` clears it) makes /translate answer 403 unless the key matches.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        with self._lock:
            self._mode, self._fail_left = mode, fail_times
            if delay is not None:
                self._delay = float(delay)
            if api_key is not None:
                self._api_key = api_key or None

    def translations(self) -> list[FakeRequest]:
        """The /translate requests received so far."""
        with self._lock:
            return [r for r in self.requests if r.path == "/translate"]

    def stats(self) -> dict[str, Any]:
        """Request counts by path, plus the current mode."""
        with self._lock:
            by_path = Counter(r.path for r in self.requests)
            return {
                "total": len(self.requests),
                "translate": by_path["/translate"],
                "by_path": dict(by_path),
                "mode": self._mode,
            }

    def clear(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self.requests.clear()

    def start(self) -> FakeTranslator:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="fake-translator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests parked in "hang"/"slow" are released and closed."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until stopped."""
        self._server.serve_forever(poll_interval=0.05)  # stop() waits up to one poll interval

    def __enter__(self) -> FakeTranslator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, method: str, path: str, params: dict[str, str], query: str = "") -> str:
        """Log a request and decide the mode it gets (consuming one of ``fail_times``)."""
        with self._lock:
            mode = self._mode
            if path == "/translate" and self._fail_left is not None:
                if self._fail_left > 0:
                    self._fail_left -= 1
                else:
                    mode = "ok"
            mode = self._mode_for(path, params, mode)
            self.requests.append(FakeRequest(method, path, params, mode, query))
            return mode

    def _mode_for(self, path: str, params: dict[str, str], mode: str) -> str:
        """Return the mode a request gets, given the general one (subclasses answer some texts differently)."""
        return mode


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeLibreTranslate/1.0"

    @property
    def fake(self) -> FakeTranslator:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, *args: Any) -> None:
        pass  # keep test output quiet

    def _params(self) -> dict[str, str]:
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        # JSON by Content-Type or by look (``curl -d '{...}'`` labels JSON as a form).
        if raw and ("json" in (self.headers.get("Content-Type") or "") or raw.lstrip().startswith(b"{")):
            body = json.loads(raw.decode("utf-8"))
            params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
        elif raw:
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        return params

    def _send(self, status: int, body: bytes | dict[str, Any] | list[Any], content_type: str = "") -> None:
        if not isinstance(body, bytes):
            body, content_type = json.dumps(body).encode("utf-8"), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/_stats":
            self._send(200, self.fake.stats())
            return
        self.fake._record("GET", path, {})
        if path == "/languages":
            targets = sorted(LANGUAGES)
            self._send(200, [{"code": c, "name": n, "targets": targets} for c, n in sorted(LANGUAGES.items())])
        else:
            self._send(404, {"error": "Not Found"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        try:
            params = self._params()
        except (ValueError, UnicodeDecodeError):
            self._send(400, {"error": "Invalid request body"})
            return
        if path == "/_control":
            self._control(params)
            return
        mode = self.fake._record("POST", path, params, urlsplit(self.path).query)
        if path == "/detect":
            self._send(200, [{"confidence": 90.0, "language": _guess(params.get("q", ""))}])
        elif path == "/translate":
            self._translate(mode, params)
        else:
            self._send(404, {"error": "Not Found"})

    def _control(self, params: dict[str, str]) -> None:
        try:
            if params.get("clear") in ("true", "1"):
                self.fake.clear()
            if "mode" in params:
                delay = float(params["delay"]) if "delay" in params else None
                fail_times = int(params["fail_times"]) if params.get("fail_times") not in (None, "null") else None
                self.fake.set_mode(params["mode"], delay=delay, fail_times=fail_times, api_key=params.get("api_key"))
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, {"ok": True, **self.fake.stats()})

    def _translate(self, mode: str, params: dict[str, str]) -> None:
        fake = self.fake
        if mode == "hang":
            fake._stopping.wait()  # answer nothing until the server stops; then drop the connection
            self.close_connection = True
            return
        if mode == "reset":
            # SO_LINGER 0: close() sends a TCP RST instead of an orderly FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if mode in ("429", "500", "403"):
            messages = {"429": "Slowdown: too many requests", "500": "Internal error", "403": "Forbidden"}
            self._send(int(mode), {"error": messages[mode]})
            return
        if mode == "garbage":
            self._send(200, GARBAGE, "application/json")
            return
        if mode == "html":
            self._send(200, HTML_PAGE, "text/html; charset=utf-8")
            return
        if mode == "empty":
            self._send(200, {"translatedText": ""})
            return
        with fake._lock:
            expected_key, delay = fake._api_key, fake._delay
        if expected_key is not None and params.get("api_key") != expected_key:
            self._send(403, {"error": "Invalid API key"})
            return
        text, source, target = params.get("q"), params.get("source", "auto"), params.get("target", "")
        if text is None:
            self._send(400, {"error": "Invalid request: missing q parameter"})
            return
        unsupported = [code for code in (source, target) if code not in LANGUAGES and code != "auto"]
        if target == "auto":
            unsupported.append(target)
        if unsupported:
            self._send(400, {"error": f"{unsupported[0]} is not supported"})
            return
        if mode == "echo":
            self._send(200, {"translatedText": text})
            return
        if mode == "slow" and fake._stopping.wait(delay):
            return  # stopping: give up quietly
        translated = fake_translate(text, target)
        if mode == "drip":
            self._drip({"translatedText": translated}, delay)
            return
        self._send(200, {"translatedText": XSS + translated if mode == "xss" else translated})

    def _drip(self, body: dict[str, Any], interval: float) -> None:
        payload = json.dumps(body).encode("utf-8")
        head = f"{self.protocol_version} 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}"
        for byte in (head + "\r\n\r\n").encode("ascii") + payload:
            if self.fake._stopping.wait(interval):
                break
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # the client gave up
                break
        self.close_connection = True


def _guess(text: str) -> str:
    words = set(re.findall(r"\w+", text.lower()))
    if words & {"bonjour", "monde", "merde", "merci"}:
        return "fr"
    if words & {"hola", "mundo", "gracias"}:
        return "es"
    return "en"


def main(argv: list[str] | None = None) -> None:
    """Run the fake as a process until interrupted; the first stdout line is its base URL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", default="ok", choices=MODES)
    parser.add_argument("--delay", type=float, default=1.0)
    args = parser.parse_args(argv)
    fake = FakeTranslator(args.host, args.port, args.mode)
    fake.set_mode(args.mode, delay=args.delay)
    sys.stdout.write(fake.url + "\n")
    sys.stdout.flush()
    try:
        fake.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
