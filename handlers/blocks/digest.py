"""Block Kit for the weekly digest: one section per digest section, whatever features provide them."""

from __future__ import annotations

from typing import Any

from handlers.blocks.common import message, section, slack_date


def weekly_digest(data: dict[str, Any]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        section(f"📊 *Confide weekly digest* — {slack_date(data['at'], '{date_long}')}")
    ]
    for part in data["sections"]:
        lines = "\n".join(f"• {line}" for line in part["lines"]) or "_Nothing to report._"
        blocks.append(section(f"*{part['title']}* — {part['summary']}\n{lines}"))
    summary = "; ".join(part["summary"] for part in data["sections"])
    return message(f"Confide weekly digest: {summary}", blocks)
