"""Block Kit building blocks shared by every feature."""

from __future__ import annotations

from datetime import datetime
from typing import Any

MAX_SECTION_TEXT = 3000
MAX_MESSAGE_BLOCKS = 50


def escape(text: str) -> str:
    """User text must never become a mention, link or @channel: escape Slack's control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int = MAX_SECTION_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def user(user_id: str) -> str:
    return f"<@{user_id}>"


def principal(principal_id: str) -> str:
    """A user or a user group, as a mention."""
    return f"<!subteam^{principal_id}>" if principal_id.startswith("S") else f"<@{principal_id}>"


def slack_date(at: datetime | str, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Slack renders this in each reader's own time zone; the fallback is UTC."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{fmt}|{fallback}>"


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text)}, **extra}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text)}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75]},
        "action_id": action_id,
        "value": value[:2000],
    }
    if style:
        element["style"] = style
    return element


def actions(*elements: dict[str, Any], block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text[:75]), "value": value}


def message(text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A message payload: always a top-level text fallback, blocks capped at Slack's limit."""
    payload: dict[str, Any] = {"text": truncate(text, 3000)}
    if blocks:
        if len(blocks) > MAX_MESSAGE_BLOCKS:
            blocks = [*blocks[: MAX_MESSAGE_BLOCKS - 1], context("…and more; the list was shortened.")]
        payload["blocks"] = blocks
    return payload


def modal(
    callback_id: str,
    title: str,
    blocks: list[dict[str, Any]],
    *,
    submit: str | None = None,
    private_metadata: str = "",
    close: str = "Cancel",
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title[:24]),
        "close": plain(close),
        "blocks": blocks[:100],
        "private_metadata": private_metadata,
    }
    if submit:
        view["submit"] = plain(submit)
    return view
