"""The far side of the notifications benchmark (bench/notify_bench.py) and its bare baseline.

- An SMTP sink (aiosmtpd) and an HTTP/1.1 receiver (``ThreadingHTTPServer``, 200 with an empty body), each in
  a process of its own so neither shares a GIL with the measurement; each counts what it accepted and the
  distinct Message-IDs / ``X-Parley-Delivery`` ids, answered as JSON on GET.
- The bare loops: mails shaped like Parley's reply mail (two parts, two quoted 300-character texts) composed
  with ``EmailMessage`` and sent with plain smtplib, one new connection per mail as Parley sends (or one reused
  connection, for information); webhook bodies shaped like Parley's deliveries, signed, POSTed through one
  ``requests.Session``.

Run a sink:  python -m bench.notify_sinks smtp-sink PORT COUNT_PORT | http-sink PORT
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import smtplib
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.provision import BIN, free_port
from bench.services import Stack, http_answers
from bench.workload import bodies

BASE_URL = "https://comments.example.com"
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def _count_server(port: int, counts: dict[str, Any], post: Any = None) -> ThreadingHTTPServer:
    """Return an HTTP/1.1 server answering GET with *counts* as JSON and POST with *post* (a handler body)."""

    class Handler(BaseHTTPRequestHandler):
        """GET: the counts; POST: read the body, count its delivery id, answer 200 empty."""

        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            """Answer the counts."""
            body = json.dumps({"count": counts["count"], "unique": len(counts["ids"])}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            """Count one webhook delivery."""
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with counts["lock"]:
                counts["count"] += 1
                counts["ids"].add(self.headers.get("X-Parley-Delivery") or counts["count"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            """Stay quiet."""

    class Server(ThreadingHTTPServer):
        """A listen backlog like a real server's (socketserver's default of 5 drops the SYNs of a burst of
        connections, and each dropped one waits a second for its retransmit)."""

        request_queue_size = 1024
        daemon_threads = True

    return Server(("127.0.0.1", port), Handler)


def run_sink(kind: str, port: int, count_port: int | None = None) -> None:
    """Serve an SMTP sink (counts on HTTP *count_port*) or an HTTP receiver on *port* until killed."""
    counts: dict[str, Any] = {"count": 0, "ids": set(), "lock": threading.Lock()}
    if kind == "smtp-sink":
        from aiosmtpd.controller import Controller

        class Sink:
            """Accept every mail; count it and its Message-ID."""

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                """Count one mail."""
                found = _MESSAGE_ID.search(envelope.content or b"")
                counts["count"] += 1
                counts["ids"].add(found[1] if found else counts["count"])
                return "250 Message accepted for delivery"

        Controller(Sink(), hostname="127.0.0.1", port=port).start()
        _count_server(count_port or 0, counts).serve_forever()
    else:
        _count_server(port, counts).serve_forever()


def sink_counts(url: str) -> dict[str, int]:
    """Return what a sink counted so far."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def start_sinks(stack: Stack) -> dict[str, Any]:
    """Start the SMTP sink and the HTTP receiver, each in its own process; return their addresses."""
    python = str(BIN / "python")
    smtp_port, count_port, hook_port = free_port(), free_port(), free_port()
    smtp = stack.start("smtp-sink", [python, "-m", "bench.notify_sinks", "smtp-sink", str(smtp_port),
                                     str(count_port)], {})
    hook = stack.start("http-sink", [python, "-m", "bench.notify_sinks", "http-sink", str(hook_port)], {})
    smtp.wait_until(lambda: http_answers(f"http://127.0.0.1:{count_port}"), 30, "the SMTP sink")
    hook.wait_until(lambda: http_answers(f"http://127.0.0.1:{hook_port}"), 30, "the HTTP receiver")
    return {"smtp_port": smtp_port, "smtp_counts": f"http://127.0.0.1:{count_port}/",
            "hook_url": f"http://127.0.0.1:{hook_port}/hook", "hook_counts": f"http://127.0.0.1:{hook_port}/"}


@functools.cache
def texts() -> list[str]:
    """Return the benchmark's 300-character comment texts (made once)."""
    return bodies()


def _mail_text(i: int) -> tuple[str, str, str]:
    """Return (subject, plain, html) shaped like Parley's reply mail (intro, two quoted 300-char texts, links)."""
    made = texts()
    reply, parent = made[i % len(made)], made[(i + 7) % len(made)]
    link = f"{BASE_URL}/notifications/unsubscribe?token={hashlib.sha256(str(i).encode()).hexdigest()[:43]}"
    plain = (f"Bob replied to your comment on “bench/t{i % 50}”:\n\n> {reply}\n\nYour comment:\n\n> {parent}\n\n"
             f"You get this mail because you asked to be told of replies.\n\nUnsubscribe:\n{link}\n")
    html = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Bob replied</title></head><body>\n'
            f"<p>Bob replied to your comment on “bench/t{i % 50}”:</p>\n<blockquote>{reply}</blockquote>\n"
            f"<p>Your comment:</p>\n<blockquote>{parent}</blockquote>\n<p>You get this mail because you asked to "
            f'be told of replies.</p>\n<p><a href="{link}">Unsubscribe</a></p>\n</body></html>\n')
    return "Bob replied to your comment", plain, html


def bare_mails(port: int, count: int, reuse: bool = False) -> dict[str, Any]:
    """Compose and send *count* mails with plain smtplib: a new connection each, or one reused; return the rate."""
    started = time.perf_counter()
    client = smtplib.SMTP("127.0.0.1", port, timeout=10) if reuse else None
    for i in range(count):
        subject, plain, html = _mail_text(i)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "parley@localhost", f"r{i % 50}@example.org", subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain="comments.example.com")
        message["List-Unsubscribe"] = f"<{BASE_URL}/notifications/unsubscribe>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(plain)
        message.add_alternative(html, subtype="html")
        if client is not None:
            client.send_message(message)
        else:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as one:
                one.send_message(message)
    if client is not None:
        client.quit()
    seconds = time.perf_counter() - started
    return {"count": count, "seconds": round(seconds, 3), "rate": round(count / seconds, 1)}


def bare_webhooks(url: str, count: int) -> dict[str, Any]:
    """POST *count* signed JSON bodies shaped like Parley's deliveries through one requests.Session."""
    import requests

    made, secret = texts(), b"bench-secret"
    started = time.perf_counter()
    with requests.Session() as session:
        for i in range(count):
            delivery = f"bare-{i}-{started}"
            body = json.dumps({"id": delivery, "event": "comment.published", "created_at": "2026-11-30T21:00:00Z",
                               "comment": {"id": i, "thread": f"bench/t{i % 50}", "author": f"reader {i % 97}",
                                           "body": made[i % len(made)], "lang": "en", "status": "published",
                                           "parent_id": None, "reply_count": 0,
                                           "created_at": "2026-11-30T21:00:00Z"}}, separators=(",", ":")).encode()
            stamp = str(int(time.time()))
            signature = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            answer = session.post(url, data=body, timeout=5, headers={
                "Content-Type": "application/json", "User-Agent": "Parley-Webhook/1",
                "X-Parley-Event": "comment.published", "X-Parley-Delivery": delivery, "X-Parley-Timestamp": stamp,
                "X-Parley-Signature": f"sha256={signature}"})
            if answer.status_code != 200:
                raise RuntimeError(f"the receiver answered {answer.status_code}")
    seconds = time.perf_counter() - started
    return {"count": count, "seconds": round(seconds, 3), "rate": round(count / seconds, 1)}


if __name__ == "__main__":
    run_sink(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
