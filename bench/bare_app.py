"""The ingest ceiling: the least a Flask endpoint can do for "store a comment and queue its check".

``POST /ingest`` with a JSON body → INSERT one row (SQLAlchemy Core, PostgreSQL) → COMMIT → send one
Dramatiq message through a ``RabbitmqBroker(confirm_delivery=True)`` → 202. No validation, no rate
limit, no metrics. Served exactly like Parley: ``gunicorn --workers 2 --threads 4 'bench.bare_app:create_app()'``
with ``DATABASE_URL`` and ``BROKER_URL`` in the environment.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, create_engine, insert
from sqlalchemy.exc import IntegrityError, ProgrammingError

QUEUE = "bare"
metadata = MetaData()
items = Table(
    "bench_bare_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("thread", String(200), nullable=False),
    Column("author", String(100), nullable=False),
    Column("body", Text, nullable=False),
    Column("lang", String(16)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def create_app() -> Flask:
    """Create the bare app; the engine and the broker are built here, after gunicorn's fork."""
    app = Flask(__name__)
    engine = create_engine(os.environ["DATABASE_URL"], pool_size=10, max_overflow=10, pool_pre_ping=True)
    try:
        metadata.create_all(engine, checkfirst=True)
    except (IntegrityError, ProgrammingError):
        pass  # the other gunicorn worker created it at the same moment
    broker = RabbitmqBroker(url=os.environ["BROKER_URL"], confirm_delivery=True)
    broker.declare_queue(QUEUE)

    @app.post("/ingest")
    def ingest() -> ResponseReturnValue:
        """Store the posted row, commit, then send one confirmed message."""
        data = request.get_json()
        row = {
            "thread": data["thread"], "author": data["author"], "body": data["body"], "lang": data.get("lang"),
            "created_at": datetime.now(UTC),
        }
        with engine.begin() as connection:
            row_id = connection.execute(insert(items).values(**row).returning(items.c.id)).scalar_one()
        broker.enqueue(dramatiq.Message(queue_name=QUEUE, actor_name="noop", args=(row_id,), kwargs={}, options={}))
        return jsonify({"id": row_id, "status": "pending"}), 202

    return app
