"""Keeps the member directory and user-group membership current from Slack (at start and daily)."""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from workflows.directory import member_from_slack, replace_group_members
from workflows.offboarding import sync_member
from workflows.services import Services

logger = logging.getLogger("confide.directory")


async def sync_directory(services: Services, client: AsyncWebClient) -> int:
    """users.list (paged) into the directory, then every user group the catalog names."""
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
    groups = sorted({o for s in services.catalog.secrets for o in s.owners if o.startswith("S")})
    for group_id in groups:
        response = await client.usergroups_users_list(usergroup=group_id)
        async with services.db.write() as conn:
            await replace_group_members(conn, group_id, response.get("users", []))
    logger.info("directory synced members=%d groups=%d", count, len(groups))
    return count
