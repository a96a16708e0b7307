"""Block Kit for access requests, grants and the /access command."""

from __future__ import annotations

from typing import Any

from config.catalog import Agreement, Catalog
from handlers.blocks.common import (
    actions,
    button,
    context,
    escape,
    message,
    modal,
    option,
    principal,
    section,
    slack_date,
    user,
)
from handlers.ids import Action, Block, View
from workflows.access import GrantInfo, RequestInfo, SecretListing, describe_hours

ACCESS_USAGE = """*`/access`* — request and manage access to secrets
• `/access` — open the request form
• `/access request <secret-id> [<N>d|<N>h] <justification…>` — request without the form
• `/access list` — your grants and pending requests
• `/access secrets` — the catalog of secrets and whether you have access
• `/access revoke <grant-id>` — revoke a grant (owners, admins) or give up your own
• `/access extend <grant-id> [<N>d] <justification…>` — ask the owners for more time
• `/access help` — this help"""

STATUS_LABEL = {
    "pending": "⏳ Pending",
    "approved": "✅ Approved",
    "denied": "⛔ Denied",
    "expired": "⌛ Expired",
    "cancelled": "🚫 Cancelled",
}


def request_summary(card: dict[str, Any]) -> str:
    what = "extend access to" if card["kind"] == "extend" else "access"
    grant = f" (grant G-{card['grant_id']})" if card.get("grant_id") else ""
    return (
        f"{user(card['requester'])} requests {what} *{escape(card['secret_name'])}*{grant} "
        f"for {describe_hours(card['duration_hours'])}."
    )


def request_card(card: dict[str, Any]) -> dict[str, Any]:
    """The card each approver gets; the same function renders it pending and decided."""
    request_id = card["request_id"]
    blocks = [
        section(f"*Access request R-{request_id}*\n{request_summary(card)}"),
        section(f"*Justification*\n>{escape(card['justification'])}"),
    ]
    status = card["status"]
    approved_by = card.get("approved_by") or []
    if status == "pending":
        progress = f"Approvals: {len(approved_by)} of {card['approvals_needed']}"
        if approved_by:
            progress += " (" + ", ".join(user(u) for u in approved_by) + ")"
        blocks.append(context(progress))
        blocks.append(
            actions(
                button("Approve", Action.APPROVE_REQUEST, str(request_id), "primary"),
                button("Deny", Action.DENY_REQUEST, str(request_id), "danger"),
                block_id=f"request_{request_id}",
            )
        )
    else:
        blocks.append(section(decision_line(card)))
    text = f"Access request R-{request_id}: {STATUS_LABEL.get(status, status)} — {card['secret_name']}"
    return message(text, blocks)


def decision_line(card: dict[str, Any]) -> str:
    status = card["status"]
    line = STATUS_LABEL.get(status, status)
    if card.get("decided_by"):
        line += f" by {user(card['decided_by'])}"
    approved_by = card.get("approved_by") or []
    if status == "approved" and len(approved_by) > 1:
        line += " (approvals: " + ", ".join(user(u) for u in approved_by) + ")"
    if card.get("reason"):
        line += f"\n>{escape(card['reason'])}"
    return line


def request_decided(card: dict[str, Any]) -> dict[str, Any]:
    """The DM to the requester."""
    request_id = card["request_id"]
    status = card["status"]
    secret = escape(card["secret_name"])
    if status == "approved":
        until = f" until {slack_date(card['expires_at'])}" if card.get("expires_at") else ""
        grant = f" (grant G-{card['grant_id']})" if card.get("grant_id") else ""
        text = f"✅ Your request R-{request_id} for *{secret}* was approved{grant}: you have access{until}."
    elif status == "denied":
        text = f"⛔ Your request R-{request_id} for *{secret}* was denied by {user(card['decided_by'])}."
        if card.get("reason"):
            text += f"\nReason: {escape(card['reason'])}"
    else:
        text = f"Your request R-{request_id} for *{secret}* has {status}."
    return message(text, [section(text)])


def grant_ended(data: dict[str, Any]) -> dict[str, Any]:
    secret = escape(data["secret_name"])
    if data["status"] == "expired":
        text = f"⌛ Your access to *{secret}* (G-{data['grant_id']}) has expired."
    else:
        text = f"Your access to *{secret}* (G-{data['grant_id']}) was revoked by {user(data['actor'])}."
    return message(text, [section(text)])


def offboarding_notice(data: dict[str, Any]) -> dict[str, Any]:
    lines = "\n".join(f"• *{escape(g['secret_name'])}* (G-{g['grant_id']})" for g in data["grants"])
    text = f"{user(data['user'])} was deactivated; their access to your secrets ended:\n{lines}"
    return message(text, [section(text)])


