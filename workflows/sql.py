"""Small SQL helpers that read the same on SQLite and PostgreSQL."""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from workflows.connection import Connection


async def insert_if_absent(conn: Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when the row was inserted (no race can raise)."""
    result = await conn.execute(_insert_or_nothing(conn.dialect.name, table), values)
    return bool(result.rowcount)


@cache
def _insert_or_nothing(dialect_name: str, table: sa.Table) -> sa.Insert:
    """Built once per table, with the values bound at execution, so a repeated insert is one
    statement (workflows/statement_cache.py) rather than a new one per call."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()
