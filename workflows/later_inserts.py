"""PostgreSQL: the INSERTs of a write whose results nobody waits for, sent as one statement.

A PostgreSQL write used to be a round trip per statement plus BEGIN and COMMIT: eight for a filed
request, each waking a backend (BENCHMARKS.md, section 1). Most of those statements are INSERTs
whose answer the workflow never reads (the request's approvers, the owner's card, the audit entry),
so `Connection.insert_later` hands them here instead. They are sent together as one statement:

    WITH confide_later_1 AS (INSERT INTO request_approvers ...),
         confide_later_2 AS (INSERT INTO outbox ... VALUES (...), (...))
    INSERT INTO audit_unsealed ...

One statement is atomic on its own, so a write whose only changes are these needs neither BEGIN nor
COMMIT (`PostgresConnection.finish`).

PostgreSQL runs the parts of such a statement in no promised order, so a batch holds at most one
part per table: the rows a transaction inserts into one table keep their order as the rows of one
multi-row VALUES list (their serial ids are drawn in that order), and an INSERT into a table already
in the batch with other columns sends the batch first. The parts are independent: none reads what
another inserts (nor do the batched tables have foreign keys or triggers that would).
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

# asyncpg sends at most 32,767 parameters a statement; a batch is sent before it would pass this.
MAX_PARAMETERS = 30_000
# Rows a part takes. Each row count is a statement of its own for PostgreSQL to parse and plan, where
# a batch of many rows (a sweep's audit entries) is cheaper as asyncpg's pipelined executemany of one
# prepared single-row INSERT: larger inserts run at once, as they are given (`LaterInserts.can_take`).
MAX_ROWS = 16
# Combined statements remembered, by the shapes of their parts.
_SQL_CACHE_SIZE = 256

# A plain single-row INSERT as SQLAlchemy compiles one for asyncpg (no RETURNING, no ON CONFLICT).
_PLAIN_INSERT = re.compile(
    r"INSERT INTO (?P<table>\S+) \((?P<columns>[^()]*)\) VALUES (?P<row>\(.*\))", re.DOTALL
)
PLACEHOLDER = re.compile(r"\$(\d+)")


@functools.lru_cache(maxsize=_SQL_CACHE_SIZE)
def plain_insert_table(sql: str) -> str | None:
    """The table of a plain INSERT of one row of values that a batch can take, else None."""
    match = _PLAIN_INSERT.fullmatch(sql)
    if match is None or " ON CONFLICT " in sql or " RETURNING " in sql:
        return None
    numbers = [int(n) for n in PLACEHOLDER.findall(match["row"])]
    if numbers != list(range(1, len(numbers) + 1)):  # each parameter once, in order: renumbering holds
        return None
    return match["table"]


def plain_insert_parts(sql: str) -> tuple[str, str, str]:
    """(table, column list, row of values) of an INSERT `plain_insert_table` takes."""
    match = _PLAIN_INSERT.fullmatch(sql)
    assert match is not None, "only plain inserts join a batch (plain_insert_table)"
    return match["table"], match["columns"], match["row"]


@dataclass
class _Part:
    sql: str  # the single-row INSERT each of its rows was compiled as
    rows: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class LaterInserts:
    """The batch of one write: at most one part per table, in the order the tables first came."""

    parts: OrderedDict[str, _Part] = field(default_factory=OrderedDict)
    parameters: int = 0

    def __bool__(self) -> bool:
        return bool(self.parts)

    @staticmethod
    def can_take(rows: list[tuple[Any, ...]]) -> bool:
        """Whether these rows belong in a batch at all (else they run as a statement of their own)."""
        return len(rows) <= MAX_ROWS

    def fits(self, table: str, sql: str, rows: list[tuple[Any, ...]]) -> bool:
        """Whether these rows can join the batch without sending it first."""
        part = self.parts.get(table)
        if part is not None and (part.sql != sql or len(part.rows) + len(rows) > MAX_ROWS):
            return False
        return self.parameters + sum(len(row) for row in rows) <= MAX_PARAMETERS

    def add(self, table: str, sql: str, rows: list[tuple[Any, ...]]) -> None:
        part = self.parts.get(table)
        if part is None:
            part = self.parts[table] = _Part(sql)
        part.rows.extend(rows)
        self.parameters += sum(len(row) for row in rows)

    def statement(self) -> tuple[str, list[Any]]:
        """The one statement that inserts every row of the batch, and its parameters."""
        shape = tuple((part.sql, len(part.rows)) for part in self.parts.values())
        sql = _combined_sql(shape)
        values = [value for part in self.parts.values() for row in part.rows for value in row]
        return sql, values

    def rows_by_insert(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """Each single-row INSERT of the batch with its rows, in order (`workflows.insert_group`)."""
        return [(part.sql, part.rows) for part in self.parts.values()]

    def clear(self) -> None:
        self.parts.clear()
        self.parameters = 0


_combined: OrderedDict[tuple[tuple[str, int], ...], str] = OrderedDict()


def _combined_sql(shape: tuple[tuple[str, int], ...]) -> str:
    sql = _combined.get(shape)
    if sql is not None:
        _combined.move_to_end(shape)
        return sql
    inserts = []
    offset = 0
    for part_sql, row_count in shape:
        table, columns, row = plain_insert_parts(part_sql)
        arity = len(PLACEHOLDER.findall(row))
        rows = []
        for _ in range(row_count):
            rows.append(_renumbered(row, offset))
            offset += arity
        inserts.append(f"INSERT INTO {table} ({columns}) VALUES {', '.join(rows)}")
    sql = as_one_statement(inserts, "confide_later")
    _combined[shape] = sql
    if len(_combined) > _SQL_CACHE_SIZE:
        _combined.popitem(last=False)
    return sql


def as_one_statement(inserts: list[str], name: str) -> str:
    """Independent INSERTs as one statement: all but the last as CTEs named `name`_1, `name`_2, ..."""
    if len(inserts) == 1:
        return inserts[0]
    ctes = ", ".join(f"{name}_{n} AS ({insert})" for n, insert in enumerate(inserts[:-1], 1))
    return f"WITH {ctes} {inserts[-1]}"


def _renumbered(row: str, offset: int) -> str:
    # The row is SQLAlchemy's rendering of our own Core INSERT: values are always bound, never
    # literal text, so every "$n" in it is a placeholder.
    return PLACEHOLDER.sub(lambda m: f"${int(m.group(1)) + offset}", row)
