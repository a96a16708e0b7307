"""Block Kit for leak reports and cases: the report modal, the receipt, the case card and its thread,
the reporter's status view and the investigators' modals."""

from __future__ import annotations

from datetime import date
from typing import Any

from config.catalog import Catalog
from handlers.blocks.access import notice_modal
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
from workflows.cases import NOT_SURE, STATUSES, CaseInfo, FiledReport, ReporterView, case_ref

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
NOT_SURE_OPTION = option("Not sure / other", NOT_SURE)
ANONYMOUS_OPTION = {
    **option("Stay anonymous", "anonymous"),
    "description": {"type": "plain_text", "text": "Nothing that identifies you is stored or logged."},
}
REPORT_USAGE = """*`/report-leak`* — report a suspected leak, anonymously by default
• `/report-leak` — open the report form
• `/report-leak status <receipt-key>` — your report's status and the security team's messages
• `/report-leak reply <receipt-key> <message…>` — answer the security team
• `/report-leak help` — this help"""


def _label(status: str) -> str:
    return f"{STATUS_ICON.get(status, '')} {STATUS_NAME.get(status, status)}".strip()


def quote(text: str) -> str:
    """User text as a block quote, every line of it, escaped."""
    return "\n".join(f">{line}" for line in escape(text).splitlines() or [""])


