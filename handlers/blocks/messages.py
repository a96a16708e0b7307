"""Outbox message kinds and the renderer for each: the deliverer turns a row into a Slack message here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers.blocks import access, agreements, cases, classification, digest, kudos, nudges, reports, signals

Renderer = Callable[[dict[str, Any]], dict[str, Any]]

RENDERERS: dict[str, Renderer] = {
    "request_card": access.request_card,
    "request_decided": access.request_decided,
    "grant_ended": access.grant_ended,
    "offboarding_notice": access.offboarding_notice,
    "signal_alert": signals.signal_alert,
    "case_card": cases.case_card,
    "case_note": cases.case_note,
    "case_reporter_update": reports.reporter_update,
    "nudges": nudges.nudges_message,  # the sweep's one message per recipient (workflows/sweep)
    "weekly_digest": digest.weekly_digest,
    "agreements_welcome": agreements.welcome,
    "agreements_published": agreements.published,
    "kudos": kudos.kudos_message,
    "secret_declassified": classification.secret_declassified,
}


def render(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """`{"text": ..., "blocks": [...]}` for an outbox row; an unknown kind is a programming error."""
    return RENDERERS[kind](data)
