"""A running Confide: database, catalog, Bolt app, deliverer, scheduler, HTTP server. Used by `serve`
and the tests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from aiohttp import web

from bot.app import build_app
from bot.delivery import Deliverer
from bot.directory_sync import sync_directory
from bot.forwarder import AuditForwarder
from bot.logs import guard_library_logs
from bot.metrics import Metrics
from bot.scheduler import Scheduler
from bot.sealer import AuditSealer
from bot.server import build_web_app
from bot.slack_client import build_client
from config.catalog import load_catalog
from config.settings import Settings
from workflows.db import Database
from workflows.services import Services, utc_now

logger = logging.getLogger("confide")


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        delivery_poll_seconds: float = 1.0,
        sealer_rest_seconds: float = 0.1,
    ):
        self.settings = settings
        guard_library_logs()
        self.catalog = load_catalog(settings.confide_catalog)
        self.db = Database(
            settings.database_url,
            pool_size=settings.confide_database_pool_size,
            background_checkpoints=True,
        )
        self.services = Services(db=self.db, catalog=self.catalog, clock=clock)
        self.client = build_client(settings)
        self.bolt = build_app(settings, self.services, self.client)
        # The deliverer runs on the wall clock: retries and leases are operational time, not business time.
        self.metrics = Metrics()
        self.deliverer = Deliverer(
            self.db,
            build_client(settings, retries=0),  # the outbox retries; a client retry could outlive the lease
            utc_now,
            poll_seconds=delivery_poll_seconds,
            metrics=self.metrics,
            lease=timedelta(seconds=settings.confide_outbox_lease_seconds),
            rate_per_second=settings.confide_slack_rate_limit,
        )
        self.sealer = AuditSealer(self.db, rest_seconds=sealer_rest_seconds)
        self.forwarder = AuditForwarder(self.db, settings) if settings.confide_audit_webhook_url else None
        self.scheduler = Scheduler(
            self.services,
            sweep_seconds=settings.confide_sweep_seconds,
            sync_directory=lambda: sync_directory(self.services, self.client),
            after_sweep=self.deliverer.wake,
            metrics=self.metrics,
        )
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def prepare(self, *, sync: bool = True) -> None:
        """Migrate, learn the workspace's members, start delivering and the scheduled jobs."""
        await self.db.migrate()
        self.db.start_background_work()
        if sync:
            await sync_directory(self.services, self.client)
        self.deliverer.start()
        self.sealer.start()
        if self.forwarder is not None:
            self.forwarder.start()
        self.scheduler.start()

    async def serve_http(self, host: str | None = None, port: int | None = None) -> int:
        self._runner = web.AppRunner(build_web_app(self.bolt, self.db, self.metrics), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, host or self.settings.host, self.settings.port if port is None else port
        )
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1] if sockets else port
        logger.info("serving http port=%s", self.port)
        return self.port or 0

    async def stop(self) -> None:
        """Stop taking requests and scheduled jobs, finish in-flight delivery, release the database."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.scheduler.stop()
        await self.deliverer.stop()
        await self.sealer.stop()
        if self.forwarder is not None:
            await self.forwarder.stop()
        await self.db.dispose()
