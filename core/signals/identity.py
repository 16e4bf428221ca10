"""Who posted, as stored: keyed hashes of the author's address and of the client's network address.

Only these hashes are kept for bursts and bans (never a client's IP address): HMAC-SHA256 under SECRET_KEY,
so a leaked table cannot be reversed by hashing every IPv4 address.
"""

from __future__ import annotations

import hashlib
import hmac

from core.config import Settings


def _keyed(settings: Settings, kind: str, value: str) -> str:
    """Return the hex HMAC-SHA256 of *value* under SECRET_KEY, separated by *kind*."""
    return hmac.new(settings.secret_key.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def client_hash(settings: Settings, address: str | None) -> str | None:
    """Return the stored form of a client's network address (None when unknown)."""
    return _keyed(settings, "client", address.strip().lower()) if address else None


def email_hash(settings: Settings, email: str | None) -> str | None:
    """Return the form a ban stores an author's address in (None when there is none)."""
    return _keyed(settings, "email", email.strip().lower()) if email else None
