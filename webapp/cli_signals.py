"""`flask --app webapp signals export`: moderators' decisions on scored comments as a labelled CSV for retraining."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime

import click
from flask import Flask
from flask.cli import AppGroup

from core.moderation import labels
from webapp.cli import transaction

group = AppGroup("signals", help="The second stage's signals: export moderators' decisions as training labels.")


@group.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the CSV to this file (default: standard output).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="Only decisions at or after this UTC date (YYYY-MM-DD) or time.")
@click.option("--raw", is_flag=True,
              help="Leave cells starting with = + - @ as they are (for training scripts, never for spreadsheets).")
def export(output: str | None, since: datetime | None, raw: bool) -> None:
    """Write text,label,model_score,lang,decided_at: label 1 = rejected (offensive), 0 = approved."""
    since_utc = since.replace(tzinfo=UTC) if since else None
    stream = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    count = 0
    try:
        writer = csv.writer(stream)
        writer.writerow(labels.COLUMNS)
        with transaction() as session:
            for label in labels.rows(session, since_utc):
                writer.writerow(labels.csv_row(label, raw=raw))
                count += 1
    finally:
        if output:
            stream.close()
    click.echo(f"Exported {count} labels{f' to {output}' if output else ''}.", err=True)


def init_app(app: Flask) -> None:
    """Register the ``signals`` group on *app*."""
    app.cli.add_command(group)
