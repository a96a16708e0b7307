"""Slack listeners: each module parses what Slack sent, calls one workflow and renders the reply."""

from slack_bolt.async_app import AsyncApp

from handlers import (
    access,
    admin,
    agreements,
    classification,
    errors,
    events,
    home,
    kudos,
    leaks,
    nudges,
    signals,
    training,
)


def register_all(app: AsyncApp) -> None:
    features = (
        access,
        agreements,
        admin,
        events,
        home,
        leaks,
        signals,
        nudges,
        training,
        kudos,
        classification,
    )
    for feature in (*features, errors):
        feature.register(app)
