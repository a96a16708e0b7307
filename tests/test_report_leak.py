"""/report-leak end to end: the modal, validation on the modal, the receipt key, the case card, and the
reporter's follow-up by key (status, reply, wrong keys, throttling)."""

import hashlib

import sqlalchemy as sa

from tests.case_helpers import (
    KEY_FORMAT,
    SECURITY,
    case_card,
    click_and_submit,
    example_catalog,
    file_report,
    open_report_modal,
    report,
    start,
    wait_note,
)
from workflows import audit, receipts
from workflows.tables import audit_log, cases, receipt_failures


async def test_report_modal_asks_each_field_and_is_anonymous_by_default(confide_factory):
    confide = await start(confide_factory)
    view = await open_report_modal(confide, "U0EMP01")
    inputs = {b["label"]["text"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == [
        "Which secret is affected",
        "What happened",
        "Where and when",
        "Evidence links",
        "Stay anonymous",
    ]
    secret = inputs["Which secret is affected"]["element"]
    assert [o["text"]["text"] for o in secret["options"]][-1] == "Not sure / other"
    assert "Formula X production recipe (formula-x)" in [o["text"]["text"] for o in secret["options"]]
    what = inputs["What happened"]
    assert what["element"]["multiline"] and not what["optional"]
    assert inputs["Where and when"]["optional"] and inputs["Evidence links"]["optional"]
    anonymous = inputs["Stay anonymous"]["element"]
    assert anonymous["type"] == "checkboxes"
    assert [o["text"]["text"] for o in anonymous["initial_options"]] == ["Stay anonymous"]


async def test_missing_description_is_an_error_on_the_modal_and_files_nothing(confide_factory):
    confide = await start(confide_factory)
    status, body = await report(confide, "U0EMP01", {"What happened": "   ", "Where and when": "lobby"})
    assert status == 200
    assert body["response_action"] == "errors"
    assert "what happened" in body["errors"]["what_happened"].lower()
    async with confide.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(cases))).scalar_one() == 0
    assert not confide.fake.messages_to(SECURITY)


async def test_report_shows_the_receipt_key_once_and_posts_the_case(confide_factory):
    confide = await start(confide_factory)
    fake = confide.fake
    status, body = await report(
        confide,
        "U0EMP01",
        {
            "Which secret is affected": "formula-x",
            "What happened": "Someone photographed the <recipe> sheet\nin the lab.",
            "Where and when": "Lab 2, Tuesday",
            "Evidence links": "https://files.example/photo.jpg",
        },
    )
    assert status == 200 and body["response_action"] == "update"
    shown = str(body["view"])
    key = KEY_FORMAT.search(shown).group(0)
    assert "CASE-1" in shown and "only this once" in shown
    symbols = key.replace("-", "")
    assert len(symbols) == 20 and not set(symbols) & set("ILOU")  # 100 bits, no lookalikes

    card = await case_card(confide)
    assert card["channel"] == SECURITY
    assert "Formula X production recipe" in card.text
    assert "&lt;recipe&gt;" in card.text and "Lab 2, Tuesday" in card.text
    assert "https://files.example/photo.jpg" in card.text and "Anonymous" in card.text
    for label in ("Take case", "Update status", "Message reporter", "Add evidence", "Record legal action"):
        assert label in card.text
    # Never sent anywhere: not by DM, not in the channel.
    assert all(key not in str(call.args) for call in fake.calls)
    assert not fake.messages_to("U0EMP01")
    # Stored only as scrypt under the installation's salt.
    async with confide.db.write() as conn:
        row = (await conn.execute(sa.select(cases))).one()
        salt = await receipts.installation_salt(conn)
    assert row.receipt_hash == hashlib.scrypt(symbols.encode(), salt=salt, **receipts.SCRYPT).hex()
    assert row.status == "new" and row.secret_id == "formula-x" and row.reporter is None


async def test_not_sure_is_the_default_secret(confide_factory):
    confide = await start(confide_factory)
    await file_report(confide)
    card = await case_card(confide)
    assert "Not sure / other" in card.text
    async with confide.db.read() as conn:
        assert (await conn.execute(sa.select(cases.c.secret_id))).scalar_one() is None


