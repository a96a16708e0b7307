"""Block Kit for classification reviews: the owners' question in the sweep's message, the Declassify and
Change owners forms, the outcomes, the declassification notice and the dashboard section."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from config.catalog import SLACK_USER_ID, Secret
from handlers.blocks.common import (
    actions,
    button,
    context,
    escape,
    message,
    modal,
    plain,
    principal,
    section,
    slack_date,
    user,
)
from handlers.blocks.paging import capped_lines, line_sections
from handlers.ids import ClassificationAction, ClassificationBlock, ClassificationView
from workflows.classification import (
    DECLASSIFIED,
    OWNERS_CHANGE,
    STILL_SECRET,
    ClassificationStatus,
    RecordedOutcome,
    ReviewAnswer,
)

LIST_LIMIT = 10


def review_block_id(secret_id: str) -> str:
    return f"classify_{secret_id}"


# ---- the sweep's item --------------------------------------------------------------------------------


def classification_review_item(item: dict[str, Any]) -> list[dict[str, Any]]:
    if item.get("last_reviewed_at"):
        since = f"last reviewed {slack_date(item['last_reviewed_at'], '{date_short}')}"
    else:
        since = f"catalogued {slack_date(item['first_seen_at'], '{date_short}')}"
    reminder = f" · reminder {item['reminder']}" if item.get("reminder") else ""
    secret_id = item["secret_id"]
    return [
        section(
            f"*{escape(item['secret_name'])}* (`{secret_id}`, {item['classification']}) — {since}; "
            f"review due {slack_date(item['review_due_at'], '{date_short}')}{reminder}\n"
            "Is it still a trade secret: valuable because it is not generally known, and worth protecting?"
        ),
        actions(
            button("Still secret", ClassificationAction.STILL_SECRET, secret_id, "primary"),
            button("Declassify", ClassificationAction.DECLASSIFY, secret_id, "danger"),
            button("Change owners", ClassificationAction.CHANGE_OWNERS, secret_id),
            block_id=review_block_id(secret_id),
        ),
    ]


def classification_review_summary(item: dict[str, Any]) -> str:
    return f"classification review: {item['secret_name']}"


# ---- answers -------------------------------------------------------------------------------------------


def outcome_line(answer: ReviewAnswer) -> str:
    secret = f"*{escape(answer.secret_name)}*"
    if answer.outcome == DECLASSIFIED:
        return (
            f"🔓 {secret} declassified by {user(answer.by)}: {answer.grants_ended} grant(s) ended, "
            f"{answer.requests_cancelled} pending request(s) cancelled; new requests are refused."
        )
    next_review = slack_date(answer.next_review_at, "{date_short}") if answer.next_review_at else "—"
    if answer.outcome == OWNERS_CHANGE:
        owners = ", ".join(user(o) for o in answer.owners)
        return (
            f"👥 New owners for {secret} recorded by {user(answer.by)} for the next catalog edit: {owners}. "
            f"Next review {next_review}."
        )
    return f"✅ {secret} confirmed still secret by {user(answer.by)}; next review {next_review}."


def review_recorded(original_blocks: list[dict[str, Any]], answer: ReviewAnswer) -> dict[str, Any]:
    """The review message after Still secret: that secret's buttons become the outcome."""
    line = outcome_line(answer)
    block_id = review_block_id(answer.secret_id)
    blocks = [context(line) if b.get("block_id") == block_id else b for b in original_blocks]
    return message(line, blocks)


def _note_input(hint: str) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": ClassificationBlock.NOTE,
        "optional": True,
        "label": plain("Note"),
        "hint": plain(hint),
        "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 2000},
    }


def declassify_modal(secret: Secret) -> dict[str, Any]:
    blocks = [
        section(
            f"Declassify *{escape(secret.name)}* (`{secret.id}`)? Every active grant ends now and its "
            "holders are told; pending requests are cancelled and new ones refused."
        ),
        _note_input("Why it is no longer a trade secret; kept with the review outcome."),
    ]
    return modal(
        ClassificationView.DECLASSIFY, "Declassify", blocks, submit="Declassify", private_metadata=secret.id
    )


