"""The weekly digest: posted to the security channel at schedule.digest, once per week."""

from datetime import UTC, datetime, timedelta

from tests.conftest import Clock
from tests.sweep_support import digests, file_request, make_grant
from workflows.digest import digest_slot

MONDAY_0859 = datetime(2026, 12, 7, 8, 59, tzinfo=UTC)


def test_digest_slot_is_the_latest_scheduled_instant():
    assert digest_slot("mon 09:00", MONDAY_0859) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert digest_slot("mon 09:00", MONDAY_0859 + timedelta(minutes=1)) == MONDAY_0859 + timedelta(minutes=1)
    assert digest_slot("sun 23:30", MONDAY_0859) == datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert digest_slot("tue 00:00", MONDAY_0859) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


async def test_weekly_digest_reports_coverage_overdue_reviews_and_pending_requests(confide_factory):
    clock = Clock(MONDAY_0859 - timedelta(days=31))
    confide = await confide_factory.start(clock=clock)
    fake, scheduler, catalog = confide.fake, confide.runtime.scheduler, confide.runtime.catalog
    await make_grant(  # its review is due after 30 days
        confide.db,
        catalog,
        clock(),
        requester="U0EMP01",
        secret_id="customer-list",
        approvers=["U0OWNER01"],
        hours=1440,
    )
    clock.at = MONDAY_0859 - timedelta(days=2)
    await file_request(confide.db, catalog, clock(), "U0EMP02", "pricing-model")  # acknowledges the NDA

    clock.at = MONDAY_0859
    sent = await scheduler.sweep_now()
    assert "weekly_digest" not in [m.kind for m in sent]
    clock.advance(minutes=1)
    sent = await scheduler.sweep_now()
    assert [(m.recipient, m.kind) for m in sent] == [("C0SECURITY", "weekly_digest")]
    digest = (await fake.wait_for(lambda: digests(fake)))[0]
    text = digest.text
    # In scope for the NDA: the six people (the bot is not); one acknowledged.
    assert "Employee Confidentiality Agreement* (2026-01): 1 of 6 acknowledged (17%)" in text
    assert "Contractor Confidentiality Agreement* (2026-03): 0 of 1 acknowledged" in text
    assert "1 access review(s) overdue" in text and "G-1 *Key customer list* for <@U0EMP01>" in text
    assert "1 request(s) pending" in text and "R-2 *Enterprise pricing model* for <@U0EMP02>" in text
    assert "waiting 2 days, on <@U0OWNER02>" in text

    assert await scheduler.sweep_now() == []  # once per slot
    clock.advance(hours=23, minutes=59)
    assert "weekly_digest" not in [m.kind for m in await scheduler.sweep_now()]
    clock.at = MONDAY_0859 + timedelta(days=7, minutes=1)
    assert "weekly_digest" in [m.kind for m in await scheduler.sweep_now()]
    await fake.wait_for(lambda: len(digests(fake)) == 2)


async def test_a_digest_missed_by_more_than_a_day_waits_for_next_week(confide_factory):
    clock = Clock(MONDAY_0859 + timedelta(days=1, minutes=1))
    confide = await confide_factory.start(clock=clock)
    assert await confide.runtime.scheduler.sweep_now() == []
