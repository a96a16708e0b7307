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
    floor: Server | None = None  # bare Bolt plus one database round trip per command


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
    with_floor: bool = False,
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
            bare = _bare_bolt(env, workdir, "bare bolt") if with_bare else None
            floor = _bare_bolt(env, workdir, "db floor", BARE_BOLT_DATABASE_FLOOR="1") if with_floor else None
            extras = [s for s in (bare, floor) if s is not None]
            try:
                for server in (confide, *extras):
                    await server.wait_ready()
                yield Stack(fake, confide, bare, database_url, floor)
            finally:
                for server in (confide, *extras):
                    await server.stop()
    finally:
        await fake.stop()


def _bare_bolt(env: dict[str, str], workdir: Path, name: str, **extra_env: str) -> Server:
    port = free_port()
    log = workdir / f"{name.replace(' ', '-')}.log"
    return Server(name, python_module("bench.bare_bolt"), {**env, **extra_env, "PORT": str(port)}, port, log)
