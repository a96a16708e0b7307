"""One gate for every Slack call the deliverer makes: a 429 pauses them all, and a pace keeps them
under Slack's allowance so that 429s stay rare."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class Pacer:
    """Turns for Slack calls: none while a Retry-After runs, and otherwise evenly spaced a little under
    Slack's allowance, when that is known.

    The allowance is `rate_per_second` when configured. Otherwise it is learned from Slack's first 429:
    the calls Slack accepted in the second before it refused one. Without that, every Retry-After
    (whole seconds) would idle the deliverer for longer than Slack's window had left to run. A learned
    allowance is forgotten after `FORGET_SECONDS` without a 429 (limits change, and a 429 may have
    been one channel's own limit), and learned again at the next 429.

    The margin is there because Slack counts arrivals: network jitter bunches evenly spaced calls, and
    one call over the allowance costs every sender a whole Retry-After. A turn nobody took is not lost
    at once: up to half the margin's worth of them (2.5 at 100/s) may be caught up without waiting,
    which still keeps any one second of calls under the allowance.
    """

    MARGIN = 0.95
    FORGET_SECONDS = 30.0

    def __init__(self, rate_per_second: float | None = None):
        self.configured = rate_per_second
        self.rate: float | None = None
        self.interval = 0.0
        self.catch_up = 0.0  # seconds of missed turns that may still be taken
        self._pace(rate_per_second)
        self._next_slot = 0.0  # event-loop time of the next free turn
        self._resume_at = 0.0  # event-loop time the last Retry-After ends
        self._last_refusal = 0.0
        self._accepted: deque[float] = deque()  # when Slack accepted each call of the last second

    def _pace(self, rate: float | None) -> None:
        self.rate = rate
        self.interval = 1.0 / (rate * self.MARGIN) if rate else 0.0
        self.catch_up = (rate or 0.0) * (1 - self.MARGIN) / 2 * self.interval

    async def turn(self, stop: asyncio.Event) -> bool:
        """Wait for this call's turn; False if `stop` is set first."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            now = loop.time()
            slot = max(now - self.catch_up, self._next_slot, self._resume_at)
            self._next_slot = slot + self.interval
            if slot > now:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=slot - now)
            if loop.time() >= self._resume_at:  # no 429 arrived while this turn waited
                return not stop.is_set()
        return False

    def accepted(self) -> None:
        """Slack accepted a call (what a learned allowance is counted from)."""
        if self.configured:
            return
        now = asyncio.get_running_loop().time()
        self._accepted.append(now)
        self._forget_before(now - 1.0)
        if self.rate is None:
            return
        if now < self._resume_at:
            # Heard during the pause, so sent before it: Slack counted this call in the second in
            # which it refused one, and the allowance learned then was one short.
            self._pace(self.rate + 1)
        elif now - self._last_refusal > self.FORGET_SECONDS:
            self._pace(None)

    def hold(self, seconds: float) -> None:
        """Slack said Retry-After: no call leaves before it has passed."""
        now = asyncio.get_running_loop().time()
        if not self.configured and now >= self._resume_at:  # not one of the calls already in flight
            self._last_refusal = now
            self._forget_before(now - 1.0)
            if self._accepted:
                self._pace(len(self._accepted))
        self._resume_at = max(self._resume_at, now + seconds)

    def _forget_before(self, instant: float) -> None:
        while self._accepted and self._accepted[0] < instant:
            self._accepted.popleft()
