"""Prometheus metrics of the web process, plus Parley's gauges read at scrape time."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from core import metrics
from core.errors import BrokerUnavailable
from core.messaging import queues
from core.notifications.backlog import Backlog
from core.storage import db
from webapp.web import settings

logger = logging.getLogger(__name__)

REQUESTS = Counter("parley_http_requests_total", "HTTP requests.", ["method", "route", "status"])
LATENCY = Histogram("parley_http_request_duration_seconds", "HTTP request latency.", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
ACCEPTED = Counter("parley_comments_accepted_total", "Comments answered with 202.")
DISPATCH_FAILURES = Counter("parley_dispatch_failures_total", "Comments left for re-dispatch at POST time.")


class ParleyCollector(Collector):
    """Gauges computed from the database and the broker when Prometheus scrapes."""

    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the gauges; a sick dependency yields an ``up`` of 0 instead of failing the scrape."""
        up = GaugeMetricFamily("parley_dependency_up", "Whether a gauge source answered.", labels=["source"])
        try:
            with db.session_scope() as session:
                snap = metrics.snapshot(session)
            up.add_metric(["database"], 1)
            yield from self._database_gauges(snap)
        except SQLAlchemyError as exc:
            logger.warning("Metrics: database unavailable (%s)", str(exc).splitlines()[0][:200])
            up.add_metric(["database"], 0)
        depth = GaugeMetricFamily("parley_queue_messages", "Ready messages per RabbitMQ queue.", labels=["queue"])
        try:
            for queue, count in queues.queue_depths(self.broker_url).items():
                if count is not None:
                    depth.add_metric([queue], count)
            up.add_metric(["broker"], 1)
        except BrokerUnavailable as exc:
            logger.warning("Metrics: broker unavailable (%s)", exc)
            up.add_metric(["broker"], 0)
        yield depth
        yield up

    @staticmethod
    def _database_gauges(snap: metrics.Snapshot) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("parley_pending_comments", "Comments waiting for their check.", value=snap.pending)
        yield GaugeMetricFamily("parley_oldest_pending_seconds", "Age of the oldest pending comment.",
                                value=snap.oldest_pending_seconds)
        yield GaugeMetricFamily("parley_flagged_backlog", "Flagged comments awaiting a moderator.",
                                value=snap.flagged_backlog)
        yield GaugeMetricFamily("parley_oldest_flagged_seconds", "Age of the oldest undecided flagged comment.",
                                value=snap.oldest_flagged_seconds)
        failures = GaugeMetricFamily("parley_translation_failures", "Failed translations by reason.",
                                     labels=["reason"])
        for reason, count in sorted(snap.translation_failures.items()):
            failures.add_metric([reason], count)
        yield failures
        last = GaugeMetricFamily("parley_scheduler_last_success_timestamp_seconds",
                                 "When each scheduled job last succeeded.", labels=["job"])
        for job, when in sorted(snap.scheduler_last_success.items()):
            last.add_metric([job], when)
        yield last
        yield from _outbox_gauges(snap.outbox)


#: The outbox gauges, each by kind (mail, webhook): name, help, the Backlog field it shows.
OUTBOX_GAUGES = (
    ("parley_outbox_pending", "Outbox rows not yet sent (first attempt or retrying).", "pending"),
    ("parley_outbox_oldest_pending_seconds", "Age of the oldest pending outbox row, retries included.",
     "oldest_pending_seconds"),
    ("parley_outbox_overdue_seconds", "How long the longest-waiting due outbox row has been due.",
     "overdue_seconds"),
    ("parley_outbox_failed", "Outbox rows that failed for good.", "failed"),
)


def _outbox_gauges(backlog: Backlog) -> Iterator[GaugeMetricFamily]:
    """Yield the outbox's depth, ages and failures by kind."""
    for name, help_text, attribute in OUTBOX_GAUGES:
        gauge = GaugeMetricFamily(name, help_text, labels=["kind"])
        for kind, value in sorted(getattr(backlog, attribute).items()):
            gauge.add_metric([kind], value)
        yield gauge


def start_timer() -> None:
    """Remember when the request started."""
    g.metrics_started = time.perf_counter()


def record(response: Response) -> Response:
    """Count the request by route template (never the raw path: bounded label values)."""
    route = request.url_rule.rule if request.url_rule else "unmatched"
    if route != "/metrics":
        elapsed = time.perf_counter() - g.get("metrics_started", time.perf_counter())
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        LATENCY.labels(request.method, route).observe(elapsed)
        if route == "/api/comments" and request.method == "POST" and response.status_code == 202:
            ACCEPTED.inc()
    return response


def scrape() -> Response:
    """Render the web's metrics (all gunicorn workers when PROMETHEUS_MULTIPROC_DIR is set)."""
    registry = CollectorRegistry()
    if settings().prometheus_multiproc_dir:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    output = generate_latest(registry) + generate_latest(current_app.extensions["parley_collector"])
    return Response(output, mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Time every request and keep the gauge collector on *app*."""
    collector_registry = CollectorRegistry(auto_describe=False)
    collector_registry.register(ParleyCollector(app.config["PARLEY"].broker_url))
    app.extensions["parley_collector"] = collector_registry
    app.before_request(start_timer)
    app.after_request(record)
