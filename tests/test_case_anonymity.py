"""An anonymous report leaves nothing that identifies the reporter: not in the database (searched as
file bytes, WAL included, and row by row), not in the logs (every logger at DEBUG), not in any call to
Slack; and every time written on the reporter's behalf is cut to the day."""

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from tests.case_helpers import case_card, click_and_submit, file_report, start, wait_note
from tests.conftest import Clock
from tests.fake_slack import slack_user
from workflows import audit
from workflows.tables import audit_log, case_messages, cases, metadata, outbox

REPORTER = "U0WHISTLE1"
REPORTER_NAME = "Wendy Whistleblower"


def capture_every_logger_at_debug(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


def traces(extra: list[str]) -> list[str]:
    """What would identify the reporter or their request if it were written anywhere."""
    return [REPORTER, REPORTER.lower(), REPORTER_NAME, "C0GENERAL", "/response/", *extra]


async def rows_of_every_table(confide) -> str:
    """Every row of every table except the member directory (which may list everyone, SPEC.md)."""
    dump = []
    async with confide.db.read() as conn:
        for table in metadata.sorted_tables:
            if table.name in ("members", "group_members"):
                continue
            dump += [f"{table.name}: {tuple(row)}" for row in await conn.execute(sa.select(table))]
    return "\n".join(dump)


async def all_delivered(confide) -> None:
    async def backlog() -> int:
        async with confide.db.read() as conn:
            query = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
            return (await conn.execute(query)).scalar_one()

    while await backlog():
        await asyncio.sleep(0.02)


def sqlite_bytes(database_url: str) -> bytes:
    path = Path(database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


async def test_anonymous_report_and_follow_up_leave_no_trace_of_the_reporter(
    confide_factory, database_url, caplog
):
    capture_every_logger_at_debug(caplog)
    # Early in a day, so the hours the test moves on stay within it, whenever it runs.
    confide = await start(confide_factory, clock=Clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)))
    fake = confide.fake
    # Slack knows the reporter (name and all); Confide's directory was synced before they joined.
    fake.users.append(slack_user(REPORTER, REPORTER_NAME))
    day = confide.clock.at.replace(hour=0, minute=0, second=0)
    confide.clock.advance(hours=1, minutes=7)

    key = await file_report(confide, REPORTER, **{"What happened": "Pricing deck sent to a competitor"})
    trigger = fake.calls_to("views.open")[0]["trigger_id"]
    card = await case_card(confide)
    await confide.slack.click("U0ADMIN01", "Take case", message=card.args)
    await click_and_submit(confide, "U0ADMIN01", "Update status", card, {"New status": "investigating"})
    await click_and_submit(
        confide, "U0ADMIN01", "Add evidence", card, {"Description": "Mail log", "SHA-256": "0f" * 32}
    )
    await click_and_submit(
        confide,
        "U0ADMIN01",
        "Record legal action",
        card,
        {"Legal action": "other", "Counterparty": "Competitor Ltd", "Status": "draft", "Subject": "U0EMP02"},
    )
    await click_and_submit(
        confide, "U0OWNER01", "Message reporter", card, {"Message to the reporter": "Who received it?"}
    )
    await wait_note(confide, "Who received it?")
    confide.clock.advance(hours=3, minutes=11)
    status, body = await confide.slack.command(REPORTER, "/report-leak", f"status {key}")
    assert "Who received it?" in str(body)
    status, body = await confide.slack.command(REPORTER, "/report-leak", f"reply {key} Their sales lead")
    assert "CASE-1" in body["text"]
    status, body = await confide.slack.command(REPORTER, "/report-leak", "status 0000-0000-0000-0000-0000")
    assert body["text"] == "No case matches that receipt key."
    await wait_note(confide, "Their sales lead")
    await all_delivered(confide)

    # No DM, no lookup, no call to Slack names the reporter.
    assert not [c for c in fake.calls if REPORTER in json.dumps(c.args)]
    # Every time written on the reporter's behalf is the start of the day.
    await audit.seal(confide.db)
    async with confide.db.read() as conn:
        row = (await conn.execute(sa.select(cases))).one()
        assert row.reporter is None and row.anonymous and row.created_at == day
        replies = (
            (
                await conn.execute(
                    sa.select(case_messages.c.at).where(case_messages.c.direction == "from_reporter")
                )
            )
            .scalars()
            .all()
        )
        assert replies == [day]
        anonymous = (
            (await conn.execute(sa.select(audit_log.c.at).where(audit_log.c.actor == "anonymous")))
            .scalars()
            .all()
        )
        assert anonymous == [day, day]
        posted = (
            (
                await conn.execute(
                    sa.select(outbox.c.created_at)
                    .where(outbox.c.kind.in_(["case_note", "case_card"]))
                    .order_by(outbox.c.id)
                )
            )
            .scalars()
            .all()
        )
        assert posted[0] == day  # the card's first post
    # Nothing identifying in any row (the directory aside), nor in the logs.
    dump = await rows_of_every_table(confide)
    assert "U0ADMIN01" in dump and "Pricing deck" in dump  # the search does find what is there
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert "directory synced" in logged  # and the logs were captured
    for trace in traces([trigger]):
        assert trace not in dump, trace
        assert trace not in logged, trace
    assert key not in logged and key not in dump and key.replace("-", "") not in dump
    assert "Pricing deck" not in logged and "Their sales lead" not in logged  # nor what people wrote
    if database_url.startswith("sqlite"):
        raw = sqlite_bytes(database_url)
        assert b"U0ADMIN01" in raw and b"Pricing deck" in raw
        for trace in traces([trigger]):
            assert trace.encode() not in raw, trace
        await confide_factory.stop(confide)  # checkpoint the WAL into the file, and look again
        raw = sqlite_bytes(database_url)
        for trace in traces([trigger, key]):
            assert trace.encode() not in raw, trace
