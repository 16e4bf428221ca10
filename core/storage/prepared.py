"""Server-side prepared statements for the hot one-statement writes on PostgreSQL (parsed and planned once)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

logger = logging.getLogger(__name__)

#: A ``:name`` parameter (not the ``::`` of a cast).
_PARAM = r"(?<![:\w]):(\w+)"
#: SQLSTATEs of a statement missing from, or already on, the server connection: duplicate_prepared_statement,
#: invalid_sql_statement_name. Seen when a transaction-pooling PgBouncer lends the connection to other clients.
_POOLED_AWAY = {"42P05", "26000"}


class Prepared:
    """One statement, prepared once per database connection and then run with ``EXECUTE``.

    psycopg2 sends every statement as text, so PostgreSQL parses and plans it on every call: for the
    multi-CTE writes of the POST and the check that is about a third of the database's CPU per call
    (docs/BENCHMARKS.md). A connection behind a pooler in transaction mode (PgBouncer) cannot keep
    prepared statements: there the engine says so (DATABASE_PREPARED=off) and the same statement runs as one
    parameterized statement, its parameters cast to the same types.
    """

    def __init__(
        self, name: str, sql: str, types: Mapping[str, str], constants: Mapping[str, Any] | None = None
    ) -> None:
        """Prepare *sql* (with ``:param`` placeholders) as *name*; *types* gives each parameter's SQL type."""
        order = list(types)
        self.constants = dict(constants or {})

        def placeholder(match: re.Match[str]) -> str:
            return f"${order.index(match.group(1)) + 1}"

        body = re.sub(_PARAM, placeholder, sql)
        self.name = name
        # Lengths are left out (VARCHAR(16) -> VARCHAR): a cast to a length would cut a value silently,
        # where the column itself refuses one too long.
        kinds = [re.sub(r"\(\d+\)", "", kind) for kind in types.values()]
        self.prepare = f"PREPARE {name} ({', '.join(kinds)}) AS {body}"
        self.execute_sql = f"EXECUTE {name} ({', '.join(f'%({p})s' for p in order)})"
        # The unprepared twin: psycopg2's pyformat, so a literal % is doubled; each cast is the PREPARE's type.
        cast = dict(zip(order, kinds, strict=True))
        self.plain_sql = re.sub(_PARAM, lambda m: f"CAST(%({m[1]})s AS {cast[m[1]]})", sql.replace("%", "%%"))

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> CursorResult[Any]:
        """Run the statement on *connection* with *params*, preparing it first on a new connection.

        An engine made with ``prepared=False`` (core/storage/db.py) runs it unprepared, as one statement.
        """
        if not connection.get_execution_options().get("parley_prepared", True):
            return connection.exec_driver_sql(self.plain_sql, {**self.constants, **params})
        # Connection.info lives as long as the database connection itself, and is new after a reconnect.
        done: set[str] = connection.info.setdefault("parley_prepared", set())
        try:
            if self.name not in done:
                connection.exec_driver_sql(self.prepare)
                done.add(self.name)
            return connection.exec_driver_sql(self.execute_sql, {**self.constants, **params})
        except DBAPIError as exc:
            if getattr(exc.orig, "pgcode", None) in _POOLED_AWAY:
                logger.error("Prepared statement %s is not this connection's own: behind PgBouncer in transaction "
                             "pooling, set DATABASE_PREPARED=off", self.name)
            raise

    @classmethod
    def of(cls, name: str, statement: Executable) -> Prepared:
        """Prepare a SQLAlchemy *statement* compiled for PostgreSQL: the portable twin's own construct.

        Parameter types come from the columns they are compared with or written to (give a bindparam a type
        where there is none, e.g. an array); literals SQLAlchemy turned into parameters are sent as constants.
        """
        from sqlalchemy.dialects import postgresql

        dialect = postgresql.dialect(paramstyle="named")
        compiled = statement.compile(dialect=dialect)
        names = compiled.bind_names  # each bindparam and the name it has in the SQL text
        types = {name: bind.type.compile(dialect=dialect) for bind, name in names.items()}
        constants = {name: bind.value for bind, name in names.items() if bind.value is not None}
        return cls(name, str(compiled), types, constants)
