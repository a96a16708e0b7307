"""Open cases by status and age, signals raised in the week and overdue items: in the weekly digest, in
/confide status and on the admins' App Home."""

from datetime import UTC, datetime, timedelta

from tests.case_helpers import SECURITY, case_card, click_and_submit, file_report, start, wait_card
from tests.conftest import Clock
from tests.sweep_support import digests
from workflows import signals
from workflows.alert_cases import open_case_from_alert

DIGEST_AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday, schedule.digest


EVIDENCE = {
    signals.BURST: {"secrets": ["formula-x", "pricing-model", "customer-list"], "hours": 24, "requests": [1]},
    signals.OUT_OF_HOURS: {
        "secret": "formula-x",
        "local_time": "23:10",
        "time_zone": "Europe/Paris",
        "working_hours": "07:00-20:00",
    },
    signals.DENIALS: {"requests": [1, 2, 3], "days": 7},
}


async def raise_alert(confide, at, kind, subject):
    async with confide.db.write() as conn:
        alert = await signals.raise_alert(
            conn,
            confide.runtime.catalog,
            at,
            kind=kind,
            subject=subject,
            window=timedelta(hours=1),
            evidence={"user": subject, **EVIDENCE[kind]},
        )
    assert alert is not None
    return alert


async def cases_and_signals(confide):
    """CASE-1 taken 40 days ago; CASE-2 untaken for 10 days (past its ack deadline); CASE-3 dismissed;
    CASE-4 opened yesterday from an alert. Alerts: two this week, one the week before."""
    clock = confide.clock
    await file_report(confide)
    card = await case_card(confide, 1)
    await confide.slack.click("U0OWNER01", "Take case", message=card.args)
    await wait_card(confide, lambda t: "assigned" in t, 1)

    clock.at = DIGEST_AT - timedelta(days=10)
    await file_report(confide)
    clock.at = DIGEST_AT - timedelta(days=5)
    await file_report(confide)
    card = await case_card(confide, 3)
    await click_and_submit(confide, "U0OWNER01", "Update status", card, {"New status": "dismissed"})
    await wait_card(confide, lambda t: "Dismissed" in t, 3)

    await raise_alert(confide, DIGEST_AT - timedelta(days=8), signals.DENIALS, "U0EMP02")
    burst = await raise_alert(confide, DIGEST_AT - timedelta(days=2), signals.BURST, "U0EMP01")
    await raise_alert(confide, DIGEST_AT - timedelta(days=1), signals.OUT_OF_HOURS, "U0EMP02")
    clock.at = DIGEST_AT - timedelta(days=1)
    async with confide.db.write() as conn:
        opened = await open_case_from_alert(
            conn, confide.runtime.catalog, clock(), alert_id=burst.id, actor="U0OWNER01"
        )
    assert opened.ref == "CASE-4"
    clock.at = DIGEST_AT


async def test_weekly_digest_counts_open_cases_by_status_and_age_and_signals_by_kind(confide_factory):
    confide = await start(confide_factory, clock=Clock(DIGEST_AT - timedelta(days=40)))
    await cases_and_signals(confide)
    sent = await confide.runtime.scheduler.sweep_now()
    [digest] = [m for m in sent if m.kind == "weekly_digest"]
    assert [s["key"] for s in digest.data["sections"]] == [
        "coverage",
        "overdue",
        "pending",
        "cases",
        "signals",
        "kudos",
    ]

    text = (await confide.fake.wait_for(lambda: digests(confide.fake)))[0].text
    assert "Confide weekly digest: agreements acknowledged 0 of 7, 7 past due;" in text
    assert "Employee Confidentiality Agreement* (2026-01): 0 of 6 acknowledged (0%), 6 past due" in text
    assert "*Open leak cases* — 3 open case(s)" in text
    assert "By status: new 2 · triaging 1" in text
    assert "By age: under 7 days 1 · 7–30 days 1 · over 30 days 1" in text
    assert "Past a deadline (not taken in time, or the reporter waits to hear back): CASE-2\n" in text
    assert "*Insider-risk signals* — 2 signal(s) raised this week" in text
    assert "Burst of access requests: 1 (1 opened as a case)" in text
    assert "Restricted secret requested outside working hours: 1" in text
    assert "Repeated denials" not in text  # raised the week before


async def test_confide_status_and_the_admin_home_show_open_cases_by_age_and_overdue_items(confide_factory):
    confide = await start(confide_factory, clock=Clock(DIGEST_AT - timedelta(days=40)))
    await cases_and_signals(confide)

    _, body = await confide.slack.command("U0ADMIN01", "/confide", "status")
    assert body["text"].endswith("pending requests: 0; open cases: 3; overdue items: 8")
    shown = "\n".join(b["text"]["text"] for b in body["blocks"] if b["type"] == "section")
    assert (
        "⚠️ *Overdue items: 8* — 7 agreement acknowledgement(s) past due, 0 review(s), "
        "1 case(s) past a deadline"
    ) in shown
    cases = shown.split("*Open cases: 3*")[1]
    assert "By age: under 7 days: 1 · 7–30 days: 1 · over 30 days: 1" in cases
    assert "By status: new: 2 · triaging: 1" in cases
    lines = [line for line in cases.splitlines() if line.startswith("• CASE-")]
    assert lines == [
        "• CASE-1 (triaging) — open 40 days",
        "• CASE-2 (new) — open 10 days — ⚠️ past a deadline",
        "• CASE-4 (new) — open 1 day",
    ]

    await confide.slack.event({"type": "app_home_opened", "user": "U0ADMIN01", "tab": "home"})
    home = (await confide.fake.wait_for(lambda: confide.fake.calls_to("views.publish", user_id="U0ADMIN01")))[
        -1
    ]
    dashboard = str(home.view).split("Compliance dashboard")[1]
    assert "Overdue items: 8" in dashboard and "Open cases: 3" in dashboard
    assert "CASE-2 (new) — open 10 days — ⚠️ past a deadline" in dashboard
    assert SECURITY not in dashboard
