"""A case bundle for counsel: the report, its timeline, messages, evidence with hashes, legal actions,
and the case's audit entries with a verification of the chain they belong to."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from config.catalog import Catalog
from workflows import audit
from workflows.case_actions import text_digest
from workflows.cases import get_case, messages_of, parse_case_ref
from workflows.connection import Connection
from workflows.tables import case_evidence, case_legal_actions

FORMAT = "confide-case-bundle/1"
HASH_RULE = (
    "Each audit entry's hash is sha256(prev_hash + canonical JSON of {id, at, actor, action, subject, "
    "details}) with sorted keys and no spaces; each entry's prev_hash is the hash of the entry before it."
)


def _rehashes(entry: audit.AuditEntry) -> bool:
    details = json.dumps(entry.details, sort_keys=True, separators=(",", ":"), default=str)
    digest = audit.entry_hash(
        entry.prev_hash, entry.id, entry.at, entry.actor, entry.action, entry.subject, details
    )
    return digest == entry.hash


async def export_case(conn: Connection, catalog: Catalog, ref: str, now: datetime) -> dict[str, Any]:
    """Everything about one case as plain JSON; raises NotFound for an unknown case."""
    case = await get_case(conn, catalog, parse_case_ref(ref))
    # entries_for_subject is newest first; the bundle reads in chain order.
    entries = list(reversed(await audit.entries_for_subject(conn, case.ref, limit=1_000_000)))
    evidence_audit = {
        e.details.get("evidence"): e.details for e in entries if e.action == "case.evidence_added"
    }
    evidence_rows = await conn.execute(
        sa.select(case_evidence).where(case_evidence.c.case_id == case.id).order_by(case_evidence.c.id)
    )
    evidence = []
    for row in evidence_rows:
        recorded = evidence_audit.get(row.id) or {}
        evidence.append(
            {
                "id": row.id,
                "description": row.description,
                "link": row.link,
                "sha256": row.sha256,
                "added_by": row.added_by,
                "added_at": row.added_at.isoformat(),
                # The row still says what its audit entry pinned when it was added.
                "matches_audit_entry": recorded.get("description_sha256") == text_digest(row.description)
                and recorded.get("link") == row.link
                and recorded.get("sha256") == row.sha256,
            }
        )
    legal_rows = await conn.execute(
        sa.select(case_legal_actions)
        .where(case_legal_actions.c.case_id == case.id)
        .order_by(case_legal_actions.c.id)
    )
    legal = [
        {
            "id": row.id,
            "kind": row.kind,
            "date": row.action_date.isoformat(),
            "counterparty": row.counterparty,
            "status": row.status,
            "notes": row.notes,
            "subject": row.subject_user,
            "dtsa_notice": row.dtsa_notice,
            "recorded_by": row.recorded_by,
            "recorded_at": row.recorded_at.isoformat(),
        }
        for row in legal_rows
    ]
    first_bad = await audit.verify_chain(conn)
    return {
        "format": FORMAT,
        "case": case.ref,
        "exported_at": now.isoformat(),
        "report": {
            "secret_id": case.secret_id,
            "secret_name": case.secret_name,
            "what_happened": case.what_happened,
            "where_and_when": case.where_when,
            "evidence_links": case.evidence_links,
            "anonymous": case.anonymous,
            "reporter": case.reporter,
            "reported_at": case.created_at.isoformat(),
            "timing_note": "anonymous reports and replies are dated to the day only"
            if case.anonymous
            else None,
        },
        "status": case.status,
        "assignee": case.assignee,
        "subject": case.dtsa.as_json() if case.dtsa else None,
        "deadlines": {
            "ack_due_at": case.ack_due_at.isoformat() if case.ack_due_at else None,
            "feedback_due_at": case.feedback_due_at.isoformat() if case.feedback_due_at else None,
        },
        "timeline": [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action} for e in entries],
        "messages": [
            {"direction": m.direction, "author": m.author, "text": m.body, "at": m.at.isoformat()}
            for m in await messages_of(conn, case.id, internal=True)
        ],
        "evidence": evidence,
        "legal_actions": legal,
        "audit": {
            "entries": [e.as_json() for e in entries],
            "verification": {
                "hash_rule": HASH_RULE,
                "entries_rehash": all(_rehashes(e) for e in entries),
                "chain_intact": first_bad is None,
                "first_bad_entry": first_bad,
            },
        },
    }
