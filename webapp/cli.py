"""`flask --app webapp moderators create|token|tokens|revoke-token|list|disable`."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound, ValidationError
from core.moderation import accounts
from core.notifications import digest
from core.storage import db

group = AppGroup("moderators", help="Manage moderator accounts.")
#: Units of --expires-in: hours, days, weeks.
UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def fail(message: str) -> None:
    """Print *message* to stderr and exit with status 1."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@contextmanager
def transaction() -> Iterator[Session]:
    """Run a command's work in one transaction; a domain error (bad input, conflict, not found) ends it (exit 1)."""
    try:
        with db.session_scope() as session:
            yield session
    except (ValidationError, Conflict, NotFound) as exc:
        details = "; ".join(f"{k}: {v}" for k, v in (getattr(exc, "fields", None) or {}).items())
        fail(f"{exc}{' (' + details + ')' if details else ''}")


@group.command("create")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--role", type=click.Choice(accounts.ROLES), default="moderator", show_default=True)
@click.option("--email", default=None, help="The address of NAME's digest of flagged comments (see `notify`).")
def create(name: str, password_stdin: bool, role: str, email: str | None) -> None:
    """Create moderator NAME (password from a prompt, or --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with transaction() as session:
        accounts.create(session, name, password, role)
        if email is not None:
            digest.set_email(session, name, email, current_app.config["PARLEY"])
    click.echo(f"Created {role} {name}.")


def lifetime(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta | None:
    """Parse --expires-in: ``90d``, ``12h``, ``2w``, or ``never`` (None)."""
    if value.strip().lower() == "never":
        return None
    match = re.fullmatch(r"\s*(\d{1,5})\s*([hdw])\s*", value.lower())
    if not match or int(match[1]) == 0:
        raise click.BadParameter("a positive number of hours, days or weeks (12h, 90d, 2w), or 'never'")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


def when(moment: datetime | None, none: str) -> str:
    """Return *moment* as ISO 8601 to the second, or *none*."""
    return moment.isoformat(timespec="seconds") if moment else none


@group.command("token")
@click.argument("name")
@click.option("--label", default=None, help="A note to recognise the token by.")
@click.option("--expires-in", "expires_in", default="90d", show_default=True, callback=lifetime,
              help="Lifetime: 12h, 90d, 2w, or 'never'.")
def token(name: str, label: str | None, expires_in: timedelta | None) -> None:
    """Print a new API token for NAME (shown once; only its hash is stored)."""
    with transaction() as session:
        secret = accounts.issue_token(session, name, label, expires_in)
    click.echo(secret)


@group.command("tokens")
@click.argument("name")
def tokens(name: str) -> None:
    """List NAME's API tokens: id, label, created, expires, last used (never the tokens themselves)."""
    with transaction() as session:
        rows = accounts.list_tokens(session, name)
    click.echo("id\tlabel\tcreated\texpires\tlast used")
    for row in rows:
        click.echo(f"{row.id}\t{row.label or '-'}\t{when(row.created_at, '-')}\t{when(row.expires_at, 'never')}"
                   f"\t{when(row.last_used_at, 'never')}")


@group.command("revoke-token")
@click.argument("name")
@click.argument("token_id", type=int)
def revoke_token(name: str, token_id: int) -> None:
    """Revoke API token TOKEN_ID of NAME (see `tokens`); the account and its other tokens keep working."""
    with transaction() as session:
        accounts.revoke_token(session, name, token_id)
    click.echo(f"Revoked token {token_id} of {name}.")


@group.command("list")
def list_() -> None:
    """List moderators with their role and state."""
    with db.session_scope() as session:
        for moderator in accounts.list_all(session):
            state = "disabled" if moderator.disabled else "active"
            last = when(moderator.last_login_at, "never")
            click.echo(f"{moderator.name}\t{moderator.role}\t{state}\tlast login: {last}")


@group.command("notify")
@click.argument("name")
@click.argument("state", type=click.Choice(["on", "off"]))
def notify(name: str, state: str) -> None:
    """Turn NAME's digest of newly flagged comments on or off (mailed every MODERATOR_DIGEST_MINUTES)."""
    with transaction() as session:
        digest.set_notify(session, name, state == "on")
    click.echo(f"Digest for {name}: {state}.")


@group.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Disable NAME and revoke its tokens and sessions."""
    with transaction() as session:
        accounts.disable(session, name)
    click.echo(f"Disabled {name}; its tokens and sessions no longer work.")


def init_app(app: Flask) -> None:
    """Register the command groups on *app*."""
    from webapp import cli_deadletters, cli_webhooks

    app.cli.add_command(group)
    cli_deadletters.init_app(app)
    cli_webhooks.init_app(app)
