"""The append-only, hash-chained audit log."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from workflows.connection import Connection
from workflows.tables import audit_head, audit_log

GENESIS_HASH = "0" * 64
ANONYMOUS = "anonymous"  # the only actor ever recorded for an anonymous reporter
SYSTEM = "confide"  # the actor for what the sweep and start-up do on their own


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def entry_hash(
    prev_hash: str, entry_id: int, at: datetime, actor: str, action: str, subject: str, details_json: str
) -> str:
    """sha256(prev_hash + canonical JSON of the entry), as ARCHITECTURE.md defines it."""
    body = json.dumps(
        {
            "id": entry_id,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": json.loads(details_json),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


PENDING = "confide_pending_audit"  # key in the connection's info: entries waiting for the commit


async def record(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Add one entry to the caller's transaction; it is appended to the chain just before commit.

    Appending last means the chain's head is the last lock any transaction takes: a transaction that
    holds it never waits for a row another one holds, so audit appends cannot deadlock with row
    locks taken in any order, and replicas hold the head only for the moment of the append."""
    details_json = json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"), default=str)
    conn.info.setdefault(PENDING, []).append((at, actor, action, subject, details_json))


def discard_pending(conn: Connection) -> None:
    """Forget entries of a transaction that will not commit (the connection returns to the pool)."""
    conn.info.pop(PENDING, None)


# Built once: every write transaction appends.
_ENTRY_COLUMNS = ("id", "at", "actor", "action", "subject", "details", "prev_hash", "hash")
_SET_HEAD = audit_head.update().where(audit_head.c.id == 1).values(last_hash=sa.bindparam("last_hash"))


# SQLite: the head and the last id in one read (see _append_numbered).
_HEAD_AND_LAST_ID = sa.select(
    audit_head.c.last_hash, sa.select(sa.func.max(audit_log.c.id)).scalar_subquery()
).where(audit_head.c.id == 1)
_INSERT_NUMBERED_ENTRIES = audit_log.insert()


async def append_pending(conn: Connection) -> None:
    """Append the transaction's entries to the chain, in the order they were recorded."""
    pending = conn.info.pop(PENDING, None)
    if not pending:
        return
    if conn.dialect.name == "sqlite":
        await _append_numbered(conn, pending)
    else:
        await _append_with_sequence(conn, pending)


async def _append_numbered(conn: Connection, pending: list[tuple[Any, ...]]) -> None:
    """SQLite: this transaction holds the database's only write lock, so the ids the entries get are
    known before they are inserted (one past the largest, as SQLite itself assigns them), and each is
    inserted with its hash: three statements for any number of entries instead of two per entry."""
    prev_hash, last_id = (await conn.execute(_HEAD_AND_LAST_ID)).one()
    first = (last_id or 0) + 1
    rows = _chained_rows(prev_hash, list(range(first, first + len(pending))), pending)
    await conn.execute(_INSERT_NUMBERED_ENTRIES, rows)
    await conn.execute(_SET_HEAD, {"last_hash": rows[-1]["hash"]})


# PostgreSQL: lock the head and draw the first entry's id in one statement. An UPDATE's RETURNING is
# computed after the row is locked and written, so ids are drawn in the order appends hold the head.
# (When a SELECT ... FOR UPDATE computes its columns relative to waiting for the lock is less clear.)
_SEQUENCE = sa.func.pg_get_serial_sequence("audit_log", "id")
_LOCK_HEAD_AND_DRAW_ID = (
    audit_head.update()
    .where(audit_head.c.id == 1)
    .values(id=audit_head.c.id)
    .returning(audit_head.c.last_hash, sa.func.nextval(_SEQUENCE))
)
_DRAW_IDS = sa.select(sa.func.nextval(_SEQUENCE)).select_from(
    sa.func.generate_series(1, sa.bindparam("count"))
)
# One entry (nearly every transaction): inserted and made the head in one statement.
_INSERT_ENTRY_AS_HEAD = _SET_HEAD.add_cte(
    audit_log.insert()
    .values({column: sa.bindparam(f"entry_{column}") for column in _ENTRY_COLUMNS})
    .cte("entry")
)


