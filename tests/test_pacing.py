"""The deliverer's pacer learns Slack's allowance from a 429 when none is configured."""

from __future__ import annotations

from bot.pacing import Pacer


async def test_a_429_teaches_the_allowance_what_slack_accepted_in_the_second_before():
    pacer = Pacer()
    assert pacer.rate is None  # nothing known: calls go as fast as lanes make them
    for _ in range(5):
        pacer.accepted()
    pacer.hold(1.0)
    assert pacer.rate == 5
    pacer.accepted()  # an answer heard during the pause was sent before it: the same second
    assert pacer.rate == 6
    pacer.hold(1.0)  # another call that was in flight: the same refusal, nothing new to learn
    assert pacer.rate == 6


async def test_a_configured_allowance_is_kept_whatever_slack_answers():
    pacer = Pacer(100)
    for _ in range(5):
        pacer.accepted()
    pacer.hold(1.0)
    assert pacer.rate == 100 and abs(pacer.interval - 1 / 95) < 1e-9


async def test_a_learned_allowance_is_forgotten_after_a_quiet_spell():
    pacer = Pacer()
    pacer.FORGET_SECONDS = -1.0  # as if the quiet spell had already passed
    pacer.accepted()
    pacer.hold(0.0)
    assert pacer.rate == 1
    pacer.accepted()
    assert pacer.rate is None
