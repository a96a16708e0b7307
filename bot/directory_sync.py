"""Keeps the member directory, user-group membership and who owes which agreement current from Slack
(at start and daily: the scheduler calls `sync_directory` again)."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from workflows.classification import record_secrets
from workflows.directory import member_from_slack, replace_group_members
from workflows.offboarding import sync_member
from workflows.onboarding import sync_agreements
from workflows.services import Services
from workflows.training_obligations import sync_obligations

logger = logging.getLogger("confide.directory")


async def sync_directory(services: Services, client: AsyncWebClient) -> int:
    """users.list (paged) into the directory, every user group the catalog names, then the agreements:
    new versions recorded (and announced), obligations for everyone now in scope; the same for the
    trainings (silently: reminders come after due_days), and when each secret was first loaded (its
    classification reviews count from then). Safe to run again."""
    count = 0
    cursor: str | None = None
    while True:
        page = (
            await client.users_list(limit=200, cursor=cursor)
            if cursor
            else await client.users_list(limit=200)
        )
        async with services.db.write() as conn:
            for user in page.get("members", []):
                await sync_member(conn, services.catalog, services.now(), member_from_slack(user))
                count += 1
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    catalog = services.catalog
    principals = [o for s in catalog.secrets for o in s.owners] + list(catalog.investigators or [])
    groups = sorted({p for p in principals if p.startswith("S")})
    for group_id in groups:
        response = await client.usergroups_users_list(usergroup=group_id)
        async with services.db.write() as conn:
            await replace_group_members(conn, group_id, response.get("users", []))
    await sync_security_channel(services, client)
    async with services.db.write() as conn:
        agreements = await sync_agreements(conn, services.catalog, services.now())
        await sync_obligations(conn, services.catalog, services.now())
        await record_secrets(conn, services.catalog, services.now())
    logger.info(
        "directory synced members=%d groups=%d new_versions=%d announced=%d",
        count,
        len(groups),
        len(agreements.published),
        agreements.announced_to,
    )
    return count


async def sync_security_channel(services: Services, client: AsyncWebClient) -> None:
    """Without `investigators` in the catalog, the security channel's members investigate cases: keep
    them as the members of a group whose id is the channel's."""
    channel = services.catalog.security_channel
    if channel is None or services.catalog.investigators is not None:
        return
    user_ids: list[str] = []
    cursor: str | None = None
    try:
        while True:
            page = await client.conversations_members(channel=channel, limit=200, cursor=cursor or None)
            user_ids += page.get("members", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
    except SlackApiError as exc:  # the app keeps serving; nobody can act on cases until this works
        logger.warning("security channel members unavailable error=%s", exc.response.get("error"))
        return
    async with services.db.write() as conn:
        await replace_group_members(conn, channel, user_ids)
    logger.info("security channel synced members=%d", len(user_ids))
