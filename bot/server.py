"""The HTTP surface: POST /slack/events for everything Slack sends, GET /healthz, GET /metrics."""

from __future__ import annotations

import itertools
import logging
import os
import time
from datetime import UTC, datetime

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.logs import request_id_var
from bot.metrics import Metrics, request_kind
from workflows import outbox
from workflows.db import Database

logger = logging.getLogger("confide.server")

# Request ids for the logs: this process's random tag and a counter (12 hex digits, as uuid4's were,
# without a system call for randomness on every request).
_PROCESS_TAG = os.urandom(3).hex()
_REQUEST_NUMBERS = itertools.count()


def next_request_id() -> str:
    return f"{_PROCESS_TAG}{next(_REQUEST_NUMBERS) & 0xFFFFFF:06x}"


def build_web_app(bolt: AsyncApp, db: Database, metrics: Metrics | None = None) -> web.Application:
    metrics = metrics or Metrics()

    async def slack_events(request: web.Request) -> web.Response:
        started = time.perf_counter()
        request_id_var.set(next_request_id())
        bolt_request = await to_bolt_request(request)
        bolt_response = await bolt.async_dispatch(bolt_request)
        response = await to_aiohttp_response(bolt_response)
        kind = request_kind(bolt_request.body) if response.status != 401 else "unverified"
        outcome = "ok" if response.status < 400 else str(response.status)
        metrics.observe_request(kind, outcome, time.perf_counter() - started)
        logger.info("slack request kind=%s status=%s", kind, response.status)
        return response

    async def healthz(_request: web.Request) -> web.Response:
        try:
            applied, expected = await db.migration_state()
        except Exception as exc:  # any failure to reach the database is "not healthy", never a 500
            logger.warning("health check: database unreachable (%s)", type(exc).__name__)
            return web.json_response({"ok": False, "database": "unreachable"}, status=503)
        if applied != expected:
            return web.json_response(
                {
                    "ok": False,
                    "database": "reachable",
                    "migrations": "pending",
                    "applied": sorted(applied),
                    "expected": sorted(expected),
                },
                status=503,
            )
        return web.json_response({"ok": True, "database": "reachable", "migrations": sorted(applied)})

    async def prometheus(_request: web.Request) -> web.Response:
        async with db.read() as conn:
            waiting, oldest = await outbox.backlog(conn)
        age = max(0.0, (datetime.now(UTC) - oldest).total_seconds()) if oldest else 0.0
        text = metrics.render(outbox_backlog=waiting, outbox_oldest_age=age)
        return web.Response(
            text=text,
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post("/slack/events", slack_events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", prometheus)
    return web_app
