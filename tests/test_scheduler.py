"""The scheduler inside a running Confide sweeps every CONFIDE_SWEEP_SECONDS on its own."""

from tests.conftest import Clock
from tests.sweep_support import WEDNESDAY, audit_actions, nudges


async def test_the_scheduler_sweeps_on_its_own_and_stops_cleanly(confide_factory):
    confide = await confide_factory.start(clock=Clock(WEDNESDAY), confide_sweep_seconds=1)
    fake = confide.fake
    jobs = {job.id for job in confide.runtime.scheduler._scheduler.get_jobs()}  # type: ignore[union-attr]
    assert jobs == {"sweep", "digest", "directory-sync"}
    await confide.slack.command("U0EMP01", "/access", "request customer-list 7d planning")
    await fake.wait_for(lambda: fake.messages_to("U0OWNER01"))

    confide.clock.advance(hours=24)  # no sweep_now(): the interval job finds the reminder
    reminder = (await fake.wait_for(lambda: nudges(fake, "U0OWNER01")))[0]
    assert "R-1" in reminder.text
    await confide_factory.stop(confide)  # lets a sweep in flight finish; nothing runs after

    # However many sweeps ran at that instant, the approver was reminded once.
    assert len(await audit_actions(confide.db, "access.request_reminded")) == 1
    assert len(nudges(fake, "U0OWNER01")) == 1
