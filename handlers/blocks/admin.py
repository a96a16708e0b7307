"""Block Kit for the admins' tools: /confide audit."""

from __future__ import annotations

import json
from typing import Any

from handlers.blocks.common import context, escape, message, section, slack_date, truncate
from workflows.audit import AuditEntry
from workflows.compliance import USER_ID

DETAILS_LIMIT = 400


def _actor(actor: str) -> str:
    return f"<@{actor}>" if USER_ID.match(actor) else f"`{escape(actor)}`"


def audit_entry_line(entry: AuditEntry) -> str:
    details = truncate(json.dumps(entry.details, sort_keys=True, ensure_ascii=False), DETAILS_LIMIT)
    return (
        f"`#{entry.id}` {slack_date(entry.at)} · {_actor(entry.actor)} · *{escape(entry.action)}* "
        f"· `{escape(entry.subject)}`\n`{escape(details)}`"
    )


def audit_trail(subject: str, entries: list[AuditEntry]) -> dict[str, Any]:
    """/confide audit: newest first, one section per entry."""
    if not entries:
        text = f"No audit entries about `{subject}`."
        return message(text, [section(text)])
    text = f"The {len(entries)} most recent audit entries about `{subject}`, newest first."
    blocks = [section(f"*{text}*"), *(section(audit_entry_line(e)) for e in entries[:45])]
    blocks.append(context("`confide audit export` writes the whole log; `confide audit verify` checks it."))
    return message(text, blocks)
