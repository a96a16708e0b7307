"""Block Kit for the reporter: the /report-leak form, the receipt, what `status` shows, and the DM a
named reporter gets."""

from __future__ import annotations

from typing import Any

from config.catalog import Catalog
from handlers.blocks.access import notice_modal
from handlers.blocks.cases import input_block, quote, status_label, text_input
from handlers.blocks.common import context, message, modal, option, section, slack_date
from handlers.ids import CaseBlock, CaseView
from workflows.cases import case_ref
from workflows.reports import NOT_SURE, FiledReport, ReporterView

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


def report_modal(catalog: Catalog) -> dict[str, Any]:
    """The /report-leak form; labels are what people (and acceptance checks) fill in."""
    secrets = [option(f"{s.name} ({s.id})", s.id) for s in catalog.secrets[:99]]
    blocks = [
        context(
            "Anonymous by default: nothing that identifies you is stored. You will get a receipt key "
            "to read the security team's answers and to reply, without saying who you are."
        ),
        input_block(
            CaseBlock.SECRET,
            "Which secret is affected",
            {
                "type": "static_select",
                "options": [*secrets, NOT_SURE_OPTION],
                "initial_option": NOT_SURE_OPTION,
            },
        ),
        input_block(CaseBlock.WHAT, "What happened", text_input(multiline=True)),
        input_block(CaseBlock.WHERE, "Where and when", text_input(multiline=True), optional=True),
        input_block(
            CaseBlock.LINKS,
            "Evidence links",
            text_input(multiline=True),
            optional=True,
            hint="Links to messages, files or pages. A link to your own file may reveal who you are.",
        ),
        input_block(
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


def reporter_update(data: dict[str, Any]) -> dict[str, Any]:
    """The DM to a named reporter (an anonymous one is never messaged)."""
    ref = case_ref(data["case_id"])
    if data["event"] == "message":
        text = f"The security team wrote about your report {ref}:\n{quote(data['text'])}"
    else:
        text = f"Your report {ref} is now {status_label(data['status'])}."
    return message(text, [section(text)])


def reporter_status(view: ReporterView) -> dict[str, Any]:
    """What `/report-leak status` shows the key holder: the status and every message, newest last."""
    case = view.case
    blocks = [
        section(
            f"*{case.ref}* — {status_label(case.status)}\n"
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
    text = f"{case.ref}: {status_label(case.status)}, {len(view.messages)} message(s)"
    return message(text, blocks)
