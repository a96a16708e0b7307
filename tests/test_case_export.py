"""`confide cases export CASE-n`: the bundle for counsel, run as the real CLI against the app's database."""

import asyncio
import json
import os
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.case_helpers import case_card, click_and_submit, file_report, start, wait_card
from tests.conftest import EXAMPLE_CATALOG
from workflows import audit
from workflows.tables import audit_log, case_evidence

ROOT = Path(__file__).parent.parent


async def confide_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "DATABASE_URL": database_url,
        "CONFIDE_CATALOG": str(EXAMPLE_CATALOG),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def worked_case(confide) -> None:
    await file_report(confide, **{"Which secret is affected": "formula-x", "Where and when": "Lab 2"})
    card = await case_card(confide)
    await confide.slack.click("U0ADMIN01", "Take case", message=card.args)
    evidence = {"Description": "Photo of the sheet", "Link": "https://drive.example/1", "SHA-256": "1a" * 32}
    await click_and_submit(confide, "U0ADMIN01", "Add evidence", card, evidence)
    legal = {
        "Legal action": "injunction",
        "Date": "2026-12-02",
        "Counterparty": "Acme",
        "Status": "filed",
        "Subject": "U0EMP02",
    }
    await click_and_submit(confide, "U0ADMIN01", "Record legal action", card, legal)
    message = {"Message to the reporter": "Thanks"}
    await click_and_submit(confide, "U0ADMIN01", "Message reporter", card, message)
    await wait_card(confide, lambda t: "Messages to the reporter: 1" in t)


async def test_export_bundles_the_case_with_a_verified_audit_trail(confide_factory, database_url):
    confide = await start(confide_factory)
    await worked_case(confide)
    code, out, err = await confide_cli(database_url, "cases", "export", "CASE-1")
    assert code == 0, err
    bundle = json.loads(out)
    assert bundle["case"] == "CASE-1" and bundle["status"] == "triaging" and bundle["assignee"] == "U0ADMIN01"
    report = bundle["report"]
    assert (report["secret_id"], report["where_and_when"], report["anonymous"], report["reporter"]) == (
        "formula-x",
        "Lab 2",
        True,
        None,
    )
    assert [e["action"] for e in bundle["timeline"]] == [
        "case.reported",
        "case.taken",
        "case.evidence_added",
        "case.legal_action_recorded",
        "case.reporter_messaged",
    ]
    assert bundle["timeline"][0]["actor"] == "anonymous"
    [evidence] = bundle["evidence"]
    assert evidence["sha256"] == "1a" * 32 and evidence["added_by"] == "U0ADMIN01"
    assert evidence["matches_audit_entry"] is True
    [legal] = bundle["legal_actions"]
    assert (legal["kind"], legal["date"], legal["counterparty"], legal["subject"]) == (
        "injunction",
        "2026-12-02",
        "Acme",
        "U0EMP02",
    )
    assert bundle["subject"]["subject"] == "U0EMP02" and bundle["subject"]["notice_given"] is False
    assert [m["text"] for m in bundle["messages"]] == ["Thanks"]
    audit = bundle["audit"]
    assert len(audit["entries"]) == 5 and all(e["hash"] for e in audit["entries"])
    assert audit["verification"] == {
        "hash_rule": audit["verification"]["hash_rule"],
        "entries_rehash": True,
        "chain_intact": True,
        "first_bad_entry": None,
    }


async def test_export_shows_tampering(confide_factory, database_url):
    confide = await start(confide_factory)
    await worked_case(confide)
    await audit.seal(confide.db)
    async with confide.db.write() as conn:
        await conn.execute(case_evidence.update().values(description="Something else"))
        query = sa.select(audit_log.c.id).where(audit_log.c.action == "case.taken")
        taken = (await conn.execute(query)).scalar()
        await conn.execute(audit_log.update().where(audit_log.c.id == taken).values(actor="U0EMP02"))
    code, out, err = await confide_cli(database_url, "cases", "export", "case-1")
    bundle = json.loads(out)
    assert bundle["evidence"][0]["matches_audit_entry"] is False
    verification = bundle["audit"]["verification"]
    assert verification["entries_rehash"] is False and verification["chain_intact"] is False
    assert verification["first_bad_entry"] == taken


async def test_export_of_an_unknown_case_fails_with_a_message(confide_factory, database_url):
    await start(confide_factory)
    code, out, err = await confide_cli(database_url, "cases", "export", "CASE-9")
    assert code == 1 and out == "" and "There is no CASE-9" in err
    code, out, err = await confide_cli(database_url, "cases", "export", "nine")
    assert code == 1 and "CASE-12" in err