def _input(
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


def _text(*, multiline: bool = False, max_length: int = 3000) -> dict[str, Any]:
    return {"type": "plain_text_input", "multiline": multiline, "max_length": max_length}


def report_modal(catalog: Catalog) -> dict[str, Any]:
    """The /report-leak form; labels are what people (and acceptance checks) fill in."""
    secrets = [option(f"{s.name} ({s.id})", s.id) for s in catalog.secrets[:99]]
    blocks = [
        context(
            "Anonymous by default: nothing that identifies you is stored. You will get a receipt key "
            "to read the security team's answers and to reply, without saying who you are."
        ),
        _input(
            CaseBlock.SECRET,
            "Which secret is affected",
            {
                "type": "static_select",
                "options": [*secrets, NOT_SURE_OPTION],
                "initial_option": NOT_SURE_OPTION,
            },
        ),
        _input(CaseBlock.WHAT, "What happened", _text(multiline=True)),
        _input(CaseBlock.WHERE, "Where and when", _text(multiline=True), optional=True),
        _input(
            CaseBlock.LINKS,
            "Evidence links",
            _text(multiline=True),
            optional=True,
            hint="Links to messages, files or pages. A link to your own file may reveal who you are.",
        ),
        _input(
            CaseBlock.ANONYMOUS,
            "Stay anonymous",
            {"type": "checkboxes", "options": [ANONYMOUS_OPTION], "initial_options": [ANONYMOUS_OPTION]},
            optional=True,
            hint="Untick to report under your name; the security team may then message you directly.",
        ),
    ]
    return modal(CaseView.REPORT, "Report a leak", blocks, submit="Send report")


def receipt_modal(filed: FiledReport) -> dict[str, Any]:
    """The confirmation: the only place the receipt key is ever shown."""
    key = filed.receipt_key
    who = (
        "Nothing that identifies you was stored, and Confide will never message you: "
        "check back with your key."
        if filed.case.anonymous
        else "You reported under your name: the security team may also message you directly."
    )
    blocks = [
        section(f"*Your report is {filed.case.ref}.* The security team has it now."),
        section(f"*Your receipt key*\n`{key}`"),
        section(
            "Write it down now: it is shown only this once and cannot be recovered. With it you can "
            f"follow up at any time:\n• `/report-leak status {key}`\n• `/report-leak reply {key} <message>`"
        ),
        context(who),
    ]
    return notice_modal("Report received", blocks)


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


def case_summary(data: dict[str, Any]) -> str:
    who = f"assigned to {user(data['assignee'])}" if data.get("assignee") else "not taken yet"
    return f"*{case_ref(data['case_id'])}* · {_label(data['status'])} · {who}"


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
    who = f"assigned to <@{data['assignee']}>" if data.get("assignee") else "not taken yet"
    secret_name = data.get("secret_name") or "Not sure / other"
    text = f"{case_ref(case_id)}: {_label(data['status'])}, {who} — {secret_name}"
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
        text += f" ({_label(data['status'])})."
    elif event == "status":
        text = f"🔄 {by} moved {ref} from {_label(data['from'])} to {_label(data['to'])}."
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


def reporter_update(data: dict[str, Any]) -> dict[str, Any]:
    """The DM to a named reporter (an anonymous one is never messaged)."""
    ref = case_ref(data["case_id"])
    if data["event"] == "message":
        text = f"The security team wrote about your report {ref}:\n{quote(data['text'])}"
    else:
        text = f"Your report {ref} is now {_label(data['status'])}."
    return message(text, [section(text)])


def reporter_status(view: ReporterView) -> dict[str, Any]:
    """What `/report-leak status` shows the key holder: the status and every message, newest last."""
    case = view.case
    blocks = [
        section(
            f"*{case.ref}* — {_label(case.status)}\n"
            f"Reported {slack_date(case.created_at, '{date_short_pretty}')}"
        )
    ]
    shown = view.messages[-40:]
    if len(view.messages) > len(shown):
        blocks.append(context(f"{len(view.messages) - len(shown)} older message(s) not shown."))
    for item in shown:
        who = "Security team" if item.direction == "to_reporter" else "You"
        when = slack_date(item.at, "{date_short_pretty}")
        blocks.append(section(f"*{who}* · {when}\n{quote(item.body)}"))
    if not view.messages:
        blocks.append(context("No messages yet. The security team writes here; check back with your key."))
    text = f"{case.ref}: {_label(case.status)}, {len(view.messages)} message(s)"
    return message(text, blocks)


def _case_modal(
    callback_id: str, title: str, case: CaseInfo, blocks: list[dict[str, Any]], submit: str
) -> dict:
    return modal(callback_id, title, blocks, submit=submit, private_metadata=str(case.id))


def status_modal(case: CaseInfo) -> dict[str, Any]:
    choices = [option(STATUS_NAME[s], s) for s in STATUSES if s not in ("new", case.status)]
    blocks = [
        section(case_summary(case.card_data())),
        _input(CaseBlock.STATUS, "New status", {"type": "static_select", "options": choices}),
        _input(
            CaseBlock.NOTE, "Note", _text(multiline=True), optional=True, hint="Posted in the case thread."
        ),
    ]
    return _case_modal(CaseView.STATUS, f"Update {case.ref}", case, blocks, "Update")


def message_modal(case: CaseInfo) -> dict[str, Any]:
    how = (
        "The reporter is anonymous: they read this with `/report-leak status <receipt-key>`."
        if case.anonymous
        else f"{user(case.reporter or '')} gets it by DM and with `/report-leak status`."
    )
    blocks = [context(how), _input(CaseBlock.MESSAGE, "Message to the reporter", _text(multiline=True))]
    return _case_modal(CaseView.MESSAGE, f"Message {case.ref}", case, blocks, "Send")


def evidence_modal(case: CaseInfo) -> dict[str, Any]:
    blocks = [
        context("Evidence is append-only: it cannot be edited or removed once added."),
        _input(CaseBlock.EVIDENCE_DESCRIPTION, "Description", _text(multiline=True)),
        _input(CaseBlock.EVIDENCE_LINK, "Link", _text(), optional=True),
        _input(
            CaseBlock.EVIDENCE_SHA256,
            "SHA-256",
            _text(max_length=80),
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
        _input(CaseBlock.LEGAL_KIND, "Legal action", {"type": "static_select", "options": kinds}),
        _input(CaseBlock.LEGAL_DATE, "Date", {"type": "datepicker", "initial_date": today.isoformat()}),
        _input(CaseBlock.LEGAL_COUNTERPARTY, "Counterparty", _text(max_length=200)),
        _input(
            CaseBlock.LEGAL_STATUS, "Status", _text(max_length=100), hint="e.g. drafted, sent, filed, granted"
        ),
        _input(CaseBlock.LEGAL_NOTES, "Notes", _text(multiline=True), optional=True),
        _input(
            CaseBlock.LEGAL_SUBJECT,
            "Subject",
            subject,
            optional=True,
            hint="The person suspected; the case shows whether their agreements carried the DTSA notice.",
        ),
    ]
    return _case_modal(CaseView.LEGAL, f"Legal action {case.ref}", case, blocks, "Record")
