"""/training, /training status, and the training modal: Start (wherever it appears), the lesson pages,
the quiz and its result."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks import training as blocks
from handlers.common import ephemeral, input_value, services_of
from handlers.home import publish_home
from handlers.ids import TrainingAction, TrainingView
from workflows import training
from workflows.errors import InvalidInput


async def handle_training_command(ack: AsyncAck, command: dict, context: AsyncBoltContext) -> None:
    services = services_of(context)
    user_id = command["user_id"]
    words = (command.get("text") or "").split()
    sub = words[0].lower() if words else ""
    now = services.now()
    if sub == "":
        async with services.db.read() as conn:
            overview = await training.overview(conn, services.catalog, user_id, now)
        await ack(response_type="ephemeral", **blocks.training_overview(overview, now))
        return
    if sub == "help":
        await ack(ephemeral(blocks.TRAINING_USAGE))
        return
    if sub == "status" and len(words) == 1:
        async with services.db.read() as conn:
            coverage = await training.training_status(conn, services.catalog, user_id, now)
        await ack(response_type="ephemeral", **blocks.training_status(coverage, now))
        return
    raise InvalidInput(f"I don't know `/training {' '.join(words)[:30]}`.\n\n{blocks.TRAINING_USAGE}")


def _button_ref(body: dict) -> tuple[str, str, int]:
    """`id|version[|page]` from the clicked button."""
    training_id, _, rest = body["actions"][0].get("value", "").partition("|")
    version, _, page = rest.partition("|")
    return training_id, version, int(page) if page.isdigit() else 1


async def _show(client: AsyncWebClient, body: dict, view: dict) -> None:
    """Inside the training modal (or any modal) the view is replaced; elsewhere a modal opens."""
    current = body.get("view") or {}
    if current.get("type") == "modal":
        await client.views_update(view_id=current["id"], hash=current.get("hash"), view=view)
    else:
        await client.views_open(trigger_id=body["trigger_id"], view=view)


async def handle_start_button(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Start (in /training, a reminder, an access refusal or the Home), Next, Back and Review the lessons."""
    training_id, version, page = _button_ref(body)
    chosen = training.training_to_take(services_of(context).catalog, training_id, version)
    await ack()
    await _show(client, body, blocks.lesson_view(chosen, page))


async def handle_quiz_button(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Take the quiz (after the last lesson) and Retry (after a failed quiz)."""
    training_id, version, _ = _button_ref(body)
    chosen = training.training_to_take(services_of(context).catalog, training_id, version)
    await ack()
    await _show(client, body, blocks.quiz_view(chosen))


async def handle_quiz_submission(
    ack: AsyncAck, body: dict, view: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    user_id = body["user"]["id"]
    training_id, _, version = view.get("private_metadata", "").partition("|")
    state = view.get("state", {}).get("values", {})
    answers = {
        int(block_id.removeprefix(blocks.QUESTION_BLOCK)): input_value(view, block_id)
        for block_id in state
        if block_id.startswith(blocks.QUESTION_BLOCK)
        and block_id.removeprefix(blocks.QUESTION_BLOCK).isdigit()
    }
    async with services.db.write() as conn:
        result = await training.submit_quiz(
            conn,
            services.catalog,
            services.now(),
            user_id=user_id,
            training_id=training_id,
            version=version,
            answers=answers,
        )
    await ack(response_action="update", view=blocks.result_view(result))
    if result.passed:  # the Home lists what is owed: show it done
        await publish_home(client, services, user_id)


def register(app: AsyncApp) -> None:
    app.command("/training")(handle_training_command)
    for action in (TrainingAction.START, TrainingAction.NEXT, TrainingAction.BACK):
        app.action(action)(handle_start_button)
    for action in (TrainingAction.QUIZ, TrainingAction.RETRY):
        app.action(action)(handle_quiz_button)
    app.view(TrainingView.QUIZ)(handle_quiz_submission)
