"""Open case on an insider-risk alert: an internal, named case that carries the alert's evidence."""

from __future__ import annotations

import json
from datetime import datetime

from config.catalog import Catalog
from workflows import signals
from workflows.cases import CaseInfo, case_ref, require_investigator
from workflows.connection import Connection
from workflows.errors import AlreadyDecided
from workflows.reports import file_report


async def open_case_from_alert(
    conn: Connection, catalog: Catalog, now: datetime, *, alert_id: int, actor: str
) -> CaseInfo:
    """Only investigators; the first click opens the case, later clicks learn which case it was."""
    await require_investigator(conn, catalog, actor)
    alert = await signals.get_alert(conn, alert_id)
    if alert.status != "open":
        raise AlreadyDecided(f"{alert.case_ref} was already opened from this alert by <@{alert.handled_by}>.")
    evidence = alert.evidence
    secrets = evidence.get("secrets") or ([evidence["secret"]] if evidence.get("secret") else [])
    title = signals.TITLES.get(alert.kind, alert.kind)
    filed = await file_report(
        conn,
        catalog,
        now,
        user_id=actor,
        anonymous=False,
        secret_id=secrets[0] if len(secrets) == 1 and catalog.secret(secrets[0]) else None,
        what_happened=f"Opened from insider-risk alert {alert.id}: {title}.\nSubject: {alert.subject}\n"
        f"Evidence: {json.dumps(evidence, sort_keys=True)}",
    )
    await signals.mark_case_opened(
        conn, catalog, now, alert_id=alert_id, actor=actor, case_ref=case_ref(filed.case.id)
    )
    return filed.case
