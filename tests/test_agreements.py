"""/nda end to end: what you owe, I acknowledge, versions, renewals, audience (members / guests)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from tests.agreements_support import (
    acknowledge,
    acknowledge_block,
    acknowledge_values,
    catalog_file,
    catalog_with_nda_version,
    ephemeral_reply,
    nda,
    rows,
)
from tests.conftest import EXAMPLE_CATALOG, Clock, Confide, ConfideFactory
from workflows.tables import acknowledgements, agreement_obligations, agreement_versions, audit_log


async def test_nda_lists_what_you_owe_and_records_your_acknowledgement(confide: Confide):
    body = await nda(confide, "U0EMP01")
    assert acknowledge_values(body["blocks"]) == ["nda|2026-01"]
    text = json.dumps(body)
    assert "Employee Confidentiality Agreement" in text
    assert "https://intranet.example/nda-2026-01.pdf" in text
    assert "Contractor" not in text  # a guests-only agreement is not asked of members

    status, _ = await confide.slack.click(
        "U0EMP01", "I acknowledge", blocks=acknowledge_block(body["blocks"], "nda")
    )
    assert status == 200
    await ephemeral_reply(confide, "Thank you", "Employee Confidentiality Agreement")

    body = await nda(confide, "U0EMP01")
    assert acknowledge_values(body["blocks"]) == []
    assert "You owe no confidentiality agreements" in body["text"]
    shown = json.dumps(body["blocks"])
    assert "What you acknowledged" in shown and "2026-01" in shown and "<!date^" in shown

    [ack] = await rows(confide, acknowledgements)
    assert (ack.user_id, ack.agreement_id, ack.version, ack.at) == (
        "U0EMP01",
        "nda",
        "2026-01",
        confide.clock(),
    )
    [entry] = await rows(confide, audit_log, audit_log.c.action == "agreement.acknowledged")
    assert entry.actor == "U0EMP01" and json.loads(entry.details) == {
        "agreement": "nda",
        "version": "2026-01",
        "renewal": False,
    }
    [obligation] = await rows(
        confide,
        agreement_obligations,
        agreement_obligations.c.user_id == "U0EMP01",
        agreement_obligations.c.agreement_id == "nda",
    )
    assert obligation.acknowledged_at == confide.clock()
    assert obligation.due_at is not None  # renew_every_days = 365: the renewal falls due later


async def test_a_second_click_records_nothing_new(confide: Confide):
    body = await nda(confide, "U0EMP01")
    blocks = acknowledge_block(body["blocks"], "nda")
    await confide.slack.click("U0EMP01", "I acknowledge", blocks=blocks)
    await confide.slack.click("U0EMP01", "I acknowledge", blocks=blocks)
    assert len(await rows(confide, acknowledgements)) == 1
    assert len(await rows(confide, audit_log, audit_log.c.action == "agreement.acknowledged")) == 1


async def test_guests_owe_the_contractor_agreement_and_members_do_not(confide: Confide):
    guest = await nda(confide, "U0GUEST01")
    assert acknowledge_values(guest["blocks"]) == ["nda|2026-01", "contractor-nda|2026-03"]
    for member in ("U0EMP01", "U0OWNER01", "U0ADMIN01"):
        owed = acknowledge_values((await nda(confide, member))["blocks"])
        assert owed == ["nda|2026-01"], member

    await acknowledge(confide, "U0GUEST01", "contractor-nda")
    assert acknowledge_values((await nda(confide, "U0GUEST01"))["blocks"]) == ["nda|2026-01"]
    await acknowledge(confide, "U0GUEST01", "nda")
    body = await nda(confide, "U0GUEST01")
    assert acknowledge_values(body["blocks"]) == []
    assert "Contractor Confidentiality Agreement" in json.dumps(body["blocks"])


async def test_new_version_asks_everyone_again_and_gates_access_until_acknowledged(
    confide_factory: ConfideFactory, tmp_path: Path
):
    clock = Clock()
    first = await confide_factory.start(catalog=EXAMPLE_CATALOG, clock=clock)
    fake = first.fake
    old_nda = await nda(first, "U0EMP01")
    await acknowledge(first, "U0EMP01", "nda")
    _, body = await first.slack.command("U0EMP01", "/access", "request pricing-model 7d forecast")
    assert "R-1" in body["text"]
    # A fresh installation announces nothing: the reminders after due_days do the asking.
    assert not [c for c in fake.calls_to("chat.postMessage") if "new version" in c.text]
    await confide_factory.stop(first)

    clock.advance(days=30)
    bumped = catalog_file(tmp_path, catalog_with_nda_version("2026-07"))
    second = await confide_factory.start(catalog=bumped, clock=clock)
    # Everyone in scope is asked to acknowledge the new version; the bot is not.
    dms = await fake.wait_for(
        lambda: (
            len([c for c in fake.calls_to("chat.postMessage") if "new version" in c.text]) >= 6
            and [c for c in fake.calls_to("chat.postMessage") if "new version" in c.text]
        )
    )
    assert {c["channel"] for c in dms} == {
        "U0ADMIN01",
        "U0OWNER01",
        "U0OWNER02",
        "U0EMP01",
        "U0EMP02",
        "U0GUEST01",
    }
    assert all(acknowledge_values(c.blocks) == ["nda|2026-07"] for c in dms)

    # Access to secrets that require the NDA is gated again, with the new version's button.
    _, refused = await second.slack.command("U0EMP01", "/access", "request formula-x 7d launch")
    assert "acknowledge" in refused["text"].lower()
    assert acknowledge_values(refused["blocks"]) == ["nda|2026-07"]
    body = await nda(second, "U0EMP01")
    assert acknowledge_values(body["blocks"]) == ["nda|2026-07"]
    assert "you acknowledged 2026-01" in json.dumps(body["blocks"])

    # The old button is refused politely and records nothing.
    await second.slack.click("U0EMP01", "I acknowledge", blocks=acknowledge_block(old_nda["blocks"], "nda"))
    await ephemeral_reply(second, "newer version")

    [dm] = [c for c in dms if c["channel"] == "U0EMP01"]
    status, _ = await second.slack.click("U0EMP01", "I acknowledge", message=dm.args | {"channel": "D0EMP01"})
    assert status == 200
    _, body = await second.slack.command("U0EMP01", "/access", "request formula-x 7d launch")
    assert "R-2" in body["text"]

    acks = {(a.user_id, a.version) for a in await rows(second, acknowledgements)}
    assert acks == {("U0EMP01", "2026-01"), ("U0EMP01", "2026-07")}  # both kept as evidence
    versions = {
        (v.version, v.first_seen_at)
        for v in await rows(second, agreement_versions, agreement_versions.c.agreement_id == "nda")
    }
    assert versions == {("2026-01", clock() - timedelta(days=30)), ("2026-07", clock())}
    # The new version is audited with who was asked; the initial catalog was recorded silently.
    [published] = await rows(second, audit_log, audit_log.c.action == "agreement.version_published")
    details = json.loads(published.details)
    assert (published.subject, details["version"], details["previous_version"]) == (
        "nda",
        "2026-07",
        "2026-01",
    )
    assert details["asked"] == 6 and "U0BOT01" not in details["users"] and details["dtsa_notice"] is True


async def test_acknowledgement_lapses_after_renew_every_days(confide: Confide):
    await acknowledge(confide, "U0EMP01", "nda")
    confide.clock.advance(days=364)
    assert acknowledge_values((await nda(confide, "U0EMP01"))["blocks"]) == []
    confide.clock.advance(days=2)

    body = await nda(confide, "U0EMP01")
    assert acknowledge_values(body["blocks"]) == ["nda|2026-01"]
    assert "Renewal" in json.dumps(body["blocks"])
    _, refused = await confide.slack.command("U0EMP01", "/access", "request pricing-model 7d forecast")
    assert acknowledge_values(refused["blocks"]) == ["nda|2026-01"]

    await acknowledge(confide, "U0EMP01", "nda")
    _, body = await confide.slack.command("U0EMP01", "/access", "request pricing-model 7d forecast")
    assert "R-1" in body["text"]
    entries = await rows(confide, audit_log, audit_log.c.action == "agreement.acknowledged")
    assert [json.loads(e.details)["renewal"] for e in entries] == [False, True]


async def test_contractor_agreement_without_renewal_never_lapses(confide: Confide):
    await acknowledge(confide, "U0GUEST01", "contractor-nda")
    confide.clock.advance(days=2000)
    assert "contractor-nda|2026-03" not in acknowledge_values((await nda(confide, "U0GUEST01"))["blocks"])


async def test_nda_help_and_unknown_subcommands(confide: Confide):
    body = await nda(confide, "U0EMP01", "help")
    assert "/nda status" in body["text"]
    body = await nda(confide, "U0EMP01", "sign everything")
    assert "I don't know `/nda sign`" in body["text"] and "/nda status" in body["text"]


async def test_a_fresh_start_records_versions_and_obligations_silently(confide_factory: ConfideFactory):
    first = await confide_factory.start()
    versions = await rows(first, agreement_versions)
    assert {(v.agreement_id, v.version, v.dtsa_notice) for v in versions} == {
        ("nda", "2026-01", True),
        ("contractor-nda", "2026-03", True),
    }
    owed = {(o.user_id, o.agreement_id) for o in await rows(first, agreement_obligations)}
    people = {"U0ADMIN01", "U0OWNER01", "U0OWNER02", "U0EMP01", "U0EMP02", "U0GUEST01"}
    assert owed == {(u, "nda") for u in people} | {("U0GUEST01", "contractor-nda")}
    # Installing Confide DMs nobody and writes no audit entry; neither does a restart.
    await confide_factory.stop(first)
    second = await confide_factory.start()
    assert await rows(second, audit_log) == []
    assert second.fake.calls_to("chat.postMessage") == []
    assert len(await rows(second, agreement_obligations)) == 7
