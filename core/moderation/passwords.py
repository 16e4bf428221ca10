"""Password hashing with scrypt (stdlib), in Werkzeug's ``scrypt:N:r:p$salt$hash`` format."""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: scrypt cost of new hashes: OWASP's N=2**17, r=8, p=1 (128 MiB); PASSWORD_SCRYPT_N may change N (configure()).
N, R, P = 2**17, 8, 1
#: The range of N accepted in a stored hash: anything else is refused rather than allowed to exhaust memory.
MIN_N, MAX_N = 2**10, 2**20


def configure(n: int) -> None:
    """Make *n* the scrypt cost N of new hashes (from the PASSWORD_SCRYPT_N setting)."""
    global N
    N = n


def _derive(password: str, salt: str, n: int, r: int, p: int) -> str:
    # scrypt needs 128 * n * r * p bytes; hashlib refuses more than 32 MiB unless told (maxmem).
    return hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p, dklen=64
    ).hex()


def hash_password(password: str, n: int | None = None) -> str:
    """Return a salted scrypt hash of *password* at cost *n* (default: the configured N)."""
    n = n or N
    salt = secrets.token_urlsafe(12)
    return f"scrypt:{n}:{R}:{P}${salt}${_derive(password, salt, n, R, P)}"


def _parameters(stored: str) -> tuple[int, int, int] | None:
    """Return (N, r, p) of a stored scrypt hash, or None if it is not one this module can check."""
    method = stored.split("$", 1)[0]
    parts = method.split(":")
    if len(parts) != 4 or parts[0] != "scrypt" or not all(x.isdigit() for x in parts[1:]):
        return None
    n, r, p = (int(x) for x in parts[1:])
    if not MIN_N <= n <= MAX_N or not 1 <= r <= 32 or not 1 <= p <= 16:
        return None
    return n, r, p


def needs_rehash(stored: str) -> bool:
    """Tell whether *stored* was made with a lower cost than new hashes get (rehash it on the next login)."""
    parameters = _parameters(stored)
    return parameters is None or parameters[0] < N or parameters[1] < R


def check_password(stored: str, password: str) -> bool:
    """Tell whether *password* matches *stored*, in constant time."""
    parameters = _parameters(stored)
    if parameters is None or stored.count("$") != 2:
        return False
    _method, salt, expected = stored.split("$", 2)
    return hmac.compare_digest(_derive(password, salt, *parameters), expected)
