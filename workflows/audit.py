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
from sqlalchemy.ext.asyncio import AsyncConnection

from workflows.tables import audit_head, audit_log

GENESIS_HASH = "0" * 64
ANONYMOUS = "anonymous"  # the only actor ever recorded for an anonymous reporter
SYSTEM = "confide"  # the actor for what the sweep and start-up do on their own


# Built once: every state change appends an entry, and building these per call cost more than running them.
# The head row is locked and the entry's id taken in one statement, so the hash can be computed before
# the insert: three statements per entry, the fewest that keep appends ordered while the lock is held.
_LOCK_HEAD_AND_TAKE_ID = {
    "postgresql": sa.select(
        audit_head.c.last_hash, sa.func.nextval(sa.func.pg_get_serial_sequence("audit_log", "id"))
    )
    .where(audit_head.c.id == 1)
    .with_for_update(),
    # SQLite has one writer at a time, so the next id is simply the next one.
    "sqlite": sa.select(
        audit_head.c.last_hash,
        sa.select(sa.func.coalesce(sa.func.max(audit_log.c.id), 0) + 1).scalar_subquery(),
    ).where(audit_head.c.id == 1),
}
_INSERT_ENTRY = audit_log.insert()
_MOVE_HEAD = audit_head.update().where(audit_head.c.id == 1).values(last_hash=sa.bindparam("digest"))


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


async def record(
    conn: AsyncConnection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry in the caller's transaction; returns its id."""
    details_json = json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"), default=str)
    # Locking the head row orders appends across processes (SQLite already serialises writers).
    prev_hash, entry_id = (await conn.execute(_LOCK_HEAD_AND_TAKE_ID[conn.dialect.name])).one()
    digest = entry_hash(prev_hash, entry_id, at, actor, action, subject, details_json)
    await conn.execute(
        _INSERT_ENTRY,
        {
            "id": entry_id,
            "at": at,
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details_json,
            "prev_hash": prev_hash,
            "hash": digest,
        },
    )
    await conn.execute(_MOVE_HEAD, {"digest": digest})
    return int(entry_id)


def _row_to_entry(row: sa.Row[Any]) -> AuditEntry:
    return AuditEntry(
        row.id, row.at, row.actor, row.action, row.subject, json.loads(row.details), row.prev_hash, row.hash
    )


async def iter_entries(
    conn: AsyncConnection,
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


async def verify_chain(conn: AsyncConnection) -> int | None:
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


async def entries_for_subject(conn: AsyncConnection, subject: str, limit: int = 20) -> list[AuditEntry]:
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
