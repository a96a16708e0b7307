"""Claiming due rows: one conditional UPDATE ... RETURNING per batch, so each row is handled once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from workflows.connection import Connection

BATCH = 200


async def claim_due(
    conn: Connection,
    table: sa.Table,
    *,
    where: Sequence[sa.ColumnElement[bool]],
    values: Mapping[str, Any],
    batch: int = BATCH,
) -> AsyncIterator[list[sa.Row[Any]]]:
    """Yield batches of rows that match `where`, each already updated with `values` (RETURNING the
    new state). `values` must make a claimed row stop matching `where`, or the loop would not end.

    The candidate select skips rows locked by someone else (FOR UPDATE SKIP LOCKED on PostgreSQL;
    SQLite has one writer at a time anyway): a click that holds a row is never waited for, and the
    row is simply due again at the next sweep. The conditions are repeated on the UPDATE itself so
    that a row changed since the candidate select is re-checked, not claimed twice.
    """
    keys = [column.name for column in table.primary_key.columns]
    statement = claim_statement(table, where=where, values=values, batch=batch)
    while True:
        rows = sorted(
            (await conn.execute(statement)).all(), key=lambda row: tuple(getattr(row, k) for k in keys)
        )
        if rows:
            yield rows
        if len(rows) < batch:
            return


def claim_statement(
    table: sa.Table,
    *,
    where: Sequence[sa.ColumnElement[bool]],
    values: Mapping[str, Any],
    batch: int = BATCH,
) -> sa.Update:
    """UPDATE table SET values WHERE key IN (due candidates, skipping locked rows) AND where RETURNING *."""
    columns = table.primary_key.columns.values()
    # A composite key (agreement_obligations) is matched as a row value: (a, b) IN (SELECT a, b ...).
    key = columns[0] if len(columns) == 1 else sa.tuple_(*columns)
    # No ORDER BY: the loop takes every due row anyway, and ordering by id would tempt the planner
    # into walking the whole table in id order instead of searching the index on the due column.
    due = sa.select(*columns).where(*where).limit(batch).with_for_update(skip_locked=True)
    candidates = due.scalar_subquery() if len(columns) == 1 else due
    return table.update().where(key.in_(candidates), *where).values(**values).returning(*table.c)
