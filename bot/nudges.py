"""`confide nudges [--at T] [--dry-run]`: one sweep as of T, one printed line per message."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime

from bot.delivery import Deliverer
from bot.slack_client import build_client
from config.catalog import CatalogError, load_catalog
from config.settings import Settings
from handlers.blocks.messages import RENDERERS
from workflows import audit, outbox
from workflows.db import Database
from workflows.outbox import OutgoingMessage
from workflows.services import utc_now
from workflows.sweep.run import sweep

DELIVERY_TIMEOUT_SECONDS = 120.0  # how long the command waits for Slack before leaving the rest queued


def describe(message: OutgoingMessage, verb: str) -> str:
    """`<recipient>  <verb> <kind>: <the message's text on one line>`."""
    renderer = RENDERERS.get(message.kind)
    text = " ".join(renderer(message.data).get("text", "").split()) if renderer else ""
    target = f" (card {message.card_key})" if message.op == "update" else ""
    return f"{message.recipient}\t{verb} {message.kind}{target}: {text}"


async def run_nudges(settings: Settings, at: datetime | None, dry_run: bool) -> int:
    try:
        catalog = load_catalog(settings.confide_catalog)
    except CatalogError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    now = at or utc_now()
    db = Database(settings.database_url)
    try:
        if dry_run:
            if not await db.is_ready():  # a dry run changes nothing, migrations included
                print("confide: the database is not migrated; run `confide migrate` first", file=sys.stderr)
                return 2
        else:
            await db.migrate()
        messages = await sweep(db, catalog, now, dry_run=dry_run)
        if dry_run:
            for message in messages:
                print(describe(message, "would update" if message.op == "update" else "would send"))
            print(
                f"dry run as of {now.isoformat()}: {len(messages)} message(s); nothing changed",
                file=sys.stderr,
            )
            return 0
        ids = [m.id for m in messages]
        unsent = await deliver(db, settings, ids)
        await audit.seal(db)  # no sealer runs in this process: chain the sweep's entries before leaving
        async with db.read() as conn:
            refused = await outbox.abandoned_ids(conn, ids)
        for message in messages:
            if message.id in unsent:
                verb = "queued"
            elif message.id in refused:
                verb = "refused by Slack"
            else:
                verb = "updated" if message.op == "update" else "sent"
            print(describe(message, verb))
        if unsent:
            print(
                f"confide: {len(unsent)} message(s) still queued after {DELIVERY_TIMEOUT_SECONDS:.0f}s; "
                "`confide serve` will deliver them",
                file=sys.stderr,
            )
        return 1 if unsent or refused else 0
    finally:
        await db.dispose()


async def deliver(db: Database, settings: Settings, ids: list[int]) -> set[int]:
    """Run the deliverer until these messages are sent (or the time is up); the ids still unsent.

    The deliverer keeps real time even when the sweep ran as of another instant, so leases and
    retries mean the same as in a running `serve`."""
    if not ids:
        return set()
    deliverer = Deliverer(
        db, build_client(settings, retries=0), utc_now, rate_per_second=settings.confide_slack_rate_limit
    )
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    try:
        while True:
            async with db.read() as conn:
                unsent = await outbox.unsent_ids(conn, ids)
            if not unsent or time.monotonic() > deadline:
                return unsent
            if await deliverer.deliver_once() == 0:
                await asyncio.sleep(0.2)  # waiting out a Retry-After or another sender's lease
    finally:
        await deliverer.stop()  # closes its HTTP session
