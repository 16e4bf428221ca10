"""Bad input through real HTTP: gunicorn in front of the app, on SQLite and on PostgreSQL.

tests/test_api.py covers the JSON-level cases through Flask's test client. Here are the ones only a real server
sees (lying or conflicting framing headers, compressed bodies, a client that hangs up, oversized request lines)
and the hostile list parameters found to end in a 500. Each gets the documented 4xx (the server's own 400 for
broken HTTP framing), never a 500; nothing is stored and nothing is sent: no worker runs, so any message the web
published would still be in the queue.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.messaging.broker import MODERATION_QUEUE
from core.storage.models import Comment
from tests import fault_support
from tests.fault_support import FaultStack, FaultTranslator, make_database
from tests.private_services import PrivatePostgres, PrivateRabbit

VALID = {"thread": "http", "author": "Ada", "body": "bonjour"}
HUGE = str(2**64)
HUGE_CURSOR = base64.urlsafe_b64encode(f"c1:{2**70}".encode()).decode().rstrip("=")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def web(request: pytest.FixtureRequest, private_rabbit: PrivateRabbit, private_postgres: PrivatePostgres,
        fault_translator: FaultTranslator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """Gunicorn (2 processes) on a fresh database of each kind; no worker, so sent messages stay queued."""
    postgres = private_postgres if request.param == "postgresql" else None
    fault_support.purge_queues(private_rabbit)
    stack = FaultStack(private_rabbit, fault_translator, make_database(postgres, tmp_path_factory.mktemp("http")),
                       postgres)
    stack.start_web()
    stack.moderator_token()
    try:
        yield stack
    finally:
        stack.close()


def raw(stack: FaultStack, data: bytes, half_close: bool = False, timeout: float = 10) -> tuple[int | None, bytes]:
    """Send *data* on a fresh connection; return the status code (None if the server hung up) and the body."""
    port = int(stack.web_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if _complete(b"".join(chunks)):
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    answer = b"".join(chunks)
    while answer.startswith(b"HTTP/1.1 100"):  # "100 Continue" comes before the real answer
        answer = answer.partition(b"\r\n\r\n")[2]
    if not answer.startswith(b"HTTP/1."):
        return None, answer
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _complete(answer: bytes) -> bool:
    """Tell whether *answer* holds a whole final response (by its Content-Length)."""
    while answer.startswith(b"HTTP/1.1 100"):
        answer = answer.partition(b"\r\n\r\n")[2]
    if b"\r\n\r\n" not in answer:
        return False
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def post_raw(body: bytes, *headers: str, content_type: str = "application/json") -> bytes:
    """A POST /api/comments request with *body* and extra *headers* (Content-Length only if given)."""
    lines = ["POST /api/comments HTTP/1.1", "Host: parley", "Connection: close", f"Content-Type: {content_type}",
             *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def cl(body: bytes) -> str:
    """The honest Content-Length header of *body*."""
    return f"Content-Length: {len(body)}"


GOOD = json.dumps(VALID).encode()
#: name -> (raw request, statuses allowed, half-close after sending); None = the server may simply hang up.
RAW_CASES: dict[str, tuple[bytes, set[int | None], bool]] = {
    "content-length larger than the body, client hangs up": (
        post_raw(GOOD[:10], "Content-Length: 200"), {400, None}, True),
    "content-length of a gigabyte": (post_raw(b"{}", "Content-Length: 1000000000"), {413}, False),
    "body over MAX_REQUEST_BYTES": (
        post_raw(big := json.dumps({**VALID, "body": "a" * 70000}).encode(), cl(big)), {413}, False),
    "oversize with Expect: 100-continue": (
        post_raw(b"", "Content-Length: 1000000", "Expect: 100-continue"), {413}, True),
    "invalid chunk size": (post_raw(b"zz\r\nabc\r\n0\r\n\r\n", "Transfer-Encoding: chunked"), {400}, False),
    "content-length and transfer-encoding together": (
        post_raw(b"5\r\n{}{}{\r\n0\r\n\r\n", "Content-Length: 4", "Transfer-Encoding: chunked"), {400}, False),
    "two different content-lengths": (post_raw(GOOD, cl(GOOD), "Content-Length: 3"), {400}, False),
    "gzip body": (post_raw(zipped := gzip.compress(GOOD), cl(zipped), "Content-Encoding: gzip"), {400}, False),
    "utf-8 BOM": (post_raw(bom := b"\xef\xbb\xbf" + GOOD, cl(bom)), {400}, False),
    "lone surrogate as raw bytes (CESU-8)": (
        post_raw(cesu := GOOD.replace(b"bonjour", b"bon\xed\xa0\x80jour"), cl(cesu)), {400}, False),
    "raw NUL and ESC bytes inside a string": (
        post_raw(ctl := GOOD.replace(b"bonjour", b"bon\x00jo\x1bur"), cl(ctl)), {400}, False),
    "a 5000-digit number": (post_raw(num := b'{"thread": "t", "author": "a", "body": "b", "n": ' + b"9" * 5000 + b"}",
                                     cl(num)), {400}, False),
    "utf-16 body declared as utf-16": (
        post_raw(u16 := json.dumps(VALID).encode("utf-16"), cl(u16), content_type="application/json; charset=utf-16"),
        {415}, False),
    "request line of 64 KB": (f"GET /api/threads/{'t' * 65536}/comments HTTP/1.1\r\nHost: p\r\n\r\n".encode(),
                              {400, 414}, False),
    "NUL in the request line": (b"GET /api/comm\x00ents/1 HTTP/1.1\r\nHost: p\r\n\r\n", {400}, False),
}

#: GET (public and moderator) with hostile parameters -> the documented status.
GET_CASES: list[tuple[str, int]] = [
    ("/api/threads/t/comments?limit=%C2%B2", 400),  # "²".isdigit() is True, int("²") raises
    ("/api/threads/t/comments?limit=%D9%A1%D9%A0", 400),  # Arabic-Indic "10"
    ("/api/threads/t/comments?limit=" + "1" * 4000, 400),  # (beyond 4094 bytes gunicorn answers 414 itself)
    ("/api/threads/t/comments?cursor=" + HUGE_CURSOR, 400),  # a well-formed cursor past any id
    ("/api/threads/t%00x/comments", 400),  # NUL: PostgreSQL refuses it in a query
    ("/api/threads/t%01x/comments", 400),
    ("/api/comments/" + HUGE, 404),  # past SQLite's 64-bit integers
    ("/api/comments/9223372036854775808", 404),
    ("/api/threads/t/comments?lang=%FF%FE", 400),
    ("/api/moderation/comments?thread=a%00b", 400),
    ("/api/moderation/comments?status=%00", 400),
    ("/api/moderation/comments?q=%00", 400),
    ("/api/moderation/comments?limit=%C2%B3", 400),
    ("/api/moderation/comments?cursor=" + HUGE_CURSOR, 400),
    ("/api/moderation/comments/" + HUGE, 404),
    ("/api/moderation/audit?comment_id=%C2%B2", 400),
    ("/api/moderation/audit?comment_id=" + HUGE, 400),
    ("/api/moderation/jobs/" + HUGE, 404),
]

#: Moderator POSTs with hostile shapes -> the documented status.
MODERATOR_POSTS: list[tuple[str, Any, int]] = [
    ("/api/moderation/comments/" + HUGE + "/decision", {"action": "reject"}, 404),
    ("/api/moderation/decisions", {"ids": [2**64], "action": "reject"}, 400),
    ("/api/moderation/decisions", {"ids": [1.5], "action": "reject"}, 400),
    ("/api/moderation/decisions", {"filter": {"thread": "a\x00b"}, "action": "reject"}, 400),
]


def nothing_stored_or_sent(stack: FaultStack) -> None:
    """No comment row, no message in the moderation queue."""
    with Session(stack.engine) as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0
    assert stack.ready(MODERATION_QUEUE) <= 0  # never declared (-1), or empty


def error_body(body: bytes) -> dict[str, Any]:
    """The contract's error object of a JSON error answer."""
    error = json.loads(body)["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return error


@pytest.mark.parametrize("case", list(RAW_CASES))
def test_broken_framing_and_encodings_get_a_4xx_and_store_nothing(web: FaultStack, case: str) -> None:
    data, allowed, half_close = RAW_CASES[case]
    status, body = raw(web, data, half_close=half_close)
    assert status in allowed, (status, body[:300])
    if status is not None and status in (413, 415) or (status == 400 and body.startswith(b"{")):
        error_body(body)  # the app answered: the contract's JSON error shape
    nothing_stored_or_sent(web)


@pytest.mark.parametrize("path, expected", GET_CASES)
def test_hostile_list_parameters_get_a_4xx(web: FaultStack, path: str, expected: int) -> None:
    response = requests.get(web.web_url + path, timeout=10,
                            headers={"Authorization": f"Bearer {web.moderator_token()}"})
    assert response.status_code == expected, response.text[:300]
    error_body(response.content)


@pytest.mark.parametrize("path, payload, expected", MODERATOR_POSTS)
def test_hostile_moderator_requests_get_a_4xx(web: FaultStack, path: str, payload: Any, expected: int) -> None:
    response = requests.post(web.web_url + path, json=payload, timeout=10,
                             headers={"Authorization": f"Bearer {web.moderator_token()}"})
    assert response.status_code == expected, response.text[:300]
    error_body(response.content)


def test_no_500_was_logged_and_a_valid_post_is_still_stored_and_sent(web: FaultStack) -> None:
    # Last in the module: the probe itself works (a valid POST is stored and its message waits in the queue).
    nothing_stored_or_sent(web)
    response = requests.post(f"{web.web_url}/api/comments", json=VALID, timeout=10)
    assert response.status_code == 202
    assert web.ready(MODERATION_QUEUE) == 1
    fault_support.assert_clean_logs(web)
    assert "Traceback" not in web.logs()



@pytest.mark.parametrize("query", ["limit=" + "1" * 5000, "cursor=" + base64.urlsafe_b64encode(b"c1:" + b"9" * 30)
                                   .decode().rstrip("=")])
def test_numbers_longer_than_gunicorn_lets_through_get_400(tmp_path: Path, query: str) -> None:
    """Behind a server with a longer request line than gunicorn's 4094 bytes (found: 500 from int())."""
    from core.config import Settings
    from core.storage import db
    from webapp import create_app

    url = make_database(None, tmp_path)
    app = create_app({"PARLEY": Settings(database_url=url, broker_url="stub://", env="test"), "TESTING": True})
    try:
        response = app.test_client().get(f"/api/threads/t/comments?{query}")
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        error_body(response.get_data())
    finally:
        db.configure("sqlite://")
