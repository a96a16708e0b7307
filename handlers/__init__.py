"""Slack listeners: each module parses what Slack sent, calls one workflow and renders the reply."""

from slack_bolt.async_app import AsyncApp

from handlers import access, admin, agreements, errors, events, home, leaks, nudges, signals


def register_all(app: AsyncApp) -> None:
    for feature in (access, agreements, admin, events, home, leaks, signals, nudges, errors):
        feature.register(app)
