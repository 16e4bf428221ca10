"""Password hashing with scrypt (stdlib), in Werkzeug's ``scrypt:N:r:p$salt$hash`` format."""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: scrypt cost: N=2**15, r=8, p=1 uses 32 MiB and ~50-100 ms, Werkzeug's default since 3.0.
N, R, P = 2**15, 8, 1


def _derive(password: str, salt: str, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p, dklen=64
    ).hex()


def hash_password(password: str) -> str:
    """Return a salted scrypt hash of *password*."""
    salt = secrets.token_urlsafe(12)
    return f"scrypt:{N}:{R}:{P}${salt}${_derive(password, salt, N, R, P)}"


def check_password(stored: str, password: str) -> bool:
    """Tell whether *password* matches *stored*, in constant time."""
    try:
        method, salt, expected = stored.split("$", 2)
        name, n, r, p = method.split(":")
        if name != "scrypt":
            return False
        actual = _derive(password, salt, int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)
