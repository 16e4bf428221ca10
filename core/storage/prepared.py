"""Server-side prepared statements for the hot one-statement writes on PostgreSQL (parsed and planned once)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection, CursorResult


class Prepared:
    """One statement, prepared once per database connection and then run with ``EXECUTE``.

    psycopg2 sends every statement as text, so PostgreSQL parses and plans it on every call: for the
    multi-CTE writes of the POST and the check that is about a third of the database's CPU per call
    (docs/BENCHMARKS.md). A connection behind a pooler in transaction mode (PgBouncer) cannot keep
    prepared statements: use session pooling.
    """

    def __init__(self, name: str, sql: str, types: Mapping[str, str]) -> None:
        """Prepare *sql* (with ``:param`` placeholders) as *name*; *types* gives each parameter's SQL type."""
        order = list(types)

        def placeholder(match: re.Match[str]) -> str:
            return f"${order.index(match.group(1)) + 1}"

        body = re.sub(r"(?<![:\w]):(\w+)", placeholder, sql)
        self.name = name
        self.prepare = f"PREPARE {name} ({', '.join(types.values())}) AS {body}"
        self.execute_sql = f"EXECUTE {name} ({', '.join(f'%({p})s' for p in order)})"

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> CursorResult[Any]:
        """Run the statement on *connection* with *params*, preparing it first on a new connection."""
        # Connection.info lives as long as the database connection itself, and is new after a reconnect.
        done: set[str] = connection.info.setdefault("parley_prepared", set())
        if self.name not in done:
            connection.exec_driver_sql(self.prepare)
            done.add(self.name)
        return connection.exec_driver_sql(self.execute_sql, dict(params))
