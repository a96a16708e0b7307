"""Block Kit for the sweep's batched message: one heading per item type, one or two blocks per item.

A new item type (a new sweep step) registers an ItemType in ITEM_TYPES; an unknown type still renders,
from its `text`, so a message is never lost to a missing renderer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config.catalog import Secret
from handlers.blocks.agreements import acknowledge_section
from handlers.blocks.classification import classification_review_item, classification_review_summary
from handlers.blocks.common import (
    actions,
    button,
    context,
    escape,
    message,
    modal,
    option,
    plain,
    section,
    slack_date,
    user,
)
from handlers.blocks.training import training_due_item, training_due_summary
from handlers.ids import Action, Block, CaseAction, View
from workflows.access import GrantInfo, describe_hours
from workflows.reviews import ReviewOutcome

Item = dict[str, Any]
Blocks = list[dict[str, Any]]


@dataclass(frozen=True)
class ItemType:
    heading: str  # mrkdwn heading above the items of this type
    summary: Callable[[Item], str]  # one line: the notification text and `confide nudges` output
    blocks: Callable[[Item], Blocks]


def _secret(item: Item) -> str:
    return f"*{escape(item['secret_name'])}*"


def review_block_id(grant_id: int) -> str:
    return f"review_{grant_id}"


def _review_due(item: Item) -> Blocks:
    reminder = f" · reminder {item['reminder']}" if item.get("reminder") else ""
    return [
        section(
            f"*G-{item['grant_id']}* {user(item['grantee'])} — {_secret(item)}\n"
            f"Granted {slack_date(item['granted_at'])}, ends {slack_date(item['expires_at'])}; "
            f"review due {slack_date(item['review_due_at'])}{reminder}"
        ),
        actions(
            button("Keep", Action.KEEP_GRANT, str(item["grant_id"]), "primary"),
            {
                **button("Revoke", Action.REVOKE_GRANT, str(item["grant_id"]), "danger"),
                "confirm": {
                    "title": {"type": "plain_text", "text": "Revoke access?"},
                    "text": {"type": "mrkdwn", "text": f"{user(item['grantee'])} loses access now."},
                    "confirm": {"type": "plain_text", "text": "Revoke"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                },
            },
            block_id=review_block_id(item["grant_id"]),
        ),
    ]


def _review_escalation(item: Item) -> Blocks:
    owners = ", ".join(user(o) for o in item.get("owners") or []) or "nobody"
    return [
        section(
            f"*G-{item['grant_id']}* {user(item['grantee'])} — {_secret(item)}: review due since "
            f"{slack_date(item['review_due_at'])}; {owners} reminded {item['reminders']} time(s)."
        )
    ]


def _request_reminder(item: Item) -> Blocks:
    what = "an extension of" if item.get("kind") == "extend" else "access to"
    approved = item.get("approved_by") or []
    progress = f"{len(approved)} of {item['approvals_needed']} approvals"
    return [
        section(
            f"*R-{item['request_id']}* {user(item['requester'])} asks for {what} {_secret(item)} for "
            f"{describe_hours(item['duration_hours'])}, since {slack_date(item['created_at'])} "
            f"({progress}; expires {slack_date(item['expires_at'])})\n>{escape(item['justification'])}"
        ),
        actions(
            button("Approve", Action.APPROVE_REQUEST, str(item["request_id"]), "primary"),
            button("Deny", Action.DENY_REQUEST, str(item["request_id"]), "danger"),
            block_id=f"remind_{item['request_id']}",
        ),
    ]


def _request_expired(item: Item) -> Blocks:
    again = (
        f"`/access extend G-{item['grant_id']} <justification>`"
        if item.get("kind") == "extend" and item.get("grant_id")
        else f"`/access request {item['secret_id']} <justification>`"
    )
    return [
        section(
            f"Your request *R-{item['request_id']}* for {_secret(item)} expired: no decision within "
            f"{item['hours']} hours. To ask again: {again}"
        )
    ]


def _grant_expiring(item: Item) -> Blocks:
    return [
        section(
            f"Your access to {_secret(item)} (G-{item['grant_id']}) ends {slack_date(item['expires_at'])}.",
            accessory=button("Extend", Action.EXTEND_GRANT, str(item["grant_id"]), "primary"),
        )
    ]


def _grant_expired(item: Item) -> Blocks:
    text = f"Your access to {_secret(item)} (G-{item['grant_id']}) has expired."
    if item.get("extension_request"):
        text += f" Your extension request R-{item['extension_request']} was withdrawn."
    text += f" Need it again? `/access request {item['secret_id']} <justification>`"
    return [section(text)]


def _agreement_owed(item: Item) -> Blocks:
    note = f"⚠️ Overdue since {slack_date(item['due_at'], '{date_short}')}"
    if item.get("reminder", 0) > 1:
        note += f" · reminder {item['reminder']}"
    agreement = {k: item.get(k) for k in ("title", "version", "url")} | {"id": item["agreement_id"]}
    return [acknowledge_section(agreement, note + ".")]


def _agreement_escalation(item: Item) -> Blocks:
    named = ", ".join(user(u) for u in item["users"])
    more = item["count"] - len(item["users"])
    if more > 0:
        named += f" and {more} more"
    return [
        section(
            f"*{escape(item['title'])}* ({escape(item['version'])}): still not acknowledged after "
            f"{item['reminders']} reminders by {named} (owed since "
            f"{slack_date(item['oldest_owed_since'], '{date_short}')} at the earliest). "
            "`/nda status` lists everyone outstanding."
        )
    ]


def _case_not_taken(item: Item) -> Blocks:
    return [
        section(
            f"*{item['ref']}* ({escape(item['status'])}) should have been taken by "
            f"{slack_date(item['ack_due_at'], '{date_short}')}: nobody has it yet.",
            accessory=button("Take case", CaseAction.TAKE, str(item["case_id"]), "primary"),
        )
    ]


def _case_feedback_due(item: Item) -> Blocks:
    owner = user(item["assignee"]) if item.get("assignee") else "nobody has the case"
    return [
        section(
            f"*{item['ref']}* ({escape(item['status'])}, {owner}): the reporter was due to hear back "
            f"by {slack_date(item['feedback_due_at'], '{date_short}')}. A message through Confide "
            "reaches them, anonymous or not.",
            accessory=button("Message reporter", CaseAction.MESSAGE_REPORTER, str(item["case_id"])),
        )
    ]


ITEM_TYPES: dict[str, ItemType] = {
    "review_due": ItemType(
        "🔍 *Access reviews due* — does each person still need access?",
        lambda i: f"review due: G-{i['grant_id']} {i['secret_name']} (<@{i['grantee']}>)",
        _review_due,
    ),
    "review_escalation": ItemType(
        "🚨 *Overdue access reviews* — the owners have not answered",
        lambda i: f"review overdue: G-{i['grant_id']} {i['secret_name']} (<@{i['grantee']}>)",
        _review_escalation,
    ),
    "request_reminder": ItemType(
        "⏳ *Requests waiting for your decision*",
        lambda i: f"request waiting: R-{i['request_id']} {i['secret_name']} from <@{i['requester']}>",
        _request_reminder,
    ),
    "request_expired": ItemType(
        "⌛ *Your requests that expired*",
        lambda i: f"request expired: R-{i['request_id']} {i['secret_name']}",
        _request_expired,
    ),
    "grant_expiring": ItemType(
        "⏰ *Access ending within a day*",
        lambda i: f"access ends soon: G-{i['grant_id']} {i['secret_name']}",
        _grant_expiring,
    ),
    "grant_expired": ItemType(
        "⌛ *Access that has ended*",
        lambda i: f"access expired: G-{i['grant_id']} {i['secret_name']}",
        _grant_expired,
    ),
    "training_due": ItemType("🎓 *Training to complete*", training_due_summary, training_due_item),
    "classification_review": ItemType(
        "🗂️ *Classification reviews* — is each secret still a trade secret?",
        classification_review_summary,
        classification_review_item,
    ),
    "agreement_owed": ItemType(
        "✍️ *Confidentiality agreements to acknowledge* — read it, then click I acknowledge",
        lambda i: f"agreement to acknowledge: {i['title']} ({i['version']})",
        _agreement_owed,
    ),
    "agreement_escalation": ItemType(
        "🚨 *Agreements still outstanding* — the reminders went unanswered",
        lambda i: f"agreement outstanding: {i['title']} ({i['version']}), {i['count']} people",
        _agreement_escalation,
    ),
    "case_not_taken": ItemType(
        "🕵️ *Leak cases nobody has taken*",
        lambda i: f"case not taken: {i['ref']}",
        _case_not_taken,
    ),
    "case_feedback_due": ItemType(
        "📨 *Reporters waiting to hear back*",
        lambda i: f"reporter waiting: {i['ref']}",
        _case_feedback_due,
    ),
}

_UNKNOWN = ItemType(
    "*Other*",
    lambda i: str(i.get("text") or i["type"]),
    lambda i: [section(escape(str(i.get("text") or i["type"])))],
)


def nudges_message(data: dict[str, Any]) -> dict[str, Any]:
    """The one message a recipient gets from a sweep, grouped by item type."""
    items: list[Item] = data["items"]
    order = list(ITEM_TYPES)
    groups: dict[str, list[Item]] = {}
    for item in sorted(items, key=lambda i: order.index(i["type"]) if i["type"] in order else len(order)):
        groups.setdefault(item["type"], []).append(item)
    blocks: Blocks = []
    for item_type, group in groups.items():
        kind = ITEM_TYPES.get(item_type, _UNKNOWN)
        blocks.append(section(kind.heading))
        for item in group:
            blocks += kind.blocks(item)
    if data.get("pages", 1) > 1:
        blocks.append(context(f"Part {data['page']} of {data['pages']}"))
    summaries = [ITEM_TYPES.get(i["type"], _UNKNOWN).summary(i) for i in items]
    text = f"Confide: {len(items)} item(s) — " + "; ".join(summaries)
    return message(text, blocks)


def review_outcome_line(outcome: ReviewOutcome) -> str:
    secret = f"*{escape(outcome.secret_name)}*"
    if outcome.outcome == "kept" and outcome.next_review_at is not None:
        return (
            f"✅ G-{outcome.grant_id} kept by {user(outcome.by)}: {user(outcome.grantee)} keeps access to "
            f"{secret}; next review {slack_date(outcome.next_review_at)}."
        )
    return (
        f"🚫 G-{outcome.grant_id} revoked by {user(outcome.by)}: {user(outcome.grantee)} no longer has "
        f"access to {secret} and has been told."
    )


def review_recorded(original_blocks: Blocks, outcome: ReviewOutcome) -> dict[str, Any]:
    """The review message after a Keep or Revoke: that grant's buttons become the outcome."""
    line = review_outcome_line(outcome)
    blocks = [
        context(line) if block.get("block_id") == review_block_id(outcome.grant_id) else block
        for block in original_blocks
    ]
    return message(line, blocks)


def extend_modal(grant: GrantInfo, secret: Secret) -> dict[str, Any]:
    """The Extend form: how much longer and why; it files an extension request for the owners."""
    days = [d for d in (1, 7, 14, 30, 60, 90, 180, 365) if d <= secret.max_days]
    blocks: Blocks = [
        section(
            f"Ask the owners of *{escape(secret.name)}* to extend G-{grant.id}, which ends "
            f"{slack_date(grant.expires_at)}. Your access continues until then while they decide."
        ),
        {
            "type": "input",
            "block_id": Block.DURATION,
            "optional": True,
            "label": plain("Duration"),
            "hint": plain(f"Leave empty for the secret's default ({secret.default_days} days)."),
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": [option("1 day" if d == 1 else f"{d} days", f"{d}d") for d in days],
            },
        },
        {
            "type": "input",
            "block_id": Block.JUSTIFICATION,
            "label": plain("Justification"),
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "multiline": True,
                "max_length": 2000,
            },
        },
    ]
    return modal(
        View.EXTEND_GRANT, "Extend access", blocks, submit="Ask owners", private_metadata=str(grant.id)
    )
