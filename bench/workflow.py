"""The write workflow in process: `/access request`'s transaction without HTTP, Bolt or Slack.

Files one request per person with `access.request_access` inside `Database.write()` (the standing
read, the request, its approvers, the owner's card, the audit entry, the commit, and the chaining of
that entry, which a server's sealer does in the same process), at each of the given concurrencies,
and reports the process's CPU per write. What the ack benchmark's "server CPU
per request" holds for a write, less the framework: the measure each data-layer step was judged by.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import seed
from bench.common import database_kind, fresh_database, header
from config.catalog import load_catalog
from workflows import access, audit
from workflows.db import Database

WARM_UP = 50  # first statements compile and pools fill; not measured


@dataclass(frozen=True)
class WorkflowRun:
    concurrency: int
    writes: int
    cpu_per_write: float  # seconds of this process's CPU per filed request
    sealed: int  # audit entries chained after the measured writes (one each: every write is audited)


async def file_requests(db: Database, catalog_path: Path, *, people: int, concurrency: int) -> WorkflowRun:
    catalog = load_catalog(catalog_path)
    now = datetime.now(UTC)
    people_left = iter(range(people))

    async def file(n: int) -> None:
        async with db.write() as conn:
            await access.request_access(
                conn,
                catalog,
                now,
                requester=seed.user_id(n),
                secret_id=seed.OPEN_SECRET,
                duration_hours=24,
                justification="benchmark",
            )

    for _ in range(WARM_UP):
        await file(next(people_left))
    await audit.seal(db)

    async def worker() -> None:
        for n in people_left:
            await file(n)

    writes = people - WARM_UP
    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sealed = await audit.seal(db)  # counted: a server's sealer does this work in the same process
    cpu = time.process_time() - started
    return WorkflowRun(concurrency, writes, cpu / writes, sealed)


async def bench_workflow(
    database: str, workdir: Path, *, writes: int, concurrencies: list[int], repeats: int
) -> list[WorkflowRun]:
    header(f"write workflow in process on {database_kind(database)}: {writes} requests per run")
    catalog_path = seed.write_catalog(workdir / "catalog.toml")
    people = writes + WARM_UP
    runs: list[WorkflowRun] = []
    for concurrency in concurrencies:
        per_repeat = []
        for repeat in range(repeats):
            async with fresh_database(database, workdir, f"workflow{concurrency}") as url:
                await seed.seed(url, grants_total=0, due=0, people=people, at=datetime.now(UTC))
                db = Database(url)
                try:
                    run = await file_requests(db, catalog_path, people=people, concurrency=concurrency)
                finally:
                    await db.dispose()
            per_repeat.append(run)
            print(
                f"   concurrency {concurrency}, repeat {repeat + 1}/{repeats}: "
                f"{run.cpu_per_write * 1000:.3f} ms CPU a write ({run.sealed} audit entries chained after)"
            )
        middle = sorted(per_repeat, key=lambda r: r.cpu_per_write)[(len(per_repeat) - 1) // 2]
        runs.append(middle)
        print(f"   concurrency {concurrency}: median {middle.cpu_per_write * 1000:.3f} ms CPU a write")
    return runs
