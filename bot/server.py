"""The HTTP surface: POST /slack/events for everything Slack sends, GET /healthz for the platform."""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from workflows.db import Database

logger = logging.getLogger("confide.server")


def build_web_app(bolt: AsyncApp, db: Database) -> web.Application:
    async def slack_events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        bolt_response = await bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

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

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post("/slack/events", slack_events)
    web_app.router.add_get("/healthz", healthz)
    return web_app
