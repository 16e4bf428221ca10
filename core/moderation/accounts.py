"""Moderator accounts: hashed passwords, API tokens and login sessions stored only as hashes."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound, ValidationError
from core.moderation import passwords
from core.moderation.passwords import check_password, hash_password
from core.storage.models import Credential, Moderator, utcnow

ROLES = ("moderator", "admin")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{2,100}$")
MIN_PASSWORD = 10
SESSION_LIFETIME = timedelta(hours=12)
#: How long a new API token works unless the operator asks otherwise.
TOKEN_LIFETIME = timedelta(days=90)
#: A token's last use is written at most this often (not on every request).
LAST_USED_PRECISION = timedelta(minutes=1)


@functools.cache
def _dummy_hash(n: int) -> str:
    """A hash to compare against when the name is unknown, so both paths cost the same."""
    return hash_password("not-a-password-" + secrets.token_hex(8), n)


def _naive(moment: datetime) -> datetime:
    """Drop the time zone (SQLite returns naive UTC datetimes, PostgreSQL aware ones)."""
    return moment.replace(tzinfo=None)


@dataclass(frozen=True)
class Identity:
    """Who is acting: the moderator's id, name and role."""

    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        """Tell whether this moderator has the admin role."""
        return self.role == "admin"


def digest(secret: str) -> str:
    """Return the SHA-256 hex digest under which a token or session id is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create(session: Session, name: str, password: str, role: str = "moderator") -> Moderator:
    """Create a moderator with a scrypt-hashed password."""
    if not NAME_RE.match(name):
        raise ValidationError("invalid name", fields={"name": "2-100 letters, digits, '.', '_' or '-'"})
    if len(password) < MIN_PASSWORD:
        raise ValidationError("weak password", fields={"password": f"at least {MIN_PASSWORD} characters"})
    if role not in ROLES:
        raise ValidationError("invalid role", fields={"role": f"one of {', '.join(ROLES)}"})
    if session.scalar(select(Moderator.id).where(Moderator.name == name)) is not None:
        raise Conflict(f"moderator {name} already exists")
    moderator = Moderator(name=name, password_hash=hash_password(password), role=role)
    session.add(moderator)
    session.flush()
    return moderator


def by_name(session: Session, name: str) -> Moderator:
    """Return moderator *name*; raise NotFound."""
    moderator = session.scalar(select(Moderator).where(Moderator.name == name))
    if moderator is None:
        raise NotFound(f"moderator {name} does not exist")
    return moderator


def list_all(session: Session) -> list[Moderator]:
    """Return every moderator, by name."""
    return list(session.scalars(select(Moderator).order_by(Moderator.name)))


def disable(session: Session, name: str) -> None:
    """Disable moderator *name* and revoke every token and session."""
    moderator = by_name(session, name)
    moderator.disabled = True
    session.execute(delete(Credential).where(Credential.moderator_id == moderator.id))


def authenticate(session: Session, name: str, password: str) -> Identity | None:
    """Return the identity for a correct name and password of an enabled moderator, else None."""
    moderator = session.scalar(select(Moderator).where(Moderator.name == name))
    valid = check_password(moderator.password_hash if moderator else _dummy_hash(passwords.N), password)
    if not valid or moderator is None or moderator.disabled:
        return None
    if passwords.needs_rehash(moderator.password_hash):
        # The only moment the plain password is at hand: bring an old hash up to today's cost.
        moderator.password_hash = hash_password(password)
    moderator.last_login_at = utcnow()
    return Identity(moderator.id, moderator.name, moderator.role)


def _issue(session: Session, moderator_id: int, kind: str, prefix: str, expires: datetime | None) -> str:
    secret = prefix + secrets.token_urlsafe(32)
    session.add(Credential(moderator_id=moderator_id, kind=kind, secret_hash=digest(secret), expires_at=expires))
    session.flush()
    return secret


def issue_token(session: Session, name: str, label: str | None = None,
                lifetime: timedelta | None = TOKEN_LIFETIME) -> str:
    """Create an API token for moderator *name*, valid for *lifetime* (None: until revoked); return it once."""
    moderator = by_name(session, name)
    if moderator.disabled:
        raise Conflict(f"moderator {name} is disabled")
    token = _issue(session, moderator.id, "token", "pmt_", utcnow() + lifetime if lifetime else None)
    session.execute(update(Credential).where(Credential.secret_hash == digest(token)).values(label=label))
    return token


def list_tokens(session: Session, name: str) -> list[Credential]:
    """Return the API tokens of moderator *name* (their hashes are no use to anyone), oldest first."""
    moderator = by_name(session, name)
    return list(session.scalars(
        select(Credential).where(Credential.moderator_id == moderator.id, Credential.kind == "token")
        .order_by(Credential.id)
    ))


def revoke_token(session: Session, name: str, token_id: int) -> None:
    """Delete API token *token_id* of moderator *name*; raise NotFound; the account and its other tokens stay."""
    moderator = by_name(session, name)
    deleted = session.execute(delete(Credential).where(
        Credential.id == token_id, Credential.moderator_id == moderator.id, Credential.kind == "token"
    )).rowcount
    if not deleted:
        raise NotFound(f"moderator {name} has no token {token_id}")


def purge_expired(session: Session, now: datetime) -> int:
    """Delete tokens and login sessions expired at *now* (nightly); return how many."""
    return session.execute(delete(Credential).where(Credential.expires_at < now)).rowcount or 0


def open_session(session: Session, identity: Identity) -> str:
    """Start a login session; return the session id to put in the signed cookie."""
    return _issue(session, identity.id, "session", "pms_", utcnow() + SESSION_LIFETIME)


def close_session(session: Session, session_id: str) -> None:
    """End a login session (logout)."""
    session.execute(delete(Credential).where(Credential.secret_hash == digest(session_id)))


def resolve(session: Session, secret: str, kind: str) -> Identity | None:
    """Return the identity owning an API token or session id, or None if unknown, expired or disabled."""
    row = session.execute(
        select(Credential, Moderator)
        .join(Moderator, Moderator.id == Credential.moderator_id)
        .where(Credential.secret_hash == digest(secret), Credential.kind == kind)
    ).first()
    if row is None:
        return None
    credential, moderator = row
    now = _naive(utcnow())
    if credential.expires_at is not None and _naive(credential.expires_at) < now:
        return None
    if moderator.disabled:
        return None
    last = credential.last_used_at
    if kind == "token" and (last is None or _naive(last) < now - LAST_USED_PRECISION):
        credential.last_used_at = utcnow()
    return Identity(moderator.id, moderator.name, moderator.role)