async def _append_with_sequence(conn: Connection, pending: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: ids from the table's sequence, drawn while holding the head, so they increase
    along the chain (rolled-back transactions leave gaps, which the chain does not mind). Two round
    trips hold the head before the commit, whatever the number of entries."""
    prev_hash, first_id = (await conn.execute(_LOCK_HEAD_AND_DRAW_ID)).one()
    ids = [first_id]
    if len(pending) > 1:
        ids += sorted((await conn.execute(_DRAW_IDS, {"count": len(pending) - 1})).scalars())
    rows = _chained_rows(prev_hash, ids, pending)
    if len(rows) == 1:
        entry = {f"entry_{column}": value for column, value in rows[0].items()}
        await conn.execute(_INSERT_ENTRY_AS_HEAD, {**entry, "last_hash": rows[0]["hash"]})
        return
    await conn.execute(_INSERT_NUMBERED_ENTRIES, rows)
    await conn.execute(_SET_HEAD, {"last_hash": rows[-1]["hash"]})


def _chained_rows(prev_hash: str, ids: list[int], pending: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The rows of these entries, each hashed over the one before."""
    rows = []
    for entry_id, (at, actor, action, subject, details_json) in zip(ids, pending, strict=True):
        digest = entry_hash(prev_hash, entry_id, at, actor, action, subject, details_json)
        rows.append(
            {
                "id": entry_id,
                "at": at,
                "actor": actor,
                "action": action,
                "subject": subject,
                "details": details_json,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_hash = digest
    return rows


async def lock_chain(conn: Connection) -> None:
    """Take the chain's head lock now rather than at the first append.

    For long transactions that touch many rows (the sweep): holding the head first, and never waiting
    on a row after it, keeps them from deadlocking against a click that locked its row and then
    waits for the head. It also serialises such transactions across replicas."""
    await conn.execute(sa.select(audit_head.c.id).where(audit_head.c.id == 1).with_for_update())


def _row_to_entry(row: sa.Row[Any]) -> AuditEntry:
    return AuditEntry(
        row.id, row.at, row.actor, row.action, row.subject, json.loads(row.details), row.prev_hash, row.hash
    )


async def iter_entries(
    conn: Connection,
    *,
    since: datetime | None = None,
    batch: int = 1000,
) -> AsyncIterator[AuditEntry]:
    """Every entry in chain order, fetched in batches so memory stays flat."""
    last_id = 0
    while True:
        query = sa.select(audit_log).where(audit_log.c.id > last_id).order_by(audit_log.c.id).limit(batch)
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        rows = (await conn.execute(query)).all()
        if not rows:
            return
        for row in rows:
            yield _row_to_entry(row)
        last_id = rows[-1].id


async def verify_chain(conn: Connection) -> int | None:
    """The id of the first entry that does not chain, or None when the log is intact."""
    expected_prev = GENESIS_HASH
    async for entry in iter_entries(conn):
        details_json = json.dumps(entry.details, sort_keys=True, separators=(",", ":"), default=str)
        digest = entry_hash(
            entry.prev_hash, entry.id, entry.at, entry.actor, entry.action, entry.subject, details_json
        )
        if entry.prev_hash != expected_prev or digest != entry.hash:
            return entry.id
        expected_prev = entry.hash
    head = (await conn.execute(sa.select(audit_head.c.last_hash).where(audit_head.c.id == 1))).scalar_one()
    if head != expected_prev:  # the newest entries were deleted
        last = (await conn.execute(sa.select(sa.func.max(audit_log.c.id)))).scalar()
        return (last or 0) + 1
    return None


async def entries_for_subject(conn: Connection, subject: str, limit: int = 20) -> list[AuditEntry]:
    """The most recent entries about a subject or by an actor, newest first."""
    query = (
        sa.select(audit_log)
        .where(sa.or_(audit_log.c.subject == subject, audit_log.c.actor == subject))
        .order_by(audit_log.c.id.desc())
        .limit(limit)
    )
    return [_row_to_entry(row) for row in (await conn.execute(query)).all()]


CSV_FIELDS = ["id", "at", "actor", "action", "subject", "details", "prev_hash", "hash"]


def format_entry(entry: AuditEntry, fmt: str) -> str:
    """One line of an export: JSON Lines or CSV (details as JSON in one column)."""
    data = entry.as_json()
    if fmt == "jsonl":
        return json.dumps(data, sort_keys=True, ensure_ascii=False)
    buffer = io.StringIO()
    data["details"] = json.dumps(entry.details, sort_keys=True, ensure_ascii=False)
    csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="").writerow(data)
    return buffer.getvalue()
