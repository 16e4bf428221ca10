"""Alembic migrations build the models' schema on SQLite and PostgreSQL, both ways."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from core.storage.db import Base, make_engine
from tests import support


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    """Return an Alembic config aimed at *url*."""
    from alembic.config import Config

    config = Config(str(support.ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(support.ROOT / "migrations"))
    config.attributes["database_url"] = url
    config.attributes["skip_logging"] = True
    return config


def schema_diff(url: str) -> list:
    """Return the differences between the migrated database and the models."""
    engine = make_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    return diff


def test_head_matches_the_models_and_downgrades_cleanly(stack):
    # Given the stack's database at head
    assert schema_diff(stack.database_url) == []
    # When it is downgraded to nothing and upgraded again
    fresh = support.unique("parley_mig")
    url = (f"sqlite:///{support.ARTIFACTS / fresh}.db" if stack.backend == "sqlite"
           else support.create_pg_database(fresh))
    support.ARTIFACTS.mkdir(exist_ok=True)
    try:
        command.upgrade(alembic_config(url), "head")
        command.downgrade(alembic_config(url), "base")
        engine = make_engine(url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        command.upgrade(alembic_config(url), "head")
        # Then the schema is again exactly the models'
        assert schema_diff(url) == []
    finally:
        if stack.backend == "postgresql":
            support.drop_pg_database(fresh)
