"""The statistics page: a daily table and two charts drawn as SVG on the server (no scripts needed)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, flash, render_template, request
from flask.typing import ResponseReturnValue

from core.errors import ValidationError
from core.scheduling import stats
from webapp.auth import login_required
from webapp.sessions import get_session
from webapp.web import duration, error_message

bp = Blueprint("pages_stats", __name__, url_prefix="/moderation")

#: The counts drawn as bars, in legend order.
SERIES = ("posted", "flagged", "approved", "rejected")
WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28
DAY_CHOICES = (7, 14, 30, 90)


@dataclass
class Chart:
    """Everything the SVG template draws, in pixel coordinates."""

    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    ticks: list[tuple[float, str]] = field(default_factory=list)
    labels: list[tuple[float, str]] = field(default_factory=list)
    bars: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)
    unit: str = ""


def nice_ceiling(value: float) -> float:
    """Return the smallest of 1, 2, 5 × 10^k that is at least *value* (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def frame(rows: list[dict[str, Any]], top_value: float) -> Chart:
    """Return a chart with its y ticks and one x label every few days."""
    chart = Chart()
    steps = next(n for n in (5, 4, 2, 1) if (top_value / n).is_integer())
    for i in range(steps + 1):
        value = top_value * i / steps
        chart.ticks.append((y_of(chart, value, top_value), f"{value:g}"))
    step = max(1, math.ceil(len(rows) / 15))
    slot = (chart.right - chart.left) / max(1, len(rows))
    for i, row in enumerate(rows):
        if i % step == 0:
            chart.labels.append((chart.left + slot * (i + 0.5), row["day"][5:]))
    return chart


def y_of(chart: Chart, value: float, top_value: float) -> float:
    """Return the y pixel of *value* on a scale from 0 to *top_value*."""
    return round(chart.bottom - (chart.bottom - chart.top) * value / top_value, 1)


def count_chart(rows: list[dict[str, Any]]) -> Chart:
    """Return grouped bars per day: posted, flagged, approved and rejected."""
    top_value = nice_ceiling(max((row[name] for row in rows for name in SERIES), default=0))
    chart = frame(rows, top_value)
    slot = (chart.right - chart.left) / max(1, len(rows))
    bar = slot * 0.8 / len(SERIES)
    for i, row in enumerate(rows):
        for j, name in enumerate(SERIES):
            y = y_of(chart, row[name], top_value)
            chart.bars.append({"x": round(chart.left + slot * (i + 0.1) + bar * j, 1), "y": y,
                               "w": round(max(bar - 1, 1), 1), "h": round(chart.bottom - y, 1), "series": name,
                               "title": f"{row['day']}: {row[name]} {name}"})
    return chart


def latency_unit(seconds: float) -> tuple[str, float]:
    """Return the unit and divisor that show *seconds* readably."""
    if seconds >= 2 * 3600:
        return "hours", 3600
    if seconds >= 120:
        return "minutes", 60
    return "seconds", 1


def latency_chart(rows: list[dict[str, Any]]) -> Chart:
    """Return a line of the daily median time from flag to decision (gaps on days without decisions)."""
    values = [row["latency_seconds"]["p50"] for row in rows]
    unit, divisor = latency_unit(max((v for v in values if v is not None), default=0))
    top_value = nice_ceiling(max((v / divisor for v in values if v is not None), default=0))
    chart = frame(rows, top_value)
    chart.unit = unit
    slot = (chart.right - chart.left) / max(1, len(rows))
    segment: list[str] = []
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        if value is None:
            if segment:
                chart.lines.append(" ".join(segment))
            segment = []
            continue
        x, y = round(chart.left + slot * (i + 0.5), 1), y_of(chart, value / divisor, top_value)
        segment.append(f"{x},{y}")
        chart.points.append({"x": x, "y": y, "title": f"{row['day']}: median {duration(value)} "
                             f"over {row['latency_seconds']['count']} decisions"})
    if segment:
        chart.lines.append(" ".join(segment))
    return chart


@bp.get("/stats")
@login_required
def stats_page() -> ResponseReturnValue:
    """Show daily posted, flagged, approved and rejected counts and moderation latency (``?days=N``)."""
    try:
        days = stats.parse_days(request.args.get("days"))
    except ValidationError as exc:
        flash(f"Days ignored: {error_message(exc)}", "error")
        days = 14
    rows = stats.recent(get_session(), days)
    totals = {name: sum(row[name] for row in rows) for name in stats.COUNTS}
    return render_template("moderation/stats.html", rows=rows, days=days, choices=DAY_CHOICES, totals=totals,
                           counts=count_chart(rows), latency=latency_chart(rows), series=SERIES)
