"""Deliver one webhook outbox row: a signed POST, retried with exponential backoff, the endpoint disabled after
MAX_CONSECUTIVE_FAILURES failed deliveries in a row.

The body is ``{"id", "event", "created_at", "comment": <public view>}``, built at the first attempt and kept:
every retry sends the same bytes with the same ``X-Parley-Delivery`` (the row's ``message_id``). The signature
is ``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``. A delivery has WEBHOOK_MAX_ATTEMPTS attempts;
it fails when they are spent, or at once when the URL is refused (``urls.check``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import ValidationError
from core.notifications import bodies, outbox, urls
from core.storage import db
from core.storage.models import utcnow
from core.storage.models_notifications import OutboxStatus, WebhookEndpoint

logger = logging.getLogger(__name__)
#: An endpoint is disabled after this many failed deliveries in a row (``webhooks enable ID`` turns it back on).
MAX_CONSECUTIVE_FAILURES = 10
#: Backoff of attempt n: BASE_BACKOFF * 2**(n-1), at most MAX_BACKOFF (under RabbitMQ's 30 min consumer timeout).
BASE_BACKOFF = 10.0
MAX_BACKOFF = 900.0
#: The most bytes of a receiver's answer read (only its status matters).
MAX_ANSWER = 64 * 1024
USER_AGENT = "Parley-Webhook/1"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the ``X-Parley-Signature`` value of *body* sent at *timestamp* (unix seconds)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def backoff(attempt: int) -> float:
    """Return the seconds to wait after failed attempt *attempt* (1-based)."""
    return min(BASE_BACKOFF * 2 ** (attempt - 1), MAX_BACKOFF)


@dataclass(frozen=True)
class Result:
    """What one call did: ``sent``, ``retry`` (in *retry_in* seconds), ``failed`` or ``skipped`` (not ours now)."""

    status: str
    retry_in: float | None = None
    detail: str = ""


@functools.cache
def _tls() -> ssl.SSLContext:
    """Return this process's client TLS context: loading the CA store for every delivery costs milliseconds."""
    return ssl.create_default_context()


def _body(row: outbox.Claimed, settings: Settings) -> dict[str, Any] | None:
    """Build the body at the first attempt (one read, no transaction); None when the row keeps one already."""
    if (row.payload or {}).get("id"):
        return None
    with db.autocommit() as connection:
        return bodies.body(connection, row.message_id, row.event, row.created_at, row.comment_id,
                           settings.moderation_policy)


