"""The deliverer's own Web API calls (`bot/web_api.py`) answer and fail as the SDK's client does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import _retry_after
from bot.slack_client import http_session
from bot.web_api import WebApi


@pytest.fixture
async def slack() -> AsyncIterator[tuple[WebApi, list[dict[str, Any]], dict[str, web.Response]]]:
    """A Slack answering chat.postMessage with whatever the test puts in `answers`."""
    heard: list[dict[str, Any]] = []
    answers: dict[str, web.Response] = {}

    async def api(request: web.Request) -> web.Response:
        heard.append({"auth": request.headers.get("Authorization"), "body": await request.json()})
        return answers["next"]

    app = web.Application()
    app.router.add_post("/api/{method}", api)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = AsyncWebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{port}/api/")
    client.session = http_session(client)
    yield WebApi(client), heard, answers
    await client.session.close()
    await runner.cleanup()


async def test_an_ok_answer_is_its_data_and_the_call_carries_the_token_and_the_arguments(slack):
    api, heard, answers = slack
    answers["next"] = web.json_response({"ok": True, "channel": "D0A", "ts": "1.2"})
    data = await api.call("chat.postMessage", {"channel": "U0A", "text": "hi", "thread_ts": None})
    assert data == {"ok": True, "channel": "D0A", "ts": "1.2"}
    assert heard == [{"auth": "Bearer xoxb-test", "body": {"channel": "U0A", "text": "hi"}}]


async def test_a_refusal_raises_the_sdks_error_with_status_headers_and_error(slack):
    api, _heard, answers = slack
    answers["next"] = web.json_response(
        {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "7"}
    )
    with pytest.raises(SlackApiError) as raised:
        await api.call("chat.postMessage", {"channel": "U0A", "text": "hi"})
    assert raised.value.response.status_code == 429
    assert raised.value.response.get("error") == "ratelimited"
    assert _retry_after(raised.value.response.headers) == 7.0

    answers["next"] = web.json_response({"ok": False, "error": "channel_not_found"})
    with pytest.raises(SlackApiError) as raised:
        await api.call("chat.postMessage", {"channel": "U0A", "text": "hi"})
    assert (raised.value.response.status_code, raised.value.response.get("error")) == (
        200,
        "channel_not_found",
    )


async def test_an_answer_that_is_not_json_raises_with_its_status(slack):
    api, _heard, answers = slack
    answers["next"] = web.Response(text="<html>Bad Gateway</html>", status=502, content_type="text/html")
    with pytest.raises(SlackApiError) as raised:
        await api.call("chat.postMessage", {"channel": "U0A", "text": "hi"})
    assert raised.value.response.status_code == 502
    assert raised.value.response.get("error", "unknown") == "unknown"
