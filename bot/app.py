"""Builds the Bolt app around Confide's services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.logs import guarded_logger
from config.settings import Settings
from handlers import register_all
from workflows.services import Services


def build_app(settings: Settings, services: Services, client: AsyncWebClient) -> AsyncApp:
    """The AsyncApp with every listener registered.

    Listeners run to completion before Slack gets its answer (`process_before_response`), which is
    how "acked is durable" holds for events too. A middleware puts `services` into each listener's
    context, so handlers reach the database, the catalog and the clock without globals. Signature
    verification is Bolt's own (401 for unsigned, wrongly signed or stale requests). `auth.test`
    runs lazily on the first request. Bolt logs through a guarded logger: its DEBUG output is whole
    request and response bodies.
    """
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret or "socket-mode-has-no-signing-secret",
        request_verification_enabled=signing_secret is not None,
        ignoring_self_events_enabled=True,
        # Answer Slack only once the listener has finished: an event's work is committed before Slack
        # hears "200", so a crash makes Slack retry instead of losing, say, an offboarding.
        process_before_response=True,
        logger=guarded_logger("confide.slack_bolt"),
    )

    app.use(ProvideServices(services))
    register_all(app)
    return app


class ProvideServices(AsyncMiddleware):
    """Puts `services` into every listener's context.

    A middleware class, not a function: Bolt calls a function middleware through its argument
    injection, which builds every possible argument on each request (a measurable share of a read).
    """

    def __init__(self, services: Services):
        self.services = services

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        req.context["services"] = self.services
        return await next()