async def test_reporter_reads_status_and_messages_and_replies_into_the_thread(confide_factory):
    confide = await start(confide_factory)
    key = await file_report(confide)
    card = await case_card(confide)
    await click_and_submit(
        confide, "U0ADMIN01", "Message reporter", card, {"Message to the reporter": "Which lab was it?"}
    )
    await wait_note(confide, "Which lab was it?")

    status, body = await confide.slack.command("U0EMP01", "/report-leak", f"status {key}")
    assert status == 200 and body["response_type"] == "ephemeral"
    text = str(body)
    assert "CASE-1" in text and "New" in text
    assert "Security team" in text and "Which lab was it?" in text

    reply = f"reply {key} Lab 2,\nnear the door"
    status, body = await confide.slack.command("U0EMP01", "/report-leak", reply)
    assert status == 200 and "CASE-1" in body["text"]
    note = await wait_note(confide, "near the door")
    assert "anonymous reporter" in note.text
    status, body = await confide.slack.command("U0EMP01", "/report-leak", f"status {key}")
    assert "You" in str(body) and "near the door" in str(body)


async def test_keys_are_read_forgivingly(confide_factory):
    confide = await start(confide_factory)
    key = await file_report(confide)
    # Lower case, spaces instead of hyphens, and O/I/L typed for 0/1 all find the case.
    typed = key.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    status, body = await confide.slack.command("U0EMP02", "/report-leak", f"status {typed}")
    assert status == 200 and "CASE-1" in str(body)


async def test_wrong_keys_say_only_no_case_matches_and_are_throttled(confide_factory):
    confide = await start(confide_factory)
    key = await file_report(confide)
    wrong = [key[:-1] + ("X" if key[-1] != "X" else "Y"), "hello", "AAAA-BBBB", key + "-ZZZZ", "0" * 20]
    for attempt in wrong:
        status, body = await confide.slack.command("U0EMP02", "/report-leak", f"status {attempt}")
        assert status == 200
        assert body["text"] == "No case matches that receipt key."
    # The sixth try within 15 minutes is refused without looking, even with the right key...
    status, body = await confide.slack.command("U0EMP02", "/report-leak", f"reply {key} hi")
    assert "Too many wrong receipt keys" in body["text"] and "CASE" not in body["text"]
    # ...while someone else is not affected,
    status, body = await confide.slack.command("U0EMP01", "/report-leak", f"status {key}")
    assert "CASE-1" in str(body)
    # and after the window the first person may try again.
    confide.clock.advance(minutes=16)
    status, body = await confide.slack.command("U0EMP02", "/report-leak", f"status {key}")
    assert "CASE-1" in str(body)
    # Failures are counted by hour, with nothing about who tried.
    await audit.seal(confide.db)
    async with confide.db.read() as conn:
        rows = (await conn.execute(sa.select(receipt_failures))).all()
        assert [r.count for r in rows] == [5] and set(receipt_failures.c.keys()) == {"hour", "count"}
        assert await receipts.wrong_keys_since(conn, confide.clock.at.replace(hour=0)) == 5
        assert not (await conn.execute(sa.select(audit_log).where(audit_log.c.actor == "U0EMP02"))).all()


async def test_usage_errors_are_friendly(confide_factory):
    confide = await start(confide_factory)
    for text, expected in [
        ("help", "/report-leak status <receipt-key>"),
        ("status", "Usage: `/report-leak status"),
        ("reply ABCD", "Usage: `/report-leak reply"),
        ("frobnicate", "I don't know `/report-leak frobnicate`"),
    ]:
        status, body = await confide.slack.command("U0EMP01", "/report-leak", text)
        assert status == 200 and expected in body["text"], (text, body)


async def test_without_a_security_channel_reporting_says_it_is_not_set_up(confide_factory, tmp_path):
    catalog = example_catalog(tmp_path, {'security_channel = "C0SECURITY"': ""})
    confide = await confide_factory.start(catalog=catalog)
    status, body = await confide.slack.command("U0EMP01", "/report-leak")
    assert status == 200 and "not set up" in body["text"]
    assert not confide.fake.calls_to("views.open")


async def test_odd_input_always_gets_a_friendly_reply(confide_factory):
    confide = await start(confide_factory)
    key = await file_report(confide)
    odd = [
        "status \x00",
        "STATUS " + "x" * 5000,
        "status <!channel> ✨",
        "reply",
        f"reply {key}",
        f"reply {key} " + "y" * 3001,
        "reply nokey hello",
        "Help",
        "   ",
        "status " + key.lower() + " trailing words",
    ]
    for text in odd:
        status, body = await confide.slack.command("U0EMP02", "/report-leak", text)
        assert status == 200, text
        if text.strip():
            assert body["text"] and "went wrong on our side" not in body["text"], (text, body)
    async with confide.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(cases))).scalar_one() == 1
