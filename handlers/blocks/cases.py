"""Block Kit for leak cases: the case card and its thread in the security channel, and the
investigators' modals."""

from __future__ import annotations

from datetime import date
from typing import Any

from handlers.blocks.common import (
    actions,
    button,
    context,
    escape,
    message,
    modal,
    option,
    section,
    slack_date,
    user,
)
from handlers.ids import CaseAction, CaseBlock, CaseView
from workflows.case_actions import LEGAL_KINDS
from workflows.cases import STATUSES, CaseInfo, case_ref

STATUS_NAME = {
    "new": "New",
    "triaging": "Triaging",
    "investigating": "Investigating",
    "escalated-legal": "Escalated to legal",
    "resolved": "Resolved",
    "dismissed": "Dismissed",
}
STATUS_ICON = {
    "new": "🆕",
    "triaging": "🟡",
    "investigating": "🔎",
    "escalated-legal": "⚖️",
    "resolved": "✅",
    "dismissed": "🚫",
}
LEGAL_LABEL = {
    "cease-and-desist": "Cease-and-desist",
    "injunction": "Injunction",
    "litigation": "Litigation",
    "law-enforcement": "Law-enforcement referral",
    "other": "Other",
}


def status_label(status: str) -> str:
    return f"{STATUS_ICON.get(status, '')} {STATUS_NAME.get(status, status)}".strip()


def quote(text: str) -> str:
    """User text as a block quote, every line of it, escaped."""
    return "\n".join(f">{line}" for line in escape(text).splitlines() or [""])


