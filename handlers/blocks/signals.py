"""Block Kit for insider-risk alerts in the security channel."""

from __future__ import annotations

from typing import Any

from handlers.blocks.common import actions, button, context, escape, message, section, slack_date, user
from handlers.ids import Action


def _evidence_lines(kind: str, evidence: dict[str, Any]) -> list[str]:
    if kind == "request-burst":
        return [
            f"{user(evidence['user'])} requested {len(evidence['secrets'])} secrets within "
            f"{evidence['hours']} h: " + ", ".join(f"`{s}`" for s in evidence["secrets"]),
            "Requests: " + ", ".join(f"R-{r}" for r in evidence["requests"]),
        ]
    if kind == "out-of-hours":
        return [
            f"{user(evidence['user'])} requested restricted `{evidence['secret']}` at "
            f"{evidence['local_time']} their time ({escape(evidence['time_zone'])}); working hours are "
            f"{evidence['working_hours']}."
        ]
    if kind == "repeated-denials":
        return [
            f"{user(evidence['user'])} was denied {len(evidence['requests'])} times within "
            f"{evidence['days']} days: " + ", ".join(f"R-{r}" for r in evidence["requests"])
        ]
    if kind == "departure":
        grants = ", ".join(
            f"`{g['secret']}` (G-{g['grant']}, {slack_date(g['granted_at'], '{date_short}')})"
            for g in evidence["grants"]
        )
        return [
            f"{user(evidence['user'])} was deactivated within {evidence['days']} days of being granted "
            f"restricted secrets: {grants}"
        ]
    if kind == "receipt-key-spike":
        return [
            f"{evidence['failures_this_hour']} wrong receipt keys this hour (threshold "
            f"{evidence['threshold']}). Who tried is never recorded."
        ]
    return [escape(str(evidence))]


def signal_alert(data: dict[str, Any]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [section(f"🚨 *{escape(data['title'])}* (alert {data['alert_id']})")]
    blocks += [section(line) for line in _evidence_lines(data["kind"], data["evidence"])]
    blocks.append(context(f"Raised {slack_date(data['raised_at'])}"))
    if data["status"] == "open":
        blocks.append(
            actions(
                button("Open case", Action.OPEN_CASE_FROM_ALERT, str(data["alert_id"]), "danger"),
                block_id=f"alert_{data['alert_id']}",
            )
        )
    else:
        blocks.append(section(f"Case {data['case_ref']} opened by {user(data['handled_by'])}."))
    return message(f"Insider-risk alert: {data['title']}", blocks)