def owners_modal(secret: Secret) -> dict[str, Any]:
    current = ", ".join(principal(o) for o in secret.owners)
    element: dict[str, Any] = {"type": "multi_users_select", "action_id": "value"}
    people = [o for o in secret.owners if SLACK_USER_ID.match(o)]
    if people:
        element["initial_users"] = people
    blocks = [
        section(
            f"Who should own *{escape(secret.name)}* (`{secret.id}`)? Now: {current}.\n"
            "The change is recorded for the next catalog edit; the catalog stays the source of truth."
        ),
        {
            "type": "input",
            "block_id": ClassificationBlock.OWNERS,
            "label": plain("New owners"),
            "element": element,
        },
        _note_input("Optional; kept with the review outcome."),
    ]
    return modal(
        ClassificationView.CHANGE_OWNERS, "Change owners", blocks, submit="Record", private_metadata=secret.id
    )


# ---- the outbox kind `secret_declassified` -------------------------------------------------------------


def secret_declassified(data: dict[str, Any]) -> dict[str, Any]:
    secret = f"*{escape(data['secret_name'])}*"
    if data.get("owner"):
        text = (
            f"🔓 {user(data['by'])} declassified {secret}, which you own: its grants have ended and new "
            "requests are refused. Please remove it from the catalog at the next edit."
        )
        return message(text, [section(text)])
    text = f"🔓 {secret} is no longer treated as a trade secret: {user(data['by'])} declassified it."
    ended = [f"G-{g}" for g in data.get("grants") or []]
    cancelled = [f"R-{r}" for r in data.get("requests") or []]
    if ended:
        text += f" Your access ({', '.join(ended)}) has ended."
    if cancelled:
        text += f" Your pending request ({', '.join(cancelled)}) was cancelled."
    return message(text, [section(text)])


# ---- /confide status ------------------------------------------------------------------------------------


def _recorded_line(outcome: RecordedOutcome) -> str:
    secret = f"*{escape(outcome.secret_name)}*"
    when = slack_date(outcome.at, "{date_short}")
    if outcome.outcome == STILL_SECRET:
        line = f"• ✅ {secret} still secret — {user(outcome.by)}, {when}"
    elif outcome.outcome == DECLASSIFIED:
        line = f"• 🔓 {secret} declassified — {user(outcome.by)}, {when}"
    else:
        owners = ", ".join(user(o) for o in outcome.owners)
        line = f"• 👥 {secret} new owners proposed ({owners}) — {user(outcome.by)}, {when}"
    if outcome.note:
        line += f"\n    _{escape(' '.join(outcome.note.split())[:200])}_"
    return line


def status_blocks(status: ClassificationStatus, now: datetime) -> list[dict[str, Any]]:
    due = [
        f"• *{escape(d.secret_name)}* — "
        + (
            f"overdue since {slack_date(d.review_due_at, '{date_short}')}, owners asked {d.reminders} time(s)"
            if d.review_due_at <= now
            else f"due {slack_date(d.review_due_at, '{date_short}')}"
        )
        for d in status.due
    ]
    blocks = [section(f"*Classification reviews due in the next 7 days or overdue: {len(due)}*")]
    blocks += line_sections(capped_lines(due, LIST_LIMIT)) if due else [context("None.")]
    if status.owner_changes:
        lines = [
            f"• *{escape(c.secret_name)}* (`{c.secret_id}`): owners {', '.join(user(o) for o in c.proposed)} "
            f"proposed by {user(c.by)} {slack_date(c.at, '{date_short}')}; the catalog says "
            f"{', '.join(principal(o) for o in c.catalog_owners)}"
            for c in status.owner_changes
        ]
        blocks.append(section("*Owner changes for the next catalog edit*"))
        blocks += line_sections(capped_lines(lines, LIST_LIMIT))
    if status.declassified:
        names = ", ".join(f"*{escape(d.secret_name)}* (`{d.secret_id}`)" for d in status.declassified)
        blocks.append(context(f"Declassified, still in the catalog (remove at the next edit): {names}"))
    blocks.append(section("*Recent classification review outcomes*"))
    if status.recent:
        blocks += line_sections([_recorded_line(o) for o in status.recent])
    else:
        blocks.append(context("No review answered yet."))
    return blocks
