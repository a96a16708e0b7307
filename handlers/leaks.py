"""/report-leak and the case buttons: reporters report and follow up by receipt key; investigators act.

Nothing here logs, and nothing passes the reporter's user id on except to the workflows, which decide
what (if anything) of it is kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks import cases as case_blocks
from handlers.blocks import reports as report_blocks
from handlers.common import ephemeral, input_value, services_of
from handlers.ids import CaseAction, CaseBlock, CaseView
from workflows import case_actions, reports
from workflows.errors import InvalidInput, NotFound

STATUS_USAGE = "Usage: `/report-leak status <receipt-key>`"
REPLY_USAGE = "Usage: `/report-leak reply <receipt-key> <message…>`"


async def handle_report_leak_command(
    ack: AsyncAck, command: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    # maxsplit keeps a reply's own line breaks.
    words = (command.get("text") or "").strip().split(maxsplit=2)
    sub = words[0].lower() if words else ""
    if sub == "":
        reports.check_reporting_ready(services.catalog)
        await ack()
        await client.views_open(
            trigger_id=command["trigger_id"], view=report_blocks.report_modal(services.catalog)
        )
        return
    if sub == "help":
        await ack(ephemeral(report_blocks.REPORT_USAGE))
        return
    if sub == "status":
        if len(words) < 2:
            raise InvalidInput(STATUS_USAGE)
        async with services.db.write() as conn:
            view = await reports.reporter_view(
                conn,
                services.catalog,
                services.now(),
                throttle=services.receipt_throttle,
                user_id=command["user_id"],
                key=" ".join(words[1:]),
            )
        if view is None:  # raised only now, so the wrong key's count is committed
            raise NotFound(reports.NO_CASE_MATCHES)
        await ack(response_type="ephemeral", **report_blocks.reporter_status(view))
        return
    if sub == "reply":
        if len(words) < 3:
            raise InvalidInput(REPLY_USAGE)
        async with services.db.write() as conn:
            case = await reports.reporter_reply(
                conn,
                services.catalog,
                services.now(),
                throttle=services.receipt_throttle,
                user_id=command["user_id"],
                key=words[1],
                message=words[2],
            )
        if case is None:
            raise NotFound(reports.NO_CASE_MATCHES)
        await ack(ephemeral(f"Your message was added to {case.ref}; the security team sees it there."))
        return
    raise InvalidInput(f"I don't know `/report-leak {sub[:30]}`.\n\n{report_blocks.REPORT_USAGE}")


async def handle_report_submission(ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext) -> None:
    services = services_of(context)
    choice = input_value(view, CaseBlock.ANONYMOUS)
    async with services.db.write() as conn:
        filed = await reports.file_report(
            conn,
            services.catalog,
            services.now(),
            user_id=body["user"]["id"],
            # Anonymous unless the box was explicitly unticked.
            anonymous=choice is None or "anonymous" in choice.split(","),
            secret_id=input_value(view, CaseBlock.SECRET),
            what_happened=input_value(view, CaseBlock.WHAT),
            where_when=input_value(view, CaseBlock.WHERE),
            evidence_links=input_value(view, CaseBlock.LINKS),
        )
    await ack(response_action="update", view=report_blocks.receipt_modal(filed))


def _case_id(body: dict) -> int:
    return int(body["actions"][0]["value"])


async def handle_take_case_button(ack: AsyncAck, body: dict, context: AsyncBoltContext) -> None:
    services = services_of(context)
    async with services.db.write() as conn:
        await case_actions.take_case(
            conn, services.catalog, services.now(), case_id=_case_id(body), user_id=body["user"]["id"]
        )
    await ack()


def _opens(
    render: Callable[..., dict[str, Any]], *, open_only: bool = False, today: bool = False
) -> Callable[..., Awaitable[None]]:
    """A button listener that checks the clicker may act on the case, then opens `render(case)`."""

    async def handle_case_button(
        ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        services = services_of(context)
        async with services.db.read() as conn:
            case = await case_actions.case_for_investigator(
                conn, services.catalog, _case_id(body), body["user"]["id"], open_only=open_only
            )
        await ack()
        view = render(case, services.now().date()) if today else render(case)
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    return handle_case_button


async def _submit_case_action(
    ack: AsyncAck,
    body: dict,
    view: dict,
    context: AsyncBoltContext,
    action: Callable[..., Awaitable[Any]],
    **fields: str,
) -> None:
    """A case modal's submission: `action` on the case the modal is about, by whoever submitted it,
    with each keyword argument read from the modal's input block of that id."""
    services = services_of(context)
    async with services.db.write() as conn:
        await action(
            conn,
            services.catalog,
            services.now(),
            case_id=int(view["private_metadata"]),
            user_id=body["user"]["id"],
            **{name: input_value(view, block) for name, block in fields.items()},
        )
    await ack()


async def handle_status_submission(ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext) -> None:
    await _submit_case_action(
        ack, body, view, context, case_actions.update_status, status=CaseBlock.STATUS, note=CaseBlock.NOTE
    )


async def handle_message_submission(ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext) -> None:
    await _submit_case_action(
        ack, body, view, context, case_actions.message_reporter, message=CaseBlock.MESSAGE
    )


async def handle_evidence_submission(
    ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext
) -> None:
    await _submit_case_action(
        ack,
        body,
        view,
        context,
        case_actions.add_evidence,
        description=CaseBlock.EVIDENCE_DESCRIPTION,
        link=CaseBlock.EVIDENCE_LINK,
        sha256=CaseBlock.EVIDENCE_SHA256,
    )


async def handle_legal_submission(ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext) -> None:
    await _submit_case_action(
        ack,
        body,
        view,
        context,
        case_actions.record_legal_action,
        kind=CaseBlock.LEGAL_KIND,
        action_date=CaseBlock.LEGAL_DATE,
        counterparty=CaseBlock.LEGAL_COUNTERPARTY,
        status=CaseBlock.LEGAL_STATUS,
        notes=CaseBlock.LEGAL_NOTES,
        subject=CaseBlock.LEGAL_SUBJECT,
    )


def register(app: AsyncApp) -> None:
    app.command("/report-leak")(handle_report_leak_command)
    app.view(CaseView.REPORT)(handle_report_submission)
    app.action(CaseAction.TAKE)(handle_take_case_button)
    app.action(CaseAction.UPDATE_STATUS)(_opens(case_blocks.status_modal, open_only=True))
    app.action(CaseAction.MESSAGE_REPORTER)(_opens(case_blocks.message_modal))
    app.action(CaseAction.ADD_EVIDENCE)(_opens(case_blocks.evidence_modal))
    app.action(CaseAction.RECORD_LEGAL)(_opens(case_blocks.legal_modal, today=True))
    app.view(CaseView.STATUS)(handle_status_submission)
    app.view(CaseView.MESSAGE)(handle_message_submission)
    app.view(CaseView.EVIDENCE)(handle_evidence_submission)
    app.view(CaseView.LEGAL)(handle_legal_submission)