def request_filed(info: RequestInfo) -> dict[str, Any]:
    approvers = ", ".join(user(a) for a in info.approvers)
    need = f" ({info.approvals_needed} approvals needed)" if info.approvals_needed > 1 else ""
    text = (
        f"Request R-{info.id} sent: {'extend ' if info.kind == 'extend' else ''}*{escape(info.secret_name)}* "
        f"for {describe_hours(info.duration_hours)}. Waiting for {approvers}{need}. I'll DM you the decision."
    )
    return message(text, [section(text)])


def agreements_prompt(intro: str, owed: list[Agreement]) -> list[dict[str, Any]]:
    """The agreements a person must acknowledge, each with its link and an I acknowledge button."""
    blocks = [section(intro)]
    for agreement in owed:
        link = f"<{agreement.url}|Read it>" if agreement.url else "Ask legal for the text"
        blocks.append(
            section(
                f"*{escape(agreement.title)}* (version {escape(agreement.version)}) — {link}",
                accessory=button(
                    "I acknowledge",
                    Action.ACKNOWLEDGE_AGREEMENT,
                    f"{agreement.id}|{agreement.version}",
                    "primary",
                ),
            )
        )
    return blocks


def my_access(grants: list[GrantInfo], pending: list[RequestInfo], catalog: Catalog) -> dict[str, Any]:
    def name(secret_id: str) -> str:
        secret = catalog.secret(secret_id)
        return escape(secret.name if secret else secret_id)

    blocks: list[dict[str, Any]] = [section("*Your access*")]
    if grants:
        blocks += [
            section(f"• *{name(g.secret_id)}* — G-{g.id}, until {slack_date(g.expires_at)}")
            for g in grants[:20]
        ]
        if len(grants) > 20:
            blocks.append(context(f"…and {len(grants) - 20} more grants."))
    else:
        blocks.append(context("You have no active grants."))
    blocks.append(section("*Pending requests*"))
    if pending:
        blocks += [
            section(
                f"• R-{r.id} *{name(r.secret_id)}* for {describe_hours(r.duration_hours)} — "
                f"{len(r.approved_by)} of {r.approvals_needed} approvals"
            )
            for r in pending[:20]
        ]
    else:
        blocks.append(context("No pending requests."))
    text = f"You have {len(grants)} active grant(s) and {len(pending)} pending request(s)."
    return message(text, blocks)


def secrets_list(listings: list[SecretListing]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [section("*Secrets in the catalog*")]
    for item in listings[:45]:
        s = item.secret
        if item.has_access and item.expires_at:
            mine = f"✅ you have access until {slack_date(item.expires_at)}"
        elif item.pending:
            mine = "⏳ your request is pending"
        else:
            mine = f"no access — `/access request {s.id} <justification>`"
        owners = ", ".join(principal(o) for o in item.owners)
        blocks.append(section(f"*{escape(s.name)}* (`{s.id}`, {s.classification})\nOwners: {owners}\n{mine}"))
    if not listings:
        blocks.append(context("The catalog has no secrets yet."))
    return message(f"{len(listings)} secret(s) in the catalog.", blocks)


def duration_options(catalog: Catalog) -> list[dict[str, Any]]:
    longest = max((s.max_days for s in catalog.secrets), default=180)
    days = [d for d in (1, 7, 14, 30, 60, 90, 180, 365) if d <= longest]
    return [option("1 day" if d == 1 else f"{d} days", f"{d}d") for d in days]


def request_modal(catalog: Catalog) -> dict[str, Any]:
    """The /access form; labels are what people (and acceptance checks) fill in."""
    secret_options = [option(f"{s.name} ({s.id})", s.id) for s in catalog.secrets[:100]]
    blocks: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": Block.SECRET,
            "label": {"type": "plain_text", "text": "Secret"},
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": secret_options,
                "placeholder": {"type": "plain_text", "text": "Which secret?"},
            },
        },
        {
            "type": "input",
            "block_id": Block.DURATION,
            "optional": True,
            "label": {"type": "plain_text", "text": "Duration"},
            "hint": {"type": "plain_text", "text": "Leave empty for the secret's default."},
            "element": {"type": "static_select", "action_id": "value", "options": duration_options(catalog)},
        },
        {
            "type": "input",
            "block_id": Block.JUSTIFICATION,
            "label": {"type": "plain_text", "text": "Justification"},
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "multiline": True,
                "max_length": 2000,
            },
        },
    ]
    return modal(View.ACCESS_REQUEST, "Request access", blocks, submit="Request")


def deny_modal(info: RequestInfo) -> dict[str, Any]:
    blocks = [
        section(request_summary(info.card_data())),
        {
            "type": "input",
            "block_id": Block.REASON,
            "optional": True,
            "label": {"type": "plain_text", "text": "Reason"},
            "hint": {"type": "plain_text", "text": "The requester will see it."},
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "multiline": True,
                "max_length": 2000,
            },
        },
    ]
    return modal(View.DENY_REASON, f"Deny R-{info.id}", blocks, submit="Deny", private_metadata=str(info.id))


def notice_modal(title: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return modal(View.NOTICE, title, blocks, close="Close")
