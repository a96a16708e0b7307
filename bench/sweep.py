"""Sweep scaling: one sweep over 10k, 100k and 1M grants where the same 1,000 are due.

Each sweep runs in process (`workflows.sweep.run.sweep`, what the scheduler and `confide nudges` run),
then again at the same instant, which must find nothing left to do.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import sqlalchemy as sa

from bench import seed
from bench.common import (
    database_kind,
    fresh_database,
    header,
    median,
    split_database_url,
)
from config.catalog import Catalog, load_catalog
from workflows import audit
from workflows.db import Database
from workflows.sweep.run import sweep as run_sweep
from workflows.tables import audit_log, outbox

GOAL_RATIO = 2.0


@dataclass(frozen=True)
class SweepFigure:
    grants: int
    due: int
    first: float  # the sweep that finds the due work
    second: float  # the same instant again: nothing left to do


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
    base, template, query = split_database_url(template_url)
    name = f"{template}_copy"
    admin = await asyncpg.connect(base + "/postgres" + query)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    try:
        yield f"{base}/{name}{query}"
    finally:
        admin = await asyncpg.connect(base + "/postgres" + query)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def time_sweep_in_process(database_url: str, catalog_path: Path, at: datetime) -> SweepTiming:
    db = Database(database_url)
    catalog = load_catalog(catalog_path)
    try:
        before = await work_done(db)  # also opens the pool before the clock starts
        started = time.perf_counter()
        await sweep_and_seal(db, catalog, at)
        first = time.perf_counter() - started
        after = await work_done(db)
        started = time.perf_counter()
        await sweep_and_seal(db, catalog, at)
        second = time.perf_counter() - started
        return SweepTiming(first, second, after[0] - before[0], after[1] - before[1])
    finally:
        await db.dispose()


async def sweep_and_seal(db: Database, catalog: Catalog, at: datetime) -> None:
    """The sweep, and the chaining of its audit entries that `serve`'s sealer does right after it."""
    await run_sweep(db, catalog, at)
    await audit.seal(db)


async def work_done(db: Database) -> tuple[int, int]:
    """(outbox rows, audit entries): what a sweep leaves behind, to show it did the due work."""
    async with db.read() as conn:
        messages = (await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar_one()
        entries = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar_one()
    return messages, entries


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
) -> list[SweepFigure]:
    """Seed each size, then time a sweep (and a second one at the same instant) on a copy of it."""
    header(f"sweep scaling on {database_kind(database)}: {sizes} grants, {due} due, {people} people")
    at = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    catalog = seed.write_catalog(workdir / "catalog.toml")
    figures = []
    for size in sizes:
        async with fresh_database(database, workdir, f"sweep{size}") as template:
            seeded = await seed.seed(template, grants_total=size, due=due, people=min(people, size), at=at)
            print(f"   seeded {size} grants ({seeded.due} due) in {seeded.seconds:.1f} s")
            timings = []
            for _ in range(repeats):
                async with copy_of(template, workdir) as url:
                    timings.append(await time_sweep_in_process(url, catalog, at))
            figure = SweepFigure(
                size,
                seeded.due,
                median([t.first for t in timings]),
                median([t.second for t in timings]),
            )
            figures.append(figure)
            print(
                f"   {size:>9} grants: sweep {figure.first * 1000:.0f} ms "
                f"({timings[0].messages} messages queued, {timings[0].audit_entries} audit entries), "
                f"again at the same instant {figure.second * 1000:.0f} ms (in process, median of {repeats})"
            )
    if len(figures) > 1:
        ratio = figures[-1].first / figures[0].first
        verdict = "met" if ratio <= GOAL_RATIO else "MISSED"
        print(
            f"   sweep over {figures[-1].grants} / over {figures[0].grants}: {ratio:.2f} "
            f"(goal <= {GOAL_RATIO}) {verdict}"
        )
    return figures
