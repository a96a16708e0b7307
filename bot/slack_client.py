"""The Web API client: honours SLACK_API_URL and retries 429 (Retry-After), 5xx and dropped connections."""

from __future__ import annotations

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from config.settings import Settings


def build_client(
    settings: Settings, *, retries: int = 2, timeout: int = 10, retry_rate_limits: bool = True
) -> AsyncWebClient:
    """`retry_rate_limits=False` hands 429s to the caller (the deliverer pauses all its sends on one)."""
    base_url = (
        settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    )
    handlers = [
        AsyncServerErrorRetryHandler(max_retry_count=retries),
        AsyncConnectionErrorRetryHandler(max_retry_count=retries),
    ]
    if retry_rate_limits:
        handlers.insert(0, AsyncRateLimitErrorRetryHandler(max_retry_count=retries))
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=base_url,
        timeout=timeout,
        retry_handlers=handlers,
    )
