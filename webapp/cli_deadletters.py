"""`flask --app webapp deadletters list|replay|purge`: inspect and replay Dramatiq's dead letters."""

from __future__ import annotations

import json

import click
from flask import Flask
from flask.cli import AppGroup

from core.messaging import queues
from webapp.web import settings

group = AppGroup("deadletters", help="Inspect, replay or purge dead-lettered messages (the .XQ queues).")
queue_option = click.option("--queue", "only", multiple=True, type=click.Choice(queues.QUEUES),
                            help="Only this queue (repeatable); default: all.")


def broker_url() -> str:
    """Return the configured broker URL."""
    return settings().broker_url


@group.command("list")
@queue_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_(only: tuple[str, ...], as_json: bool) -> None:
    """List dead letters: queue, message id, actor, args, failure, age."""
    letters = queues.list_dead_letters(broker_url(), only or queues.QUEUES)
    for letter in letters:
        if as_json:
            click.echo(json.dumps(letter.as_dict(), ensure_ascii=True))
        else:
            click.echo(f"{letter.queue}\t{letter.message_id}\t{letter.actor}{tuple(letter.args)!r}\t"
                       f"retries={letter.retries}\tage={letter.age_seconds:.0f}s\t{letter.failure[:200]!r}")
    if not as_json:
        click.echo(f"{len(letters)} dead letter(s)")


@group.command("replay")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@queue_option
def replay(message_ids: tuple[str, ...], replay_all: bool, only: tuple[str, ...]) -> None:
    """Send dead letters (MESSAGE_IDS, or --all) back to their queue with retries reset."""
    if not message_ids and not replay_all:
        raise click.UsageError("give message ids or --all")
    done = queues.replay(broker_url(), None if replay_all else set(message_ids), only or queues.QUEUES,
                         queue_type=settings().broker_queue_type)
    click.echo(f"replayed {len(done)}: {' '.join(done)}")


@group.command("purge")
@queue_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(only: tuple[str, ...], yes: bool) -> None:
    """Delete the dead letters (of --queue, or all)."""
    if not yes:
        click.confirm("Delete the dead letters for good?", abort=True)
    counts = queues.purge(broker_url(), only or queues.QUEUES)
    click.echo(" ".join(f"{queue}={count}" for queue, count in counts.items()))


def init_app(app: Flask) -> None:
    """Register the command group on *app*."""
    app.cli.add_command(group)
