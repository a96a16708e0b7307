"""Helpers every handler uses: the services from the request context and reading modal values."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from workflows.services import Services


def services_of(context: AsyncBoltContext) -> Services:
    return context["services"]


def input_value(view: dict[str, Any], block_id: str) -> str | None:
    """The value of a modal input: text, a static select or radio buttons, checkboxes or a multi-user
    select (a list joined by commas; "" when none is chosen), a user select (the user id) or a date
    picker (YYYY-MM-DD)."""
    element = (view.get("state", {}).get("values", {}).get(block_id) or {}).get("value") or {}
    if "selected_option" in element:
        selected = element["selected_option"]
        return selected["value"] if selected else None
    if "selected_options" in element:
        return ",".join(o["value"] for o in element["selected_options"] or [])
    if "selected_users" in element:
        return ",".join(element["selected_users"] or [])
    for key in ("selected_user", "selected_date"):
        if key in element:
            return element[key]
    return element.get("value")


def ephemeral(text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"response_type": "ephemeral", "text": text}
    if blocks:
        reply["blocks"] = blocks
    return reply
