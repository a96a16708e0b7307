"""The deliverer's Web API calls (chat.postMessage, chat.update), made on aiohttp directly.

Why not through the SDK's `AsyncWebClient` as everything else: under a burst of cards (an all-hands
filing requests to one owner) the deliverer makes thousands of calls of one kind, and the SDK's
generic path (its argument building, logging and retry-handler hooks and response object around
each aiohttp request) took about as much of the server's CPU as the HTTP request itself (py-spy,
BENCHMARKS.md section 1). The deliverer's client has no retries of its own (the outbox retries), so
this does only what such a call needs: POST the JSON with the token, read the JSON answer, and raise
the SDK's own `SlackApiError` for anything but an `ok` one, carrying an `AsyncSlackResponse` as the
SDK would (status, headers such as Retry-After, the error), so whatever handles it is unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse


class WebApi:
    """Calls on `client`'s base URL, token and HTTP session (`bot.slack_client.http_session`)."""

    def __init__(self, client: AsyncWebClient):
        self.client = client
        self._headers = {
            **client.headers,  # the SDK's User-Agent among them
            "Authorization": f"Bearer {client.token}",
            "Content-Type": "application/json;charset=utf-8",
        }

    async def call(self, method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The answer's data if Slack answered `ok`; else raises SlackApiError as the SDK does."""
        session = self.client.session
        assert session is not None, "the deliverer opens a session before it sends"
        url = f"{self.client.base_url}{method}"
        body = json.dumps({key: value for key, value in arguments.items() if value is not None})
        # The client's proxy (HTTPS_PROXY) and TLS settings, as the SDK passes them on every call.
        async with session.post(
            url, data=body, headers=self._headers, proxy=self.client.proxy, ssl=self.client.ssl
        ) as response:
            status, headers = response.status, response.headers
            try:
                data = await response.json(content_type=None)
            except ValueError:  # not JSON, or not even text: a proxy's error page, say
                data = None
        if status == 200 and isinstance(data, dict) and data.get("ok"):
            return data
        answer = AsyncSlackResponse(
            client=self.client,
            http_verb="POST",
            api_url=url,
            req_args={},
            data=data if isinstance(data, dict) else {},
            headers=headers,
            status_code=status,
        )
        raise SlackApiError(f"The request to the Slack API failed. (url: {url})", answer)
