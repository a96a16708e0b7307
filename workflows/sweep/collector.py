"""Batches the sweep's nudges: steps add items per recipient; the sweep ends with one message each."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from config.catalog import Catalog
from workflows import outbox
from workflows.connection import Connection
from workflows.directory import deactivated, resolve_principals

logger = logging.getLogger("confide.sweep")

NUDGES = "nudges"  # the outbox kind; handlers/blocks/nudges.py renders each item type
ITEMS_PER_MESSAGE = 15  # keeps a message within Slack's 50 blocks (at most 2 blocks an item + headings)


class Collector:
    """recipient → items. An item is a JSON-able dict with a `type` that names its renderer."""

    def __init__(self) -> None:
        self._items: dict[str, list[dict[str, Any]]] = {}

    def add(self, recipient: str, item_type: str, **data: Any) -> None:
        """Say something to a user or channel in this sweep's single message to them."""
        item = {"type": item_type, **{key: _jsonable(value) for key, value in data.items()}}
        items = self._items.setdefault(recipient, [])
        if item not in items:  # an owner who is also an admin hears about a thing once
            items.append(item)

    @property
    def recipients(self) -> list[str]:
        return list(self._items)

    def items_for(self, recipient: str) -> list[dict[str, Any]]:
        return list(self._items.get(recipient, []))

    async def flush(self, conn: Connection, now: datetime) -> int:
        """One outbox row per recipient (more only past Slack's block limit); never to the deactivated."""
        gone = await deactivated(conn, self._items)
        queued = 0
        for recipient, items in self._items.items():
            if recipient in gone:
                logger.info("nudge dropped recipient=%s items=%d reason=deactivated", recipient, len(items))
                continue
            pages = [items[i : i + ITEMS_PER_MESSAGE] for i in range(0, len(items), ITEMS_PER_MESSAGE)]
            for number, page in enumerate(pages, start=1):
                await outbox.enqueue(
                    conn,
                    recipient=recipient,
                    kind=NUDGES,
                    now=now,
                    data={"items": page, "page": number, "pages": len(pages)},
                )
                queued += 1
        self._items.clear()
        return queued


async def admins_and_security_channel(conn: Connection, catalog: Catalog) -> list[str]:
    """Who hears an escalation: the active admins and the security channel."""
    recipients = await resolve_principals(conn, catalog.admins)
    if catalog.security_channel:
        recipients.append(catalog.security_channel)
    return recipients


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
