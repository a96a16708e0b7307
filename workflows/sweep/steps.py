"""Every step of the sweep, in the order they run. Adding a row of SPEC's sweep table = adding a step here.

A step is `async def step(conn, catalog, now, collector) -> None`. It claims what is due with
`claims.claim_due` (so a second sweep or replica finds nothing left), changes state and audits in
`conn` (the sweep's one transaction), and says what people need to hear with `collector.add(...)`
(batched into one message per recipient at the end). docs/sweep.md has the details.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from config.catalog import Catalog
from workflows.connection import Connection
from workflows.events import forget_old_events
from workflows.sweep.agreements import remind_owed_agreements
from workflows.sweep.cases import nudge_case_deadlines
from workflows.sweep.classification import ask_classification_reviews
from workflows.sweep.collector import Collector
from workflows.sweep.digest import post_weekly_digest
from workflows.sweep.grants import expire_grants, warn_expiring_grants
from workflows.sweep.requests import expire_requests, remind_approvers
from workflows.sweep.reviews import notify_due_reviews
from workflows.sweep.training import remind_owed_training

Step = Callable[[Connection, Catalog, datetime, Collector], Awaitable[None]]


async def forget_processed_events(
    conn: Connection, catalog: Catalog, now: datetime, collector: Collector
) -> None:
    """Housekeeping: Slack stops retrying an event within a day, so older event ids can go."""
    await forget_old_events(conn, now)


STEPS: list[Step] = [
    # Endings before reminders, so nobody is reminded of something that ends in the same sweep
    # (an expiring grant withdraws its pending extension request).
    expire_grants,
    expire_requests,
    remind_approvers,
    warn_expiring_grants,
    notify_due_reviews,
    remind_owed_agreements,
    nudge_case_deadlines,
    remind_owed_training,
    ask_classification_reviews,
    post_weekly_digest,
    forget_processed_events,
]
