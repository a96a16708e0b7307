"""Helpers shared by the agreement, onboarding, admin and App Home tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.conftest import EXAMPLE_CATALOG, Confide
from workflows import audit
from workflows.tables import audit_log

EXAMPLE = EXAMPLE_CATALOG.read_text()


def catalog_with_nda_version(version: str) -> str:
    """The example catalog, with the employee NDA at another version."""
    text = EXAMPLE.replace('version = "2026-01"', f'version = "{version}"')
    assert text != EXAMPLE
    return text.replace("nda-2026-01.pdf", f"nda-{version}.pdf")


def catalog_file(directory: Path, text: str) -> Path:
    """A catalog written to a file: confide_factory.start takes a path (long TOML text is not one)."""
    path = directory / f"catalog-{uuid.uuid4().hex[:8]}.toml"
    path.write_text(text)
    return path


def acknowledge_block(blocks: list[dict[str, Any]], agreement_id: str) -> list[dict[str, Any]]:
    """The one block whose I acknowledge button is for this agreement (to click exactly that one)."""
    found = [
        b
        for b in blocks
        if (b.get("accessory") or {}).get("value", "").startswith(f"{agreement_id}|")
        and b["accessory"]["text"]["text"] == "I acknowledge"
    ]
    assert found, f"no I acknowledge button for {agreement_id}"
    return found[:1]


def acknowledge_values(blocks: list[dict[str, Any]]) -> list[str]:
    """`agreement|version` of every I acknowledge button, in order."""
    return [
        b["accessory"]["value"]
        for b in blocks
        if (b.get("accessory") or {}).get("text", {}).get("text") == "I acknowledge"
    ]


async def nda(confide: Confide, user: str, text: str = "") -> dict[str, Any]:
    status, body = await confide.slack.command(user, "/nda", text)
    assert status == 200
    return body


async def acknowledge(confide: Confide, user: str, agreement_id: str) -> None:
    """Acknowledge through /nda and its button, as a person would."""
    body = await nda(confide, user)
    status, _ = await confide.slack.click(
        user, "I acknowledge", blocks=acknowledge_block(body["blocks"], agreement_id)
    )
    assert status == 200


async def rows(confide: Confide, table: sa.Table, *where: Any) -> list[Any]:
    if table is audit_log:  # as every reader of the log does: chain what is queued first
        await audit.seal(confide.db)
    async with confide.db.read() as conn:
        return list((await conn.execute(sa.select(table).where(*where))).all())


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll an async check until it is truthy (events are processed after Slack is answered)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the condition")
        await asyncio.sleep(0.02)


async def ephemeral_reply(confide: Confide, *words: str) -> str:
    """Wait for an ephemeral reply to a click (posted to its response URL after the ack) containing
    every word, and return its text."""
    fake = confide.fake
    found = await fake.wait_for(
        lambda: [c.text for c in fake.calls_to("response_url") if all(w in c.text for w in words)]
    )
    return found[0]


async def request_and_approve(confide: Confide, user: str, text: str, owner: str = "U0OWNER01") -> int:
    """File a request through /access and have the owner click Approve on their card; the request id."""
    _, body = await confide.slack.command(user, "/access", text)
    request_id = int(body["text"].split("R-")[1].split(" ")[0].rstrip(":"))
    fake = confide.fake
    [card] = await fake.wait_for(
        lambda: [
            c for c in fake.messages_to(owner) if f"R-{request_id}" in c.text and "Approve" in str(c.blocks)
        ]
    )
    status, _ = await confide.slack.click(owner, "Approve", message=card.args | {"channel": "D" + owner[1:]})
    assert status == 200
    return request_id
