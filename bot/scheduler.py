"""APScheduler jobs inside `confide serve`: the sweep, the weekly digest on time, the daily directory sync."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.metrics import Metrics
from workflows.digest import WEEKDAYS, parse_weekly
from workflows.outbox import OutgoingMessage
from workflows.services import Services
from workflows.sweep.run import items_in, sweep

logger = logging.getLogger("confide.scheduler")


class Scheduler:
    """Owns the AsyncIOScheduler. Each replica runs its own; the database decides who does what."""

    def __init__(
        self,
        services: Services,
        *,
        sweep_seconds: int,
        sync_directory: Callable[[], Awaitable[object]],
        after_sweep: Callable[[], None] = lambda: None,
        metrics: Metrics | None = None,
    ):
        self.services = services
        self.sweep_seconds = sweep_seconds
        self._sync_directory = sync_directory
        self._after_sweep = after_sweep
        self._metrics = metrics
        self._scheduler: AsyncIOScheduler | None = None
        self._in_flight: set[asyncio.Task[object]] = set()
        self._sweeping = asyncio.Lock()  # the digest job and the interval job never overlap here

    def start(self) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 300}
        scheduler.add_job(
            self._job(self.sweep_now), IntervalTrigger(seconds=self.sweep_seconds), id="sweep", **common
        )
        weekday, hour, minute = parse_weekly(self.services.catalog.schedule.digest)
        # The digest is a sweep step; this job only makes it go out on the minute rather than at the
        # next interval sweep.
        scheduler.add_job(
            self._job(self.sweep_now),
            CronTrigger(day_of_week=WEEKDAYS[weekday], hour=hour, minute=minute, timezone=UTC),
            id="digest",
            **common,
        )
        scheduler.add_job(
            self._job(self._sync_directory), IntervalTrigger(days=1), id="directory-sync", **common
        )
        scheduler.start()
        self._scheduler = scheduler
        logger.info(
            "scheduler started sweep_seconds=%d digest=%s",
            self.sweep_seconds,
            self.services.catalog.schedule.digest,
        )

    async def stop(self) -> None:
        """No new runs; a sweep in progress finishes (its transaction commits or rolls back whole)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def sweep_now(self) -> list[OutgoingMessage]:
        """One sweep as of the services' clock, committed; the deliverer is woken for its messages."""
        async with self._sweeping:
            started = time.perf_counter()
            messages = await sweep(self.services.db, self.services.catalog, self.services.now())
            if self._metrics is not None:
                self._metrics.observe_sweep(time.perf_counter() - started, items_in(messages))
        if messages:
            self._after_sweep()
        return messages

    def _job(self, run: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._in_flight.add(task)
            try:
                await run()
            finally:
                if task is not None:
                    self._in_flight.discard(task)

        job.__name__ = getattr(run, "__name__", "job")
        return job
