"""/access: requesting, listing, revoking and extending access; Approve and Deny on request cards."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks import access as blocks
from handlers.common import ephemeral, input_value, services_of
from handlers.ids import Action, Block, View
from workflows import access
from workflows.errors import InvalidInput

REQUEST_USAGE = "Usage: `/access request <secret-id> [<N>d|<N>h] <justification…>`"
EXTEND_USAGE = "Usage: `/access extend <grant-id> [<N>d] <justification…>`"
REVOKE_USAGE = "Usage: `/access revoke <grant-id>`"


def split_duration(words: list[str]) -> tuple[int | None, str]:
    """An optional leading duration, then the justification."""
    if words and (hours := access.parse_duration(words[0])) is not None:
        return hours, " ".join(words[1:])
    return None, " ".join(words)


async def handle_access_command(
    ack: AsyncAck, command: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    user_id = command["user_id"]
    words = (command.get("text") or "").split()
    sub = words[0].lower() if words else ""
    args = words[1:]
    if sub == "":
        await ack()
        await client.views_open(trigger_id=command["trigger_id"], view=blocks.request_modal(services.catalog))
        return
    if sub == "help":
        await ack(ephemeral(blocks.ACCESS_USAGE))
        return
    if sub == "list":
        async with services.db.read() as conn:
            grants, pending = await access.grants_and_pending_requests_of(
                conn, services.catalog, user_id, services.now()
            )
        await ack(response_type="ephemeral", **blocks.my_access(grants, pending, services.catalog))
        return
    if sub == "secrets":
        async with services.db.read() as conn:
            listings = await access.list_secrets(conn, services.catalog, user_id, services.now())
        await ack(response_type="ephemeral", **blocks.secrets_list(listings))
        return
    if sub == "request":
        if not args:
            raise InvalidInput(REQUEST_USAGE)
        hours, justification = split_duration(args[1:])
        async with services.db.write() as conn:
            info = await access.request_access(
                conn,
                services.catalog,
                services.now(),
                requester=user_id,
                secret_id=args[0],
                duration_hours=hours,
                justification=justification,
            )
        await ack(response_type="ephemeral", **blocks.request_filed(info))
        return
    if sub == "extend":
        if not args:
            raise InvalidInput(EXTEND_USAGE)
        hours, justification = split_duration(args[1:])
        async with services.db.write() as conn:
            info = await access.request_extension(
                conn,
                services.catalog,
                services.now(),
                requester=user_id,
                grant_ref=args[0],
                duration_hours=hours,
                justification=justification,
            )
        await ack(response_type="ephemeral", **blocks.request_filed(info))
        return
    if sub == "revoke":
        if len(args) != 1:
            raise InvalidInput(REVOKE_USAGE)
        async with services.db.write() as conn:
            grant = await access.revoke_grant(
                conn, services.catalog, services.now(), grant_ref=args[0], actor=user_id
            )
        await ack(ephemeral(f"Grant G-{grant.id} is revoked."))
        return
    raise InvalidInput(f"I don't know `/access {sub[:30]}`.\n\n{blocks.ACCESS_USAGE}")


async def handle_access_modal_submission(
    ack: AsyncAck, body: dict, view: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    user_id = body["user"]["id"]
    duration = input_value(view, Block.DURATION)
    hours = access.parse_duration(duration) if duration else None
    async with services.db.write() as conn:
        info = await access.request_access(
            conn,
            services.catalog,
            services.now(),
            requester=user_id,
            secret_id=input_value(view, Block.SECRET) or "",
            duration_hours=hours,
            justification=input_value(view, Block.JUSTIFICATION) or "",
        )
    filed = blocks.request_filed(info)
    await ack(response_action="update", view=blocks.notice_modal("Request sent", filed["blocks"]))


async def handle_approve_button(
    ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    request_id = int(body["actions"][0]["value"])
    async with services.db.write() as conn:
        decision = await access.approve(
            conn, services.catalog, services.now(), request_id=request_id, approver=body["user"]["id"]
        )
    await ack()
    if decision.outcome == "recorded":
        await respond(
            text=f"Your approval of R-{request_id} is recorded; it needs {decision.waiting_for} more.",
            response_type="ephemeral",
            replace_original=False,
        )


async def handle_deny_button(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    request_id = int(body["actions"][0]["value"])
    async with services.db.read() as conn:
        info = await access.check_can_decide(conn, services.catalog, request_id, body["user"]["id"])
    await ack()
    await client.views_open(trigger_id=body["trigger_id"], view=blocks.deny_modal(info))


async def handle_deny_modal_submission(
    ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    async with services.db.write() as conn:
        await access.deny(
            conn,
            services.catalog,
            services.now(),
            request_id=int(view["private_metadata"]),
            approver=body["user"]["id"],
            reason=input_value(view, Block.REASON),
        )
    await ack()


def register(app: AsyncApp) -> None:
    app.command("/access")(handle_access_command)
    app.view(View.ACCESS_REQUEST)(handle_access_modal_submission)
    app.view(View.DENY_REASON)(handle_deny_modal_submission)
    app.action(Action.APPROVE_REQUEST)(handle_approve_button)
    app.action(Action.DENY_REQUEST)(handle_deny_button)