def _open(address: str, port: int, timeout: float) -> socket.socket:
    """Connect to *address*, with Nagle's algorithm off (as urllib3 does).

    http.client writes a request's headers and body in two sends; with Nagle on, the body waits for the
    receiver's ACK of the headers, which a receiver waiting for the body delays by up to 40 ms (delayed ACK):
    40 ms per delivery on a kept-alive connection.
    """
    sock = socket.create_connection((address, port), timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to a host name, connected to an address checked beforehand."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        """Connect to the pinned address."""
        self.sock = _open(self.address, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a host name (certificate and SNI checked for it), connected to an address checked beforehand."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=_tls())
        self.address = address

    def connect(self) -> None:
        """Connect to the pinned address, then start TLS for the host name."""
        sock = _open(self.address, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


#: Each worker thread keeps its last connection per (scheme, host, port, address): consecutive deliveries to one
#: receiver reuse it (keep-alive), as any HTTP client does; a new connection costs a TCP (and TLS) handshake.
_kept = threading.local()
#: The errors of a kept connection the receiver closed meanwhile: the request is sent again on a new one.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def _connections() -> dict[tuple[str, str, int, str], http.client.HTTPConnection]:
    """Return this thread's kept connections."""
    if not hasattr(_kept, "pool"):
        _kept.pool = {}
    return _kept.pool


def _exchange(connection: http.client.HTTPConnection, target: str, headers: dict[str, str], body: bytes) -> int:
    """Send one POST on *connection*, read the answer, return its status; close the connection unless reusable."""
    connection.request("POST", target, body=body, headers=headers)
    answer = connection.getresponse()
    answer.read(MAX_ANSWER)
    if answer.will_close or not answer.isclosed():  # closing, or more answer than we read: not reusable
        connection.close()
    return answer.status


def post(url: str, headers: dict[str, str], body: bytes, settings: Settings) -> int:
    """POST *body* to *url* (checked, pinned, with timeouts); return the answer's status code.

    The URL is checked at every delivery; a kept connection is reused only when it goes to one of the
    addresses that check just allowed.
    Raises:
        ValidationError: the URL is refused.
        OSError, http.client.HTTPException: the connection failed, timed out or the answer was not HTTP.
    """
    host, port, addresses = urls.check(url, settings)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    pool = _connections()
    last: OSError | None = None
    for address in addresses:
        key = (parts.scheme, host, port, str(address))
        kept = pool.pop(key, None)
        if kept is not None and kept.sock is not None:
            try:
                status = _exchange(kept, target, headers, body)
            except _STALE:
                kept.close()  # closed by the receiver while idle: send again on a new connection below
            except BaseException:
                kept.close()
                raise
            else:
                if kept.sock is not None:
                    pool[key] = kept
                return status
        connection = kind(host, port, str(address), settings.webhook_timeout_seconds)
        try:
            status = _exchange(connection, target, headers, body)
        except ConnectionRefusedError as exc:  # try the host's next address
            connection.close()
            last = exc
            continue
        except BaseException:
            connection.close()
            raise
        if connection.sock is not None:
            pool[key] = connection
        return status
    raise last or OSError("no address answered")


def deliver(outbox_id: int, settings: Settings, now: datetime | None = None,
            claimed: outbox.Claimed | None = None) -> Result:
    """Make one attempt at webhook row *outbox_id*, if it is due and nobody else holds it; safe to run twice.

    *claimed* is the row when the caller claimed it already (``delivery.attempt``, which learns its kind so).
    """
    if claimed is None:
        claimed = outbox.claim(outbox_id, now, lease=timedelta(seconds=settings.outbox_lease_seconds))
        if claimed is None:
            return Result("skipped")
    # Built at the first attempt and stored with its outcome, so every later attempt sends the same bytes (a
    # worker killed before the outcome was stored builds it again, with the same delivery id).
    built = claimed.body if claimed.body is not None else _body(claimed, settings)
    payload = claimed.payload if built is None else built
    target = claimed.endpoint  # read by the claim's statement
    if target is None or not target[2]:
        reason = "endpoint removed" if target is None else "endpoint disabled"
        outbox.finish(claimed.id, claimed.attempt, OutboxStatus.FAILED, error=reason, keep=built)
        return Result("failed", detail=reason)
    url, secret, _enabled, failures = target
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Parley-Event": claimed.event,
               "X-Parley-Delivery": claimed.message_id, "X-Parley-Timestamp": timestamp,
               "X-Parley-Signature": sign(secret, timestamp, body)}
    permanent = False
    try:
        code = post(url, headers, body, settings)
        error = None if 200 <= code < 300 else f"HTTP {code}"
    except ValidationError as exc:
        error, permanent = f"refused: {exc}", True
    except (OSError, http.client.HTTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"
    return _settle(claimed, error, permanent, settings, reset=bool(failures), keep=built)


def _settle(claimed: outbox.Claimed, error: str | None, permanent: bool, settings: Settings,
            reset: bool = True, keep: dict[str, Any] | None = None) -> Result:
    """Record the attempt's outcome on the row and, for a finished delivery, on its endpoint.

    A delivery that went through is one statement; the endpoint's failure count is reset only when *reset*
    (it had failures when the delivery started), so concurrent deliveries do not queue on the endpoint's row.
    """
    now = utcnow()
    if error is None:
        if outbox.finish(claimed.id, claimed.attempt, OutboxStatus.SENT, keep=keep) and reset:
            with db.session_scope() as session:
                _endpoint_result(session, claimed.endpoint_id, ok=True, now=now)
        return Result("sent")
    with db.session_scope() as session:
        if not permanent and claimed.attempt < settings.webhook_max_attempts:
            wait = backoff(claimed.attempt)
            outbox.finish(claimed.id, claimed.attempt, OutboxStatus.PENDING, error=error,
                          retry_at=now + timedelta(seconds=wait), session=session, keep=keep)
            logger.info("Webhook delivery %s attempt %d failed (%s); retry in %.0f s.", claimed.message_id,
                        claimed.attempt, error, wait)
            return Result("retry", retry_in=wait, detail=error)
        if outbox.finish(claimed.id, claimed.attempt, OutboxStatus.FAILED, error=error, session=session, keep=keep):
            _endpoint_result(session, claimed.endpoint_id, ok=False, now=now)
        logger.warning("Webhook delivery %s failed after %d attempts: %s", claimed.message_id, claimed.attempt, error)
        return Result("failed", detail=error)


def _endpoint_result(session: Session, endpoint_id: int | None, *, ok: bool, now: datetime) -> None:
    """Count a delivered (reset) or failed delivery of the endpoint; disable it at the limit."""
    if endpoint_id is None:
        return
    table = WebhookEndpoint
    if ok:
        session.execute(update(table).where(table.id == endpoint_id).values(consecutive_failures=0)
                        .execution_options(synchronize_session=False))
        return
    session.execute(update(table).where(table.id == endpoint_id)
                    .values(consecutive_failures=table.consecutive_failures + 1)
                    .execution_options(synchronize_session=False))
    disabled = session.execute(
        update(table).where(table.id == endpoint_id, table.enabled.is_(True),
                            table.consecutive_failures >= MAX_CONSECUTIVE_FAILURES)
        .values(enabled=False, disabled_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if disabled:
        logger.warning("Webhook endpoint %d disabled after %d failed deliveries in a row.", endpoint_id,
                       MAX_CONSECUTIVE_FAILURES)
