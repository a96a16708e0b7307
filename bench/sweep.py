"""Sweep scaling: one sweep over 10k, 100k and 1M grants where the same 1,000 are due.

The scheduler sweep (`workflows.sweep`) lands on another branch; until it is merged this prints that
the sweep is not available. Once it is, the harness finds its entry point and calls it in process,
binding arguments by name (services, db, catalog, now/at, clock, client); when no function binds it
times `python -m bot nudges --at T` instead, which includes the process start-up.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import sqlalchemy as sa
from slack_sdk.web.async_client import AsyncWebClient

from bench import seed
from bench.common import (
    BOT_TOKEN,
    database_kind,
    fresh_database,
    header,
    median,
    python_module,
)
from bench.servers import confide_env
from config.catalog import load_catalog
from tests.fake_slack import FakeSlack
from workflows.db import Database
from workflows.services import Services
from workflows.tables import audit_log, outbox

ENTRY_POINTS = ("run_sweep", "sweep", "run_once", "run")
GOAL_RATIO = 2.0
UNAVAILABLE = "sweep not available in this build (workflows.sweep is not there yet); nothing measured"

Sweep = Callable[[datetime], Awaitable[Any]]


def sweep_module() -> ModuleType | None:
    try:
        return importlib.import_module("workflows.sweep")
    except ModuleNotFoundError as exc:
        if exc.name == "workflows.sweep":
            return None
        raise


def bind_sweep(module: ModuleType, services: Services, client: AsyncWebClient) -> Sweep | None:
    """The module's sweep function with everything but the instant filled in by parameter name."""
    known: dict[str, Any] = {
        "services": services,
        "db": services.db,
        "database": services.db,
        "catalog": services.catalog,
        "client": client,
        "dry_run": False,
    }
    for name in ENTRY_POINTS:
        function = getattr(module, name, None)
        if not inspect.iscoroutinefunction(function):
            continue
        params = inspect.signature(function).parameters
        instant = next((p for p in ("now", "at", "instant", "when") if p in params), None)
        fillable = set(known) | {"clock", instant}
        if all(p.name in fillable or p.default is not p.empty for p in params.values()):
            fixed = {k: v for k, v in known.items() if k in params}
            return _with_instant(function, fixed, instant, "clock" in params, services)
    return None


def _with_instant(
    function: Callable[..., Awaitable[Any]],
    fixed: dict[str, Any],
    instant: str | None,
    wants_clock: bool,
    services: Services,
) -> Sweep:
    async def call(at: datetime) -> Any:
        kwargs = dict(fixed)
        if instant:
            kwargs[instant] = at
        if wants_clock:
            kwargs["clock"] = lambda: at
        services.clock = lambda: at
        return await function(**kwargs)

    return call


@dataclass(frozen=True)
class SweepFigure:
    grants: int
    due: int
    first: float  # the sweep that finds the due work
    second: float  # the same instant again: nothing left to do
    how: str


@contextlib.asynccontextmanager
async def copy_of(template_url: str, workdir: Path) -> AsyncIterator[str]:
    """A throw-away copy of a seeded database, so every repeat sweeps the same due work."""
    if template_url.startswith("sqlite"):
        source = Path(template_url.removeprefix("sqlite:///"))
        target = workdir / f"sweep-copy-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(source, target)
        yield f"sqlite:///{target}"
        target.unlink(missing_ok=True)
        return
    base, _, template = template_url.rpartition("/")
    name = f"{template}_copy"
    admin = await asyncpg.connect(base + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(base + "/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def time_sweep_in_process(
    module: ModuleType, database_url: str, catalog_path: Path, fake: FakeSlack, at: datetime
) -> SweepTiming | None:
    db = Database(database_url)
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.url + "/api/")
    services = Services(db=db, catalog=load_catalog(catalog_path), clock=lambda: at)
    sweep = bind_sweep(module, services, client)
    if sweep is None:
        await db.dispose()
        return None
    try:
        before = await work_done(db)  # also opens the pool before the clock starts
        started = time.perf_counter()
        await sweep(at)
        first = time.perf_counter() - started
        after = await work_done(db)
        started = time.perf_counter()
        await sweep(at)
        second = time.perf_counter() - started
        return SweepTiming(first, second, after[0] - before[0], after[1] - before[1])
    finally:
        await db.dispose()


async def work_done(db: Database) -> tuple[int, int]:
    """(outbox rows, audit entries): what a sweep leaves behind, to show it did the due work."""
    async with db.read() as conn:
        messages = (await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar_one()
        entries = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar_one()
    return messages, entries


def time_sweep_cli(database_url: str, catalog_path: Path, fake: FakeSlack, at: datetime) -> SweepTiming:
    env = {**os.environ, **confide_env(fake, database_url, catalog_path, 0)}
    argv = python_module("bot", "nudges", "--at", at.isoformat())
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=1800)
        timings.append(time.perf_counter() - started)
    return SweepTiming(timings[0], timings[1], -1, -1)


@dataclass(frozen=True)
class SweepTiming:
    first: float  # the sweep that finds the due work
    second: float  # the same instant again: nothing left to do
    messages: int  # outbox rows the first sweep queued (-1: not counted)
    audit_entries: int


async def bench_sweep(
    database: str,
    workdir: Path,
    *,
    sizes: list[int],
    due: int,
    people: int,
    repeats: int,
    module: ModuleType | None = None,
) -> list[SweepFigure] | None:
    """Time the sweep of `module` (default: workflows.sweep, when this build has it)."""
    header(f"sweep scaling on {database_kind(database)}: {sizes} grants, {due} due, {people} people")
    module = module or sweep_module()
    if module is None:
        print(f"   {UNAVAILABLE}")
        return None
    at = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    catalog = seed.write_catalog(workdir / "catalog.toml")
    fake = FakeSlack(users=seed.workspace(0))
    await fake.start()
    figures = []
    try:
        for size in sizes:
            async with fresh_database(database, workdir, f"sweep{size}") as template:
                seeded = await seed.seed(
                    template, grants_total=size, due=due, people=min(people, size), at=at
                )
                print(f"   seeded {size} grants ({seeded.due} due) in {seeded.seconds:.1f} s")
                timings, how = [], "in process"
                for _ in range(repeats):
                    async with copy_of(template, workdir) as url:
                        timed = await time_sweep_in_process(module, url, catalog, fake, at)
                        if timed is None:
                            how = "python -m bot nudges --at (includes start-up)"
                            timed = time_sweep_cli(url, catalog, fake, at)
                    timings.append(timed)
                figure = SweepFigure(
                    size,
                    seeded.due,
                    median([t.first for t in timings]),
                    median([t.second for t in timings]),
                    how,
                )
                figures.append(figure)
                print(
                    f"   {size:>9} grants: sweep {figure.first * 1000:.0f} ms "
                    f"({timings[0].messages} messages queued, {timings[0].audit_entries} audit entries), "
                    f"again at the same instant {figure.second * 1000:.0f} ms ({how}, median of {repeats})"
                )
    finally:
        await fake.stop()
    if len(figures) > 1:
        ratio = figures[-1].first / figures[0].first
        verdict = "met" if ratio <= GOAL_RATIO else "MISSED"
        print(
            f"   sweep over {figures[-1].grants} / over {figures[0].grants}: {ratio:.2f} "
            f"(goal <= {GOAL_RATIO}) {verdict}"
        )
    return figures
