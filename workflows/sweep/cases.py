"""Sweep step for case deadlines: a case not taken within `case_ack_days` nudges the security channel;
a reporter without feedback for `case_feedback_days` nudges the investigators. Again every
`review_reminder_days` until the case is taken, the reporter hears back, or the case is closed.

Nothing about the reporter goes into a nudge or its audit entry: only the case's number, status,
assignee and deadlines.
"""

from __future__ import annotations

from datetime import datetime

from config.catalog import Catalog
from workflows import audit
from workflows.case_deadlines import CaseNudge, claim_due_case_nudges, nudge_recipients
from workflows.connection import Connection
from workflows.sweep.collector import Collector


def _item(nudge: CaseNudge) -> dict[str, object]:
    return {
        "case_id": nudge.case_id,
        "ref": nudge.ref,
        "status": nudge.status,
        "assignee": nudge.assignee,
        "ack_due_at": nudge.ack_due_at,
        "feedback_due_at": nudge.feedback_due_at,
        "notice": nudge.notify_count,
    }


async def nudge_case_deadlines(
    conn: Connection, catalog: Catalog, now: datetime, collector: Collector
) -> None:
    """Claim the cases with a deadline passed (one conditional UPDATE) and tell who must act."""
    for nudge in await claim_due_case_nudges(conn, catalog, now):
        recipients = await nudge_recipients(conn, catalog, nudge)
        for recipient in recipients:
            # The security channel hears that nobody took the case; people, that the reporter waits.
            untaken = nudge.ack_overdue and recipient == catalog.security_channel
            collector.add(recipient, "case_not_taken" if untaken else "case_feedback_due", **_item(nudge))
        await audit.record(
            conn,
            at=now,
            actor=audit.SYSTEM,
            action="case.deadline_nudged",
            subject=nudge.ref,
            details={
                "not_taken": nudge.ack_overdue,
                "feedback_owed": nudge.feedback_overdue,
                "notice": nudge.notify_count,
                "told": recipients,
            },
        )
