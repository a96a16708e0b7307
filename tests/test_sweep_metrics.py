"""Each sweep's duration and the items it handled are exposed at GET /metrics."""

import re

import aiohttp

from tests.conftest import Clock
from tests.sweep_support import WEDNESDAY
from workflows.sweep.run import items_in


async def metrics(confide) -> dict[str, float]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{confide.runtime.port}/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    return {
        name: float(value)
        for name, value in re.findall(r"^(confide_sweep_[a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M)
    }


async def test_sweep_duration_and_items_are_exposed(confide_factory):
    confide = await confide_factory.start(clock=Clock(WEDNESDAY))
    scheduler = confide.runtime.scheduler
    before = await metrics(confide)
    assert before["confide_sweep_duration_seconds_count"] == 0 and before["confide_sweep_items_total"] == 0

    confide.clock.advance(days=14)  # the six people in scope owe the NDA, the guest also the contractor one
    sent = await scheduler.sweep_now()
    assert items_in(sent) == 7 and len(sent) == 6
    after = await metrics(confide)
    assert after["confide_sweep_duration_seconds_count"] == 1
    assert after["confide_sweep_items_total"] == 7
    assert after["confide_sweep_duration_seconds_sum"] > 0
    assert after['confide_sweep_duration_seconds_bucket{le="+Inf"}'] == 1

    assert await scheduler.sweep_now() == []  # an idle sweep is timed too, and adds no items
    confide.clock.advance(days=1, seconds=1)
    await scheduler.sweep_now()
    final = await metrics(confide)
    assert final["confide_sweep_duration_seconds_count"] == 3 and final["confide_sweep_items_total"] == 7
