"""`flask --app webapp moderators create|token|list|disable`."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from core.errors import Conflict, NotFound, ValidationError
from core.moderation import accounts
from core.storage import db

group = AppGroup("moderators", help="Manage moderator accounts.")


def fail(message: str) -> None:
    """Print *message* to stderr and exit with status 1."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@group.command("create")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--role", type=click.Choice(accounts.ROLES), default="moderator", show_default=True)
def create(name: str, password_stdin: bool, role: str) -> None:
    """Create moderator NAME (password from a prompt, or --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with db.session_scope() as session:
            accounts.create(session, name, password, role)
    except (ValidationError, Conflict) as exc:
        details = "; ".join(f"{k}: {v}" for k, v in getattr(exc, "fields", {}).items())
        fail(f"{exc}{' (' + details + ')' if details else ''}")
    click.echo(f"Created {role} {name}.")


@group.command("token")
@click.argument("name")
@click.option("--label", default=None, help="A note to recognise the token by.")
def token(name: str, label: str | None) -> None:
    """Print a new API token for NAME (shown once; only its hash is stored)."""
    try:
        with db.session_scope() as session:
            secret = accounts.issue_token(session, name, label)
    except (NotFound, Conflict) as exc:
        fail(str(exc))
    click.echo(secret)


@group.command("list")
def list_() -> None:
    """List moderators with their role and state."""
    with db.session_scope() as session:
        for moderator in accounts.list_all(session):
            state = "disabled" if moderator.disabled else "active"
            last = moderator.last_login_at.isoformat(timespec="seconds") if moderator.last_login_at else "never"
            click.echo(f"{moderator.name}\t{moderator.role}\t{state}\tlast login: {last}")


@group.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Disable NAME and revoke its tokens and sessions."""
    try:
        with db.session_scope() as session:
            accounts.disable(session, name)
    except NotFound as exc:
        fail(str(exc))
    click.echo(f"Disabled {name}; its tokens and sessions no longer work.")


def init_app(app: Flask) -> None:
    """Register the command groups on *app*."""
    from webapp import cli_deadletters

    app.cli.add_command(group)
    cli_deadletters.init_app(app)
