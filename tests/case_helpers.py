"""Helpers for the leak-report and case tests: file a report through the modal, find the case card,
click its buttons and fill its modals, as Slack would."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLE_CATALOG, Confide
from tests.fake_slack import Call
from workflows import outbox

SECURITY = "C0SECURITY"
INVESTIGATORS = ["U0ADMIN01", "U0OWNER01"]  # the security channel's members in these tests
KEY_FORMAT = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}(?:-[0-9A-HJKMNP-TV-Z]{4}){4}\b")


async def open_report_modal(confide: Confide, user: str) -> dict[str, Any]:
    fake = confide.fake
    before = len(fake.calls_to("views.open"))
    status, body = await confide.slack.command(user, "/report-leak")
    assert status == 200, body
    opened = await fake.wait_for(lambda: fake.calls_to("views.open")[before:])
    return opened[0].view


async def report(confide: Confide, user: str, values: dict[str, Any]) -> tuple[int, Any]:
    """Open /report-leak and submit the modal with `values` (by label)."""
    view = await open_report_modal(confide, user)
    return await confide.slack.submit(user, view, values)


def receipt_key(body: dict[str, Any]) -> str:
    """The receipt key shown on the confirmation modal."""
    text = str(body["view"])
    match = KEY_FORMAT.search(text)
    assert match, text
    return match.group(0)


async def file_report(confide: Confide, user: str = "U0EMP01", **values: Any) -> str:
    """A report with sensible defaults; returns the receipt key."""
    filled = {"What happened": "The Formula X recipe was shared in a public channel."} | values
    status, body = await report(confide, user, filled)
    assert status == 200 and body["response_action"] == "update", body
    return receipt_key(body)


async def case_card(confide: Confide, case_id: int = 1) -> Call:
    """The case card as first posted to the security channel."""
    fake = confide.fake

    def posted() -> list[Call]:
        return [
            c
            for c in fake.messages_to(SECURITY)
            if not c.get("thread_ts") and f"CASE-{case_id}:" in c.get("text", "")
        ]

    return (await fake.wait_for(posted))[0]


def latest_card(confide: Confide, case_id: int = 1) -> str:
    """What the card shows now: the text of its last update (or the original post)."""
    fake = confide.fake
    updates = [c for c in fake.calls_to("chat.update") if f"CASE-{case_id}:" in c.get("text", "")]
    return updates[-1].text if updates else ""


async def wait_card(confide: Confide, predicate: Any, case_id: int = 1) -> str:
    """Wait until the card's latest update satisfies `predicate`; returns its text."""

    def shown() -> str:
        text = latest_card(confide, case_id)
        return text if text and predicate(text) else ""

    return await confide.fake.wait_for(shown)


async def card_ts(confide: Confide, case_id: int = 1) -> str:
    """Where the deliverer recorded the case card (its ts in the security channel)."""
    async with confide.db.read() as conn:
        location = await outbox.card_location(conn, f"case:{case_id}", SECURITY)
    assert location is not None
    return location[1]


async def thread_notes(confide: Confide, case_id: int = 1) -> list[Call]:
    """Replies posted in the case card's thread."""
    ts = await card_ts(confide, case_id)
    return [c for c in confide.fake.messages_to(SECURITY) if c.get("thread_ts") == ts]


async def wait_note(confide: Confide, text: str, case_id: int = 1) -> Call:
    """Wait for a reply in the case thread that contains `text`."""
    fake = confide.fake
    await case_card(confide, case_id)
    ts = await card_ts(confide, case_id)

    def found() -> list[Call]:
        return [c for c in fake.messages_to(SECURITY) if c.get("thread_ts") == ts and text in c.text]

    return (await fake.wait_for(found))[0]


async def click_and_submit(
    confide: Confide, user: str, button: str, card: Call, values: dict[str, Any]
) -> tuple[int, Any]:
    """Click a case button that opens a modal, then submit the modal with `values`."""
    fake = confide.fake
    before = len(fake.calls_to("views.open"))
    status, body = await confide.slack.click(user, button, message=card.args)
    assert status == 200, body
    opened = await fake.wait_for(lambda: fake.calls_to("views.open")[before:])
    return await confide.slack.submit(user, opened[0].view, values)


def refusals(confide: Confide) -> list[Call]:
    """Ephemeral replies sent through response URLs (how a refused click is answered)."""
    return confide.fake.calls_to("response_url")


async def start(confide_factory: Any, catalog: Path | None = None, **kwargs: Any) -> Confide:
    """Confide whose security channel has the investigators of these tests as members."""
    confide_factory.fake.channel_members[SECURITY] = [*INVESTIGATORS, "U0BOT01"]  # a bot never investigates
    return await confide_factory.start(catalog=catalog, **kwargs)


def example_catalog(tmp_path: Path, replacements: dict[str, str]) -> Path:
    """A copy of the example catalog with some lines replaced (old line → new line)."""
    text = EXAMPLE_CATALOG.read_text()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"catalog-{len(list(tmp_path.glob('catalog-*')))}.toml"
    path.write_text(text)
    return path
