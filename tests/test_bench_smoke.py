"""The benchmarks still run: each at a tiny size (figures are not checked; BENCHMARKS.md holds them)."""

from __future__ import annotations

import math
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench import seed
from bench.ack import bench_ack
from bench.common import is_local_postgres, split_database_url
from bench.delivery import bench_delivery
from bench.floor import DatabaseFloor
from bench.memory import bench_memory
from bench.sweep import bench_sweep
from bench.workflow import bench_workflow
from tests.conftest import database_kinds
from workflows.db import Database
from workflows.tables import grants


@pytest.fixture(params=database_kinds())
def server(request: pytest.FixtureRequest) -> str:
    """Where the benchmarks create their databases: SQLite files, or the test PostgreSQL server."""
    return "sqlite" if request.param == "sqlite" else os.environ["TEST_DATABASE_URL"]


async def test_ack_benchmark_measures_confide_bare_bolt_and_the_database_floor(server: str, tmp_path: Path):
    (run,) = await bench_ack(server, tmp_path, requests=12, concurrency=4, repeats=1, max_seconds=30)
    for target in ("bare bolt", "db floor", "confide"):
        for operation in ("read", "write", "cold write"):  # every write warms up and measures filed
            latencies = run.figures[(target, operation)]
            assert latencies.count == 12 and latencies.errors == 0, (target, operation)
            # where the CPU went: the database's on a PostgreSQL server of this machine only
            assert latencies.load_cpu > 0 and latencies.machine_cpu >= 0, (target, operation)
            assert math.isnan(latencies.database_cpu) == (not is_local_postgres(server)), (target, operation)
            assert math.isnan(latencies.database_cpu) or latencies.database_cpu >= 0, (target, operation)
    assert run.confide_peak_mb > 0 and run.audit_intact


async def test_memory_benchmark_reads_peak_rss_with_seeded_grants(server: str, tmp_path: Path):
    peaks = await bench_memory(
        server, tmp_path, grants=300, people=30, reads=20, concurrency=4, repeats=1, max_seconds=30
    )
    assert len(peaks) == 1 and peaks[0] > 0


async def test_delivery_benchmark_delivers_every_message_once_in_order(server: str, tmp_path: Path):
    (run,) = await bench_delivery(
        server,
        tmp_path,
        messages=24,
        limit=1000,
        heavy_recipients=2,
        heavy_share=0.5,
        repeats=1,
        max_seconds=30,
        settings_overrides={},
    )
    assert (run.messages, run.duplicates, run.missing, run.out_of_order) == (24, 0, 0, 0)


async def test_sweep_benchmark_seeds_growing_databases_and_times_a_sweep(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    figures = await bench_sweep(server, tmp_path, sizes=[30, 60], due=6, people=10, repeats=1)
    assert figures is not None and [f.grants for f in figures] == [30, 60]
    assert all(f.due == 6 and f.first > 0 and f.second > 0 for f in figures)


async def test_seeded_database_has_exactly_the_due_grants(tmp_path: Path):
    at = datetime.fromisoformat("2027-03-01T09:00:00+00:00")
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    await seed.seed(url, grants_total=500, due=30, people=40, at=at)
    db = Database(url)
    async with db.read() as conn:
        expired = await conn.scalar(
            sa.select(sa.func.count()).where(grants.c.status == "active", grants.c.expires_at <= at)
        )
        expiring = await conn.scalar(
            sa.select(sa.func.count()).where(
                grants.c.status == "active",
                grants.c.expires_at > at,
                grants.c.expires_at <= at + timedelta(days=1),
            )
        )
        review = await conn.scalar(
            sa.select(sa.func.count()).where(grants.c.status == "active", grants.c.review_due_at <= at)
        )
        total = await conn.scalar(sa.select(sa.func.count()).select_from(grants))
    await db.dispose()
    assert (expired, expiring, review, total) == (10, 10, 10, 500)


async def test_database_floor_makes_one_round_trip_per_command(database_url: str):
    """The floor app's reads read and its writes commit a row (what its figures stand for)."""
    floor = await DatabaseFloor.open(database_url)
    try:
        for _ in range(3):
            await floor.round_trip(write=True)
        await floor.round_trip(write=False)
        if floor.sqlite is not None:
            count = floor.sqlite.execute("SELECT count(*) FROM bench_floor").fetchone()[0]
        else:
            count = await floor.pool.fetchval("SELECT count(*) FROM bench_floor")
    finally:
        await floor.close()
    assert count == 3


async def test_workflow_benchmark_files_and_audits_every_request(server: str, tmp_path: Path):
    runs = await bench_workflow(server, tmp_path, writes=8, concurrencies=[1, 3], repeats=1)
    assert [(r.concurrency, r.writes, r.sealed) for r in runs] == [(1, 8, 8), (3, 8, 8)]
    assert all(r.cpu_per_write > 0 for r in runs)


def test_a_database_beside_the_one_named_keeps_the_url_s_query_string():
    # `?host=/var/run/postgresql`: the benchmarks reach a same-host server through its Unix socket.
    assert split_database_url("postgresql://postgres@/confide_bench?host=/var/run/postgresql") == (
        "postgresql://postgres@",
        "confide_bench",
        "?host=/var/run/postgresql",
    )
    assert split_database_url("postgresql://postgres@127.0.0.1:5432/confide") == (
        "postgresql://postgres@127.0.0.1:5432",
        "confide",
        "",
    )


def test_the_database_s_cpu_is_read_only_for_a_postgresql_server_on_this_machine():
    assert is_local_postgres("postgresql://postgres@127.0.0.1:5432/confide_bench")
    assert is_local_postgres("postgresql://postgres@localhost/confide_bench")
    assert is_local_postgres("postgresql://postgres@[::1]:5432/confide_bench")
    assert is_local_postgres("postgresql://postgres@/confide_bench?host=/var/run/postgresql")
    assert not is_local_postgres("postgresql://app:secret@db.internal:5432/confide")
    assert not is_local_postgres("postgresql://app@/confide?host=db.internal")
    assert not is_local_postgres("sqlite")
