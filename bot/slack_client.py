"""The Web API client: honours SLACK_API_URL and retries 429 (Retry-After), 5xx and dropped connections."""

from __future__ import annotations

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.logs import guarded_logger
from config.settings import Settings


def build_client(settings: Settings, *, retries: int = 2, timeout: int = 10) -> AsyncWebClient:
    base_url = (
        settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    )
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=base_url,
        timeout=timeout,
        logger=guarded_logger("confide.slack_sdk"),  # its DEBUG output is every request's arguments
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=retries),
            AsyncServerErrorRetryHandler(max_retry_count=retries),
            AsyncConnectionErrorRetryHandler(max_retry_count=retries),
        ],
    )


def http_session(client: AsyncWebClient) -> aiohttp.ClientSession:
    """A long-lived, pooled HTTP session for a client that makes many calls (the deliverer): without
    one the SDK opens a session, and a connection, per call. Whoever opens it closes it. The SDK does
    not apply its own timeout to a session it is given, so the session carries it."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=client.timeout))
