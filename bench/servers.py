"""A fake Slack in this process, plus `confide serve` and the bare Bolt app as subprocesses."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import seed
from bench.common import BOT_TOKEN, SIGNING_SECRET, Server, free_port, fresh_database, python_module
from tests.fake_slack import FakeSlack


@dataclass
class Stack:
    fake: FakeSlack
    confide: Server
    bare: Server | None
    database_url: str


def confide_env(fake: FakeSlack, database_url: str, catalog: Path, port: int) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.url + "/api/",
        "DATABASE_URL": database_url,
        "CONFIDE_CATALOG": str(catalog),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }


@contextlib.asynccontextmanager
async def running_stack(
    database: str,
    workdir: Path,
    *,
    people: int,
    seed_grants: int = 0,
    with_bare: bool = True,
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """Fake Slack listing `people` (plus owners), a fresh database (optionally holding `seed_grants`
    grants of those people), Confide serving it and, beside it, the bare Bolt app."""
    fake = FakeSlack(users=seed.workspace(people))
    await fake.start()
    catalog = seed.write_catalog(workdir / "catalog.toml")
    try:
        async with fresh_database(database, workdir, "serve") as database_url:
            if seed_grants:
                await seed.seed(
                    database_url, grants_total=seed_grants, due=0, people=people, at=datetime.now(UTC)
                )
            port = free_port()
            env = {**confide_env(fake, database_url, catalog, port), **(extra_env or {})}
            confide = Server(
                "confide serve", python_module("bot", "serve"), env, port, workdir / "confide.log"
            )
            bare = None
            if with_bare:
                bare_port = free_port()
                bare_env = {**env, "PORT": str(bare_port)}
                bare = Server(
                    "bare bolt", python_module("bench.bare_bolt"), bare_env, bare_port, workdir / "bare.log"
                )
            try:
                await confide.wait_ready()
                if bare is not None:
                    await bare.wait_ready()
                yield Stack(fake, confide, bare, database_url)
            finally:
                await confide.stop()
                if bare is not None:
                    await bare.stop()
    finally:
        await fake.stop()
