"""The one error handler: typed errors become a friendly reply; anything else gets a reference id."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from handlers.blocks.access import agreements_prompt, notice_modal
from handlers.blocks.common import section
from handlers.blocks.training import training_prompt
from workflows.access import AgreementsOwed
from workflows.errors import ConfideError
from workflows.training import TrainingOwed

logger = logging.getLogger("confide.handlers")


def _error_blocks(error: ConfideError) -> list[dict[str, Any]]:
    if isinstance(error, AgreementsOwed):
        return agreements_prompt(error.message, error.owed)
    if isinstance(error, TrainingOwed):
        return training_prompt(error.message, error.owed)
    return error.blocks or [section(error.message)]


def _first_input_block(view: dict[str, Any]) -> str | None:
    return next((b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"), None)


def _json(status: int, payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(status=status, body=json.dumps(payload), headers={"content-type": "application/json"})


async def handle_listener_error(
    error: Exception, body: dict, response: BoltResponse | None, respond: Any
) -> BoltResponse | None:
    kind = body.get("type") or ("slash_command" if "command" in body else "unknown")
    if isinstance(error, ConfideError):
        message, blocks = error.message, _error_blocks(error)
        logger.info("refused kind=%s error=%s", kind, type(error).__name__)
    else:
        ref = secrets.token_hex(4)
        logger.exception("listener failed ref=%s kind=%s error=%s", ref, kind, type(error).__name__)
        message = f"Sorry, something went wrong on our side (reference `{ref}`). Nothing was changed."
        blocks = [section(message)]
    acked = response is None  # Bolt passes None once the listener has already acknowledged
    if kind == "view_submission" and not acked:
        view = body.get("view", {})
        if isinstance(error, AgreementsOwed | TrainingOwed):
            title = "Acknowledge first" if isinstance(error, AgreementsOwed) else "Training first"
            return _json(200, {"response_action": "update", "view": notice_modal(title, blocks)})
        block_id = (error.field if isinstance(error, ConfideError) else None) or _first_input_block(view)
        if block_id:
            return _json(200, {"response_action": "errors", "errors": {block_id: message[:150]}})
        return _json(200, {"response_action": "update", "view": notice_modal("Confide", blocks)})
    if kind == "block_actions" or acked:
        if body.get("response_url"):
            await respond(text=message, blocks=blocks, response_type="ephemeral", replace_original=False)
        return _json(200, {}) if not acked else None
    if "command" in body:
        return _json(200, {"response_type": "ephemeral", "text": message, "blocks": blocks})
    return _json(200, {}) if not acked else None


def register(app: AsyncApp) -> None:
    app.error(handle_listener_error)
