"""Alembic environment: the URL comes from core.config, the metadata from core.storage.models."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from core.config import Settings
from core.storage import models  # noqa: F401  (registers the tables on Base.metadata)
from core.storage.db import Base, make_engine

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    """Return the URL given by the caller (tests) or by DATABASE_URL."""
    return config.attributes.get("database_url") or Settings.from_env().database_url


def run_migrations_offline() -> None:
    """Emit SQL without a database connection."""
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on a live connection."""
    engine = make_engine(database_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
