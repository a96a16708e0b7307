"""Memory: peak RSS (VmHWM) of `confide serve` holding 100k grants, after the read load."""

from __future__ import annotations

from pathlib import Path

from bench.ack import read_commands
from bench.common import database_kind, header, median, ms, peak_rss_mb
from bench.load import run_commands
from bench.servers import running_stack

GOAL_MB = 150.0


async def bench_memory(
    database: str,
    workdir: Path,
    *,
    grants: int,
    people: int,
    reads: int,
    concurrency: int,
    repeats: int,
    max_seconds: float,
) -> list[float]:
    header(
        f"memory on {database_kind(database)}: {grants} grants of {people} people, "
        f"{reads} reads at concurrency {concurrency}"
    )
    peaks = []
    for n in range(repeats):
        async with running_stack(
            database, workdir, people=people, seed_grants=grants, with_bare=False
        ) as stack:
            started = peak_rss_mb(stack.confide.pid)
            latencies = await run_commands(
                stack.confide.url,
                stack.fake,
                read_commands(reads, people),
                concurrency=concurrency,
                max_seconds=max_seconds,
            )
            peak = peak_rss_mb(stack.confide.pid)
        peaks.append(peak)
        print(
            f"   repeat {n + 1}/{repeats}: peak RSS after start {started:.0f} MB, after the reads "
            f"{peak:.0f} MB ({latencies.count} reads, p99 {ms(latencies.p99)}, {latencies.errors} errors)"
        )
    result = median(peaks)
    verdict = "met" if result <= GOAL_MB else "MISSED"
    print(f"   median peak RSS: {result:.0f} MB (goal <= {GOAL_MB:.0f} MB) {verdict}")
    return peaks
