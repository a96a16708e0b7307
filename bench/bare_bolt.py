"""The framework's floor: a bare slack-bolt AsyncApp that only acks `/access` with a static text.

Built and served the way Confide is (same adapter, no access log, signature verification on), so
the difference between the two is Confide's own work. Run as `python -m bench.bare_bolt`.

With `BARE_BOLT_DATABASE_FLOOR=1` it is the database's floor instead: before acking, each command
makes exactly one round trip to `DATABASE_URL` with the bare driver (asyncpg, or sqlite3 inline as
Confide runs it): `/access list` reads one row, anything else commits one row. No app that reads or
writes that database per request can beat it on the same machine.
"""

from __future__ import annotations

import asyncio
import os
import signal

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bench.floor import DatabaseFloor


def build_bare_app(floor: DatabaseFloor | None = None) -> web.Application:
    client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    bolt = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @bolt.command("/access")
    async def ack_only(ack: AsyncAck, command: dict) -> None:
        if floor is not None:
            await floor.round_trip(write=not command.get("text", "").startswith("list"))
        await ack(response_type="ephemeral", text="ok")

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post("/slack/events", slack_events)
    web_app.router.add_get("/healthz", healthz)
    return web_app


async def serve() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    floor = None
    if os.environ.get("BARE_BOLT_DATABASE_FLOOR") == "1":
        floor = await DatabaseFloor.open(os.environ["DATABASE_URL"])
    runner = web.AppRunner(build_bare_app(floor), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(os.environ["PORT"])).start()
    await stop.wait()
    await runner.cleanup()
    if floor is not None:
        await floor.close()


if __name__ == "__main__":
    asyncio.run(serve())
