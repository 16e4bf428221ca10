"""`flask --app webapp webhooks add|list|remove|enable|deliveries|redeliver`: manage webhook endpoints."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core.notifications import endpoints, outbox
from webapp.cli import transaction
from webapp.web import dispatcher

group = AppGroup("webhooks", help="Webhook endpoints: add, list, remove, enable; their deliveries and redelivery.")


@group.command("add")
@click.argument("url")
@click.option("--events", required=True, help="Comma-separated: " + ",".join(outbox.EVENTS))
def add(url: str, events: str) -> None:
    """Add an endpoint; print its id and its signing secret (shown only this once)."""
    with transaction() as session:
        endpoint, secret = endpoints.add(session, url, events, current_app.config["PARLEY"])
        endpoint_id = endpoint.id
    click.echo(f"Added webhook {endpoint_id} for {url}.")
    click.echo(f"Signing secret (shown once): {secret}")


@group.command("list")
def list_() -> None:
    """List endpoints: id, enabled, consecutive failures, events, URL."""
    with transaction() as session:
        for e in endpoints.listing(session):
            state = "enabled" if e.enabled else "DISABLED"
            click.echo(f"{e.id}\t{state}\tfailures={e.consecutive_failures}\t{','.join(e.events)}\t{e.url}")


@group.command("remove")
@click.argument("endpoint_id", type=int)
def remove(endpoint_id: int) -> None:
    """Remove an endpoint and its deliveries."""
    with transaction() as session:
        endpoints.remove(session, endpoint_id)
    click.echo(f"Removed webhook {endpoint_id}.")


@group.command("enable")
@click.argument("endpoint_id", type=int)
def enable(endpoint_id: int) -> None:
    """Enable an endpoint again (after it was disabled by failures), its failure count reset."""
    with transaction() as session:
        endpoints.enable(session, endpoint_id)
    click.echo(f"Enabled webhook {endpoint_id}.")


@group.command("deliveries")
@click.argument("endpoint_id", type=int)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
def deliveries(endpoint_id: int, limit: int) -> None:
    """List an endpoint's latest deliveries: delivery id, event, status, attempts, last error."""
    with transaction() as session:
        for row in endpoints.deliveries(session, endpoint_id, limit):
            click.echo(f"{row.message_id}\t{row.event}\t{row.status}\tattempts={row.attempts}\t"
                       f"{row.created_at:%Y-%m-%d %H:%M:%S}\t{(row.last_error or '')[:200]!r}")


@group.command("redeliver")
@click.argument("delivery_id")
def redeliver(delivery_id: str) -> None:
    """Send a delivery again (same delivery id and body, fresh attempts)."""
    with transaction() as session:
        outbox_id = endpoints.redeliver(session, delivery_id)
    sent = outbox.send_all([outbox_id], dispatcher().send_notification)
    click.echo(f"Redelivery of {delivery_id} queued." if sent else
               f"Redelivery of {delivery_id} recorded; the broker did not confirm it, the re-dispatch will send it.")


def init_app(app: Flask) -> None:
    """Register the ``webhooks`` group on *app*."""
    app.cli.add_command(group)