def input_block(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str | None = None
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "optional": optional,
        "element": {"action_id": "value", **element},
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def text_input(*, multiline: bool = False, max_length: int = 3000) -> dict[str, Any]:
    return {"type": "plain_text_input", "multiline": multiline, "max_length": max_length}


def _dtsa_line(data: dict[str, Any]) -> str:
    subject = user(data["subject"])
    dtsa = data.get("dtsa") or {}
    acked = dtsa.get("agreements") or []
    titles = ", ".join(f"{escape(a['title'])} ({escape(a['version'])})" for a in acked)
    if dtsa.get("notice_given"):
        given = ", ".join(f"{escape(a['title'])} ({escape(a['version'])})" for a in acked if a["dtsa_notice"])
        return f"*Subject:* {subject} — ✅ DTSA immunity notice given in {given}"
    if acked:
        return (
            f"*Subject:* {subject} — ⚠️ no DTSA immunity notice in the agreements they acknowledged "
            f"({titles}): exemplary damages and attorney fees may be unavailable"
        )
    return f"*Subject:* {subject} — ⚠️ acknowledged no agreement, so no DTSA immunity notice was given"


def _assignment(data: dict[str, Any]) -> str:
    return f"assigned to {user(data['assignee'])}" if data.get("assignee") else "not taken yet"


def case_summary(data: dict[str, Any]) -> str:
    return f"*{case_ref(data['case_id'])}* · {status_label(data['status'])} · {_assignment(data)}"


def case_card(data: dict[str, Any]) -> dict[str, Any]:
    """The case in the security channel; the same function renders it at every step."""
    case_id = data["case_id"]
    secret = f"*{escape(data['secret_name'])}*" if data.get("secret_name") else "Not sure / other"
    reporter = "Anonymous" if data["anonymous"] else user(data["reporter"])
    blocks = [
        section(case_summary(data)),
        section(
            f"*Secret:* {secret}\n*Reported by:* {reporter} · "
            f"{slack_date(data['created_at'], '{date_short_pretty}')}"
        ),
        section(f"*What happened*\n{quote(data['what_happened'])}"),
    ]
    if data.get("where_when"):
        blocks.append(section(f"*Where and when*\n{quote(data['where_when'])}"))
    if data.get("evidence_links"):
        blocks.append(section(f"*Evidence links*\n{quote(data['evidence_links'])}"))
    if data.get("subject"):
        blocks.append(section(_dtsa_line(data)))
    blocks.append(
        context(
            f"Evidence: {data['evidence_count']} · Legal actions: {data['legal_count']} · "
            f"Messages to the reporter: {data['messages_to_reporter']}"
        )
    )
    value = str(case_id)
    buttons = [
        button("Message reporter", CaseAction.MESSAGE_REPORTER, value),
        button("Add evidence", CaseAction.ADD_EVIDENCE, value),
        button("Record legal action", CaseAction.RECORD_LEGAL, value),
    ]
    if data["status"] not in ("resolved", "dismissed"):
        buttons[:0] = [
            button("Take case", CaseAction.TAKE, value, "primary"),
            button("Update status", CaseAction.UPDATE_STATUS, value),
        ]
    blocks.append(actions(*buttons, block_id=f"case_{case_id}"))
    secret_name = data.get("secret_name") or "Not sure / other"
    text = f"{case_ref(case_id)}: {status_label(data['status'])}, {_assignment(data)} — {secret_name}"
    return message(text, blocks)


def case_note(data: dict[str, Any]) -> dict[str, Any]:
    """A reply in the case's thread: what happened on the case, and by whom."""
    ref = case_ref(data["case_id"])
    event = data["event"]
    by = user(data["by"]) if data.get("by") else ""
    if event == "taken":
        text = f"🙋 {by} took {ref}" + (
            f" over from {user(data['previous'])}" if data.get("previous") else ""
        )
        text += f" ({status_label(data['status'])})."
    elif event == "status":
        text = f"🔄 {by} moved {ref} from {status_label(data['from'])} to {status_label(data['to'])}."
        if data.get("text"):
            text += f"\n{quote(data['text'])}"
    elif event == "message_to_reporter":
        text = f"✉️ {by} wrote to the reporter:\n{quote(data['text'])}"
    elif event == "reporter_reply":
        who = f"{user(data['reporter'])} (the reporter)" if data.get("reporter") else "The anonymous reporter"
        text = f"💬 {who} replied:\n{quote(data['text'])}"
    elif event == "evidence":
        text = f"📎 {by} added evidence:\n{quote(data['description'])}"
        if data.get("link"):
            text += f"\nLink: {escape(data['link'])}"
        if data.get("sha256"):
            text += f"\nSHA-256: `{data['sha256']}`"
    elif event == "legal":
        kind = LEGAL_LABEL.get(data["kind"], data["kind"])
        text = (
            f"⚖️ {by} recorded a legal action: *{kind}* on {data['date']} — counterparty "
            f"*{escape(data['counterparty'])}*, status: {escape(data['status'])}."
        )
        if data.get("subject"):
            notice = "was" if data.get("dtsa_notice") else "was not"
            text += (
                f"\nSubject: {user(data['subject'])}; the DTSA immunity notice {notice} in their agreements."
            )
        if data.get("notes"):
            text += f"\n{quote(data['notes'])}"
    else:
        text = f"{ref}: {event}"
    return message(text, [section(text)])


def _case_modal(
    callback_id: str, title: str, case: CaseInfo, blocks: list[dict[str, Any]], submit: str
) -> dict:
    return modal(callback_id, title, blocks, submit=submit, private_metadata=str(case.id))


def status_modal(case: CaseInfo) -> dict[str, Any]:
    choices = [option(STATUS_NAME[s], s) for s in STATUSES if s not in ("new", case.status)]
    blocks = [
        section(case_summary(case.card_data())),
        input_block(CaseBlock.STATUS, "New status", {"type": "static_select", "options": choices}),
        input_block(
            CaseBlock.NOTE,
            "Note",
            text_input(multiline=True),
            optional=True,
            hint="Posted in the case thread.",
        ),
    ]
    return _case_modal(CaseView.STATUS, f"Update {case.ref}", case, blocks, "Update")


def message_modal(case: CaseInfo) -> dict[str, Any]:
    how = (
        "The reporter is anonymous: they read this with `/report-leak status <receipt-key>`."
        if case.anonymous
        else f"{user(case.reporter or '')} gets it by DM and with `/report-leak status`."
    )
    blocks = [
        context(how),
        input_block(CaseBlock.MESSAGE, "Message to the reporter", text_input(multiline=True)),
    ]
    return _case_modal(CaseView.MESSAGE, f"Message {case.ref}", case, blocks, "Send")


def evidence_modal(case: CaseInfo) -> dict[str, Any]:
    blocks = [
        context("Evidence is append-only: it cannot be edited or removed once added."),
        input_block(CaseBlock.EVIDENCE_DESCRIPTION, "Description", text_input(multiline=True)),
        input_block(CaseBlock.EVIDENCE_LINK, "Link", text_input(), optional=True),
        input_block(
            CaseBlock.EVIDENCE_SHA256,
            "SHA-256",
            text_input(max_length=80),
            optional=True,
            hint="The file's SHA-256 (64 hex characters), e.g. from `shasum -a 256 <file>`.",
        ),
    ]
    return _case_modal(CaseView.EVIDENCE, f"Evidence for {case.ref}", case, blocks, "Add")


def legal_modal(case: CaseInfo, today: date) -> dict[str, Any]:
    kinds = [option(LEGAL_LABEL[k], k) for k in LEGAL_KINDS]
    subject: dict[str, Any] = {"type": "users_select"}
    if case.subject_user:
        subject["initial_user"] = case.subject_user
    blocks = [
        input_block(CaseBlock.LEGAL_KIND, "Legal action", {"type": "static_select", "options": kinds}),
        input_block(CaseBlock.LEGAL_DATE, "Date", {"type": "datepicker", "initial_date": today.isoformat()}),
        input_block(CaseBlock.LEGAL_COUNTERPARTY, "Counterparty", text_input(max_length=200)),
        input_block(
            CaseBlock.LEGAL_STATUS,
            "Status",
            text_input(max_length=100),
            hint="e.g. drafted, sent, filed, granted",
        ),
        input_block(CaseBlock.LEGAL_NOTES, "Notes", text_input(multiline=True), optional=True),
        input_block(
            CaseBlock.LEGAL_SUBJECT,
            "Subject",
            subject,
            optional=True,
            hint="The person suspected; the case shows whether their agreements carried the DTSA notice.",
        ),
    ]
    return _case_modal(CaseView.LEGAL, f"Legal action {case.ref}", case, blocks, "Record")
