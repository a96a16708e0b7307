"""Delivery under Slack's limits: 2,000 outbox notifications while the fake Slack allows N a second.

Many recipients get one message each and a few get many; the fake answers 429 with Retry-After above
its allowance. Every message must arrive exactly once, each recipient's in order, and the throughput
should reach 90% of what the limit allows.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bench import seed
from bench.common import BOT_TOKEN, SIGNING_SECRET, database_kind, fresh_database, header, median
from bot.runtime import Runtime
from config.settings import Settings
from tests.fake_slack import FakeSlack
from workflows import outbox
from workflows.tables import outbox as outbox_table

GOAL_SHARE = 0.9
SEQUENCE = re.compile(r"\(G-(\d+)\)")


@dataclass(frozen=True)
class DeliveryRun:
    messages: int
    seconds: float
    rejected: int  # 429s the fake answered
    duplicates: int
    missing: int
    out_of_order: int

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def plan(messages: int, heavy_recipients: int, heavy_share: float) -> list[str]:
    """The recipient of each message, in enqueue order: `heavy_share` of them to a few people, the
    rest one each to many, shuffled together (a fixed seed keeps runs comparable)."""
    heavy_total = int(messages * heavy_share) if heavy_recipients else 0
    recipients = [f"UHEAVY{n % heavy_recipients:03d}" for n in range(heavy_total)]
    recipients += [seed.user_id(n) for n in range(messages - heavy_total)]
    random.Random(7).shuffle(recipients)
    return recipients


async def one_run(
    database: str,
    workdir: Path,
    *,
    messages: int,
    limit: int,
    heavy_recipients: int,
    heavy_share: float,
    max_seconds: float,
    settings_overrides: dict[str, object],
) -> DeliveryRun:
    fake = FakeSlack(rate_limit_per_second=limit)
    await fake.start()
    catalog = seed.write_catalog(workdir / "catalog.toml")
    try:
        async with fresh_database(database, workdir, "delivery") as database_url:
            settings = Settings(
                slack_bot_token=BOT_TOKEN,
                slack_signing_secret=SIGNING_SECRET,
                slack_api_url=fake.url + "/api/",
                database_url=database_url,
                confide_catalog=str(catalog),
                **settings_overrides,  # type: ignore[arg-type]
            )
            runtime = Runtime(settings)
            try:
                await runtime.db.migrate()
                recipients = plan(messages, heavy_recipients, heavy_share)
                now = datetime.now(UTC)
                async with runtime.db.write() as conn:
                    for n, recipient in enumerate(recipients):
                        await outbox.enqueue(
                            conn,
                            recipient=recipient,
                            kind="grant_ended",
                            now=now,
                            data={
                                "grant_id": n,
                                "secret_name": "Bench",
                                "status": "expired",
                                "actor": "system",
                                "reason": "bench",
                            },
                        )
                started = time.perf_counter()
                runtime.deliverer.start()
                deadline = started + max_seconds
                while fake.count("chat.postMessage") < messages and time.perf_counter() < deadline:
                    await asyncio.sleep(0.01)
                seconds = time.perf_counter() - started
                await asyncio.sleep(0.2)  # anything sent twice would show up now
                async with runtime.db.read() as conn:
                    unsent = (
                        await conn.execute(sa.select(sa.func.count()).where(outbox_table.c.sent_at.is_(None)))
                    ).scalar_one()
            finally:
                await runtime.stop()
    finally:
        await fake.stop()
    return check(fake, recipients, seconds, unsent)


def check(fake: FakeSlack, recipients: list[str], seconds: float, unsent: int) -> DeliveryRun:
    seen: dict[int, int] = defaultdict(int)
    last: dict[str, int] = {}
    out_of_order = 0
    for call in fake.calls_to("chat.postMessage"):
        match = SEQUENCE.search(call.get("text", ""))
        if match is None:
            continue
        n = int(match.group(1))
        seen[n] += 1
        recipient = recipients[n]
        if last.get(recipient, -1) > n:
            out_of_order += 1
        last[recipient] = n
    return DeliveryRun(
        messages=sum(1 for n in range(len(recipients)) if seen[n] >= 1),
        seconds=seconds,
        rejected=len(fake.calls_to("chat.postMessage!429")),
        duplicates=sum(count - 1 for count in seen.values() if count > 1),
        missing=max(unsent, sum(1 for n in range(len(recipients)) if seen[n] == 0)),
        out_of_order=out_of_order,
    )


async def bench_delivery(
    database: str,
    workdir: Path,
    *,
    messages: int,
    limit: int,
    heavy_recipients: int,
    heavy_share: float,
    repeats: int,
    max_seconds: float,
    settings_overrides: dict[str, object],
) -> list[DeliveryRun]:
    header(
        f"delivery on {database_kind(database)}: {messages} messages, {heavy_recipients} recipients "
        f"get {heavy_share:.0%} of them, fake Slack allows {limit} chat.postMessage/s"
    )
    runs = []
    for n in range(repeats):
        run = await one_run(
            database,
            workdir,
            messages=messages,
            limit=limit,
            heavy_recipients=heavy_recipients,
            heavy_share=heavy_share,
            max_seconds=max_seconds,
            settings_overrides=settings_overrides,
        )
        runs.append(run)
        print(
            f"   repeat {n + 1}/{repeats}: {run.messages} delivered in {run.seconds:.2f} s = "
            f"{run.per_second:.1f}/s; 429s {run.rejected}, duplicates {run.duplicates}, "
            f"missing {run.missing}, out of order {run.out_of_order}"
        )
    rate = median([r.per_second for r in runs])
    share = rate / limit
    intact = all(r.duplicates == 0 and r.missing == 0 and r.out_of_order == 0 for r in runs)
    verdict = "met" if share >= GOAL_SHARE and intact else "MISSED"
    print(
        f"   median throughput {rate:.1f}/s = {share:.0%} of the limit (goal >= {GOAL_SHARE:.0%}, "
        f"all once and in order: {'yes' if intact else 'NO'}) {verdict}"
    )
    return runs
