"""Who owes which training version, since when: the record behind `due_days`, refreshers and reminders.

Like agreement obligations, a row is written the first time a person is in scope of a training's current
version (at start, on the daily directory sync, on `team_join` and `user_change`), and it is
bookkeeping, not audited: the quiz attempts are. A pass clears `due_at`, or with `every_days` sets it to
the day the refresher falls due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from config.catalog import Catalog, Training
from workflows.connection import Connection
from workflows.directory import Member
from workflows.obligations import applies_to
from workflows.sql import insert_if_absent
from workflows.tables import members, training_attempts, training_obligations

CHUNK = 500  # rows per statement: well inside SQLite's and asyncpg's parameter limits


def refresher_due(training: Training, passed_at: datetime) -> datetime | None:
    """When a pass must be refreshed; None when it never needs to be."""
    return passed_at + timedelta(days=training.every_days) if training.every_days else None


def next_reminder(
    training: Training, owed_from: datetime | None, passed_at: datetime | None
) -> datetime | None:
    """The first reminder: due_days after someone first owes a training; at once when a refresher is due."""
    if owed_from is None:
        return None
    return owed_from if passed_at is not None else owed_from + timedelta(days=training.due_days)


async def mark_passed(conn: Connection, training: Training, user_id: str, now: datetime) -> None:
    """Nothing is due any more, until the refresher (every_days)."""
    owed_from = refresher_due(training, now)
    values = {
        "owed_from": owed_from,
        "passed_at": now,
        "due_at": owed_from,
        "last_notified_at": None,
        "notify_count": 0,
    }
    key = {"user_id": user_id, "training_id": training.id, "version": training.version}
    if not await insert_if_absent(conn, training_obligations, {**key, "first_owed_at": now, **values}):
        await conn.execute(
            training_obligations.update()
            .where(*(training_obligations.c[k] == v for k, v in key.items()))
            .values(**values)
        )


async def sync_obligations(
    conn: Connection, catalog: Catalog, now: datetime, user_ids: list[str] | None = None
) -> None:
    """Bring training obligations in line with the directory and the catalog, for everyone or the
    people named: new rows for people newly in scope, nothing due from people who left it, and nothing
    due for versions (or trainings) the catalog no longer has."""
    people = await _people(conn, user_ids)
    for training in catalog.trainings:
        in_scope = {u for u, m in people.items() if applies_to(training, m)}
        existing = await _rows(conn, training, user_ids)
        passes = await last_passes_of(conn, training, user_ids)
        new_rows: list[dict[str, Any]] = []
        for user_id in sorted(in_scope - existing.keys()):
            passed_at = passes.get(user_id)
            owed_from = refresher_due(training, passed_at) if passed_at else now
            new_rows.append(
                {
                    "user_id": user_id,
                    "training_id": training.id,
                    "version": training.version,
                    "first_owed_at": min(passed_at, now) if passed_at else now,
                    "owed_from": owed_from,
                    "passed_at": passed_at,
                    "due_at": next_reminder(training, owed_from, passed_at),
                }
            )
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        for i in range(0, len(new_rows), CHUNK):
            await conn.execute(
                dialect.insert(training_obligations).on_conflict_do_nothing(), new_rows[i : i + CHUNK]
            )
        await _follow_scope(conn, training, existing, in_scope)
    await _stand_down_superseded(conn, catalog, user_ids)


async def owed_from_for(
    conn: Connection, training: Training, user_ids: list[str] | None = None
) -> dict[str, datetime | None]:
    """user → since when they owe the training's current version (everyone, or the people named)."""
    return {u: r.owed_from for u, r in (await _rows(conn, training, user_ids)).items()}


async def last_passes_of(
    conn: Connection, training: Training, user_ids: list[str] | None = None
) -> dict[str, datetime]:
    """user → their latest pass of the training's current version."""
    query = (
        sa.select(training_attempts.c.user_id, sa.func.max(training_attempts.c.at))
        .where(
            training_attempts.c.training_id == training.id,
            training_attempts.c.version == training.version,
            training_attempts.c.passed,
        )
        .group_by(training_attempts.c.user_id)
    )
    if user_ids is not None:
        query = query.where(training_attempts.c.user_id.in_(user_ids))
    return {user_id: at for user_id, at in await conn.execute(query)}


# ---- internals ---------------------------------------------------------------------------------------


def _this_version(training: Training) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        training_obligations.c.training_id == training.id,
        training_obligations.c.version == training.version,
    )


async def _people(conn: Connection, user_ids: list[str] | None) -> dict[str, Member]:
    query = sa.select(members)
    if user_ids is not None:
        query = query.where(members.c.user_id.in_(user_ids))
    return {
        r.user_id: Member(r.user_id, r.name, r.is_bot, r.is_guest, r.deleted, r.tz)
        for r in await conn.execute(query)
    }


async def _rows(conn: Connection, training: Training, user_ids: list[str] | None) -> dict[str, Any]:
    query = sa.select(training_obligations).where(*_this_version(training))
    if user_ids is not None:
        query = query.where(training_obligations.c.user_id.in_(user_ids))
    return {r.user_id: r for r in await conn.execute(query)}


async def _follow_scope(
    conn: Connection, training: Training, existing: dict[str, Any], in_scope: set[str]
) -> None:
    """Nothing is due from people who left the scope; people back in scope (or a changed `due_days`
    before any reminder went out) get their reminder date from when they started owing."""
    leaving = sorted(u for u, r in existing.items() if u not in in_scope and r.due_at is not None)
    for i in range(0, len(leaving), CHUNK):
        await conn.execute(
            training_obligations.update()
            .where(*_this_version(training), training_obligations.c.user_id.in_(leaving[i : i + CHUNK]))
            .values(due_at=None)
        )
    for user_id, row in existing.items():
        if user_id not in in_scope or row.owed_from is None:
            continue
        wanted = next_reminder(training, row.owed_from, row.passed_at)
        if row.due_at is None or (row.notify_count == 0 and row.due_at != wanted):
            await conn.execute(
                training_obligations.update()
                .where(*_this_version(training), training_obligations.c.user_id == user_id)
                .values(due_at=wanted)
            )


async def _stand_down_superseded(conn: Connection, catalog: Catalog, user_ids: list[str] | None) -> None:
    """An old version, or a training gone from the catalog, is never due again."""
    current = [sa.and_(*_this_version(t)) for t in catalog.trainings]
    statement = training_obligations.update().where(training_obligations.c.due_at.is_not(None))
    if current:
        statement = statement.where(sa.not_(sa.or_(*current)))
    if user_ids is not None:
        statement = statement.where(training_obligations.c.user_id.in_(user_ids))
    await conn.execute(statement.values(due_at=None))
