"""The append-only, hash-chained audit log."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from workflows.connection import PENDING_AUDIT, Connection, note_for_commit
from workflows.tables import audit_head, audit_log, audit_unsealed

if TYPE_CHECKING:
    from workflows.db import Database

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


PENDING = PENDING_AUDIT  # key in the connection's info: entries waiting for the commit
QUEUED = "audit.queued"  # commit note: the transaction queued entries for the sealer
SEAL_BATCH = 500  # entries chained per sealing transaction


async def record(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Add one entry to the caller's transaction: it commits with the state change it describes, and
    is chained moments later by the sealer (`seal`)."""
    details_json = json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"), default=str)
    conn.info.setdefault(PENDING, []).append((at, actor, action, subject, details_json))


def discard_pending(conn: Connection) -> None:
    """Forget entries of a transaction that will not commit (the connection returns to the pool)."""
    conn.info.pop(PENDING, None)


# Built once: every write transaction queues entries.
_QUEUE_ENTRY = audit_unsealed.insert().inline()  # inline: no RETURNING of the new seq


async def append_pending(conn: Connection) -> None:
    """Queue the transaction's entries for the chain, in the order they were recorded.

    Why a queue and not the chain itself: chaining needs the previous entry's hash, so every append
    holds the chain's head until its transaction commits. On PostgreSQL that made all writes of all
    replicas take turns on one row for several round trips each, which halved write throughput
    (BENCHMARKS.md). Queued entries are committed with their change, so nothing is lost; the sealer
    chains them in batches, and everything that reads the log seals first."""
    pending = conn.info.pop(PENDING, None)
    if not pending:
        return
    rows = [
        {"at": at, "actor": actor, "action": action, "subject": subject, "details": details}
        for at, actor, action, subject, details in pending
    ]
    await conn.insert_later(_QUEUE_ENTRY, rows[0] if len(rows) == 1 else rows)
    note_for_commit(conn, QUEUED, True)


_OLDEST_QUEUED = (
    sa.select(audit_unsealed).order_by(audit_unsealed.c.seq).limit(sa.bindparam("limit", type_=sa.Integer))
)
_ANY_QUEUED = sa.select(audit_unsealed.c.seq).limit(1)
_UNQUEUE = audit_unsealed.delete().where(audit_unsealed.c.seq == sa.bindparam("queued_seq"))
_INSERT_ENTRIES = audit_log.insert()
_SET_HEAD = audit_head.update().where(audit_head.c.id == 1).values(last_hash=sa.bindparam("last_hash"))
# SQLite: the head and the last id in one read; the sealing transaction holds the only write lock, so
# the next ids are known (one past the largest, as SQLite itself assigns them).
_HEAD_AND_LAST_ID = sa.select(
    audit_head.c.last_hash, sa.select(sa.func.max(audit_log.c.id)).scalar_subquery()
).where(audit_head.c.id == 1)
# PostgreSQL: lock the head first (one sealer at a time across replicas), then draw ids from the
# table's sequence while holding it, so they increase along the chain.
_LOCK_HEAD = (
    audit_head.update()
    .where(audit_head.c.id == 1)
    .values(id=audit_head.c.id)
    .returning(audit_head.c.last_hash)
)
_DRAW_IDS = sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence("audit_log", "id"))).select_from(
    sa.func.generate_series(1, sa.bindparam("count", type_=sa.Integer))
)


async def seal_batch(conn: Connection, limit: int = SEAL_BATCH) -> int:
    """Chain up to `limit` queued entries, oldest first, in the caller's write transaction; how many.

    On PostgreSQL the queue is read after the head is locked: a sealer that held it before has
    committed by then, so its entries are gone from what this one sees, and none is chained twice.
    Entries are unqueued one by one, never by range: a lower sequence number may commit later."""
    if conn.dialect.name == "sqlite":
        prev_hash, last_id = (await conn.execute(_HEAD_AND_LAST_ID)).one()
    else:
        prev_hash = (await conn.execute(_LOCK_HEAD)).scalar_one()
    queued = (await conn.execute(_OLDEST_QUEUED, {"limit": limit})).all()
    if not queued:
        return 0
    if conn.dialect.name == "sqlite":
        first = (last_id or 0) + 1
        ids = list(range(first, first + len(queued)))
    else:
        ids = sorted((await conn.execute(_DRAW_IDS, {"count": len(queued)})).scalars())
    entries = [(q.at, q.actor, q.action, q.subject, q.details) for q in queued]
    rows = _chained_rows(prev_hash, ids, entries)
    await conn.execute(_INSERT_ENTRIES, rows)
    await conn.execute(_UNQUEUE, [{"queued_seq": q.seq} for q in queued])
    await conn.execute(_SET_HEAD, {"last_hash": rows[-1]["hash"]})
    return len(rows)


async def seal(db: Database) -> int:
    """Chain every entry queued so far, in batches; how many. The log's readers call this first, so
    what they show includes every committed change."""
    async with db.read() as conn:
        if (await conn.execute(_ANY_QUEUED)).first() is None:
            return 0
    total = 0
    while True:
        async with db.write() as conn:
            sealed = await seal_batch(conn, SEAL_BATCH)
        total += sealed
        if sealed < SEAL_BATCH:
            return total


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
    """Hold the chain's head for the rest of the transaction: sweeps on several replicas take turns
    on it (requests never take it, and a sealer waits for the sweep to commit)."""
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
