"""The worker's broker and database; imported before any actor module so actors bind to it."""

from __future__ import annotations

import dramatiq

from core import db
from core.broker import build_broker
from core.config import Settings
from core.logs import configure_logging

#: Settings of the worker process, read once.
settings = Settings.from_env()
configure_logging(settings)
db.configure(settings.database_url)

#: The global broker every actor in this package is declared on.
broker = build_broker(settings, role="worker")
dramatiq.set_broker(broker)
