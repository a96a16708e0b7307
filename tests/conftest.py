"""Fixtures: a fresh database per test (SQLite, or PostgreSQL with TEST_DATABASE_URL), a fake Slack,
and a running Confide driven over HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.runtime import Runtime
from config.settings import Settings
from tests.fake_slack import FakeSlack, slack_user
from tests.slack_driver import SlackDriver

SIGNING_SECRET = "test-signing-secret"
EXAMPLE_CATALOG = Path(__file__).parent.parent / "config" / "catalog.toml"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--postgres", action="store_true", help="also run against TEST_DATABASE_URL")


def database_kinds() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


# For a test of what only PostgreSQL does: `database_url` on PostgreSQL only (CI always runs it).
postgres_only = pytest.mark.parametrize(
    "database_url", ["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [], indirect=True
)


@pytest.fixture(params=database_kinds())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database for each test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'confide.db'}"
        return
    admin_url = os.environ["TEST_DATABASE_URL"]
    name = f"confide_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


class Clock:
    """A clock the test moves; starts at the real now so Slack signatures stay fresh."""

    def __init__(self, start: datetime | None = None):
        self.at = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


WORKSPACE = [
    slack_user("U0ADMIN01", "Ada Admin"),
    slack_user("U0OWNER01", "Owen Owner"),
    slack_user("U0OWNER02", "Olga Owner"),
    slack_user("U0EMP01", "Eve Employee"),
    slack_user("U0EMP02", "Emil Employee"),
    slack_user("U0GUEST01", "Gus Guest", guest=True),
    slack_user("U0BOT01", "Build Bot", bot=True),
]


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users=[dict(u) for u in WORKSPACE])
    await fake.start()
    yield fake
    await fake.stop()


@dataclass
class Confide:
    """A running Confide plus the means to talk to it like Slack does."""

    runtime: Runtime
    slack: SlackDriver
    fake: FakeSlack
    clock: Clock
    settings: Settings

    @property
    def db(self):  # type: ignore[no-untyped-def]
        return self.runtime.db


class ConfideFactory:
    def __init__(self, fake: FakeSlack, database_url: str, tmp_path: Path):
        self.fake = fake
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.running: list[Confide] = []

    def settings(self, catalog: str | Path | None = None, **overrides: object) -> Settings:
        if isinstance(catalog, str) and "\n" in catalog:  # TOML text rather than a path
            path = self.tmp_path / f"catalog-{uuid.uuid4().hex[:6]}.toml"
            path.write_text(str(catalog))
            catalog = path
        return Settings(
            slack_bot_token="xoxb-test-token",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=self.fake.url + "/api/",
            database_url=self.database_url,
            confide_catalog=str(catalog or EXAMPLE_CATALOG),
            host="127.0.0.1",
            port=0,
            **overrides,  # type: ignore[arg-type]
        )

    async def start(
        self,
        catalog: str | Path | None = None,
        clock: Clock | None = None,
        deliver: bool = True,
        **overrides: object,
    ) -> Confide:
        settings = self.settings(catalog, **overrides)
        clock = clock or Clock()
        # Many tests read the audit tables right after the requests they drive: the sealer doesn't
        # rest between rounds here (test_audit_chain covers its rest).
        runtime = Runtime(settings, clock=clock, delivery_poll_seconds=0.05, sealer_rest_seconds=0)
        await runtime.prepare()
        if not deliver:
            await runtime.deliverer.stop()
        port = await runtime.serve_http("127.0.0.1", 0)
        driver = SlackDriver(f"http://127.0.0.1:{port}", SIGNING_SECRET, self.fake)
        confide = Confide(runtime, driver, self.fake, clock, settings)
        self.running.append(confide)
        return confide

    async def stop(self, confide: Confide) -> None:
        if confide in self.running:
            self.running.remove(confide)
            await confide.slack.close()
            await confide.runtime.stop()


@pytest.fixture
async def confide_factory(
    fake_slack: FakeSlack, database_url: str, tmp_path: Path
) -> AsyncIterator[ConfideFactory]:
    factory = ConfideFactory(fake_slack, database_url, tmp_path)
    yield factory
    for confide in list(factory.running):
        await factory.stop(confide)


@pytest.fixture
async def confide(confide_factory: ConfideFactory) -> Confide:
    """Confide with the example catalog, on a fresh database, against the fake Slack."""
    return await confide_factory.start()
