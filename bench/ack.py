"""Ack latency: Confide against bare Bolt, for a read (`/access list`) and a write (`/access request`)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bench import seed
from bench.common import Latencies, database_kind, header, is_local_postgres, median, ms, peak_rss_mb
from bench.load import acked, filed, run_commands
from bench.servers import Stack, running_stack
from workflows import audit
from workflows.db import Database
from workflows.tables import audit_unsealed

READ_GOAL = 1.5  # p99 within 1.5x of bare Bolt
WRITE_GOAL = 2.0
# Bare Bolt; bare Bolt plus one database round trip per command (bench/floor.py); Confide.
TARGETS = ("bare bolt", "db floor", "confide")


@dataclass(frozen=True)
class AckRun:
    """One repeat: latencies per (target, operation), and Confide's peak RSS after the reads.

    The operation "cold write" is the warm-up's writes: the first a server answers after it started.
    """

    figures: dict[tuple[str, str], Latencies]
    confide_peak_mb: float
    audit_intact: bool  # the hash chain still verifies after the concurrent writes
    audit_queued: int  # entries the server's sealer had not chained yet when the phases ended


# Requests of each kind every server answers before any is measured, at the phases' concurrency:
# enough for each of Confide's pooled connections to run each kind's statements a few times
# (PostgreSQL plans a prepared statement afresh for each of its first five runs on a connection).
WARM_UP = 200


def write_commands(count: int, first_person: int = 0) -> list[tuple[str, str, str]]:
    """One request per person, so every write files (a second one would be refused as pending)."""
    return [
        (seed.user_id(n), "/access", f"request {seed.OPEN_SECRET} 30d benchmark load {n}")
        for n in range(first_person, first_person + count)
    ]


def read_commands(count: int, people: int) -> list[tuple[str, str, str]]:
    return [(seed.user_id(n % people), "/access", "list") for n in range(count)]


async def wait_for_delivery(stack: Stack, expected: int, max_seconds: float) -> None:
    """Let the deliverer post the request cards before the next phase, so phases don't overlap."""
    deadline = time.monotonic() + max_seconds
    while stack.fake.count("chat.postMessage") < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if (posted := stack.fake.count("chat.postMessage")) < expected:
        print(
            f"   only {posted} of {expected} cards delivered in {max_seconds:.0f} s: the next phase overlaps"
        )


async def one_repeat(
    database: str,
    workdir: Path,
    *,
    requests: int,
    concurrency: int,
    max_seconds: float,
    seed_grants: int = 0,
    profile: Path | None = None,
) -> AckRun:
    figures: dict[tuple[str, str], Latencies] = {}
    warm_up = min(WARM_UP, requests)
    local_postgres = is_local_postgres(database)
    async with running_stack(
        database, workdir, people=requests + warm_up, seed_grants=seed_grants, with_floor=True
    ) as stack:
        profiler = start_profiler(stack.confide.pid, profile) if profile else None
        assert stack.bare is not None and stack.floor is not None
        targets = {"bare bolt": stack.bare, "db floor": stack.floor, "confide": stack.confide}
        # First requests pay for auth.test, imports, the pool's connections and, on each connection,
        # preparing and planning each statement: a server that has been up a while has paid all that.
        # Both operations are warmed, the writes by people the measured phases leave alone. The
        # warm-up's writes are reported too, as the first burst after a start ("cold write").
        warm = read_commands(warm_up, requests)
        for server in targets.values():
            await run_commands(server.url, stack.fake, warm, concurrency=concurrency, max_seconds=max_seconds)
        for name, server in targets.items():
            figures[(name, "cold write")] = await run_commands(
                server.url,
                stack.fake,
                write_commands(warm_up, first_person=requests),
                concurrency=concurrency,
                max_seconds=max_seconds,
                check=filed if name == "confide" else acked,
                server_pid=server.pid,
                local_postgres=local_postgres,
            )
        await wait_for_delivery(stack, figures[("confide", "cold write")].count, max_seconds)
        for name, server in targets.items():
            figures[(name, "write")] = await run_commands(
                server.url,
                stack.fake,
                write_commands(requests),
                concurrency=concurrency,
                max_seconds=max_seconds,
                check=filed if name == "confide" else acked,
                server_pid=server.pid,
                local_postgres=local_postgres,
            )
        cards = figures[("confide", "cold write")].count + figures[("confide", "write")].count
        await wait_for_delivery(stack, cards, max_seconds)
        for name, server in targets.items():
            figures[(name, "read")] = await run_commands(
                server.url,
                stack.fake,
                read_commands(requests, requests),
                concurrency=concurrency,
                max_seconds=max_seconds,
                server_pid=server.pid,
                local_postgres=local_postgres,
            )
        peak = peak_rss_mb(stack.confide.pid)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        db = Database(stack.database_url)
        try:
            async with db.read() as conn:
                queued = (
                    await conn.execute(sa.select(sa.func.count()).select_from(audit_unsealed))
                ).scalar_one()
            await audit.seal(db)  # as `confide audit verify` does
            async with db.read() as conn:
                intact = await audit.verify_chain(conn) is None
        finally:
            await db.dispose()
    return AckRun(figures, peak, intact, queued)


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the whole confide process (collapsed stacks, idle frames left out)."""
    return subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "-o", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def bench_ack(
    database: str,
    workdir: Path,
    *,
    requests: int,
    concurrency: int,
    repeats: int,
    max_seconds: float,
    profile: Path | None = None,
) -> list[AckRun]:
    header(
        f"ack latency on {database_kind(database)}: {requests} requests per phase, concurrency {concurrency}"
    )
    runs = []
    for n in range(repeats):
        run = await one_repeat(
            database,
            workdir,
            requests=requests,
            concurrency=concurrency,
            max_seconds=max_seconds,
            profile=profile,
        )
        runs.append(run)
        print(f"   repeat {n + 1}/{repeats}: " + "; ".join(_brief(k, v) for k, v in run.figures.items()))
    report_ack(runs)
    return runs


def _brief(key: tuple[str, str], latencies: Latencies) -> str:
    return f"{key[0]} {key[1]} p99 {ms(latencies.p99)}"


def report_ack(runs: list[AckRun]) -> None:
    """Medians over the repeats, and the ratio of Confide's p99 to bare Bolt's."""
    print(f"   medians over {len(runs)} repeat(s):")
    print(
        f"   {'target':<10} {'op':<10} {'p50':>10} {'p99':>10} {'req/s':>8} {'server CPU/req':>15} "
        f"{'errors':>6}"
    )
    for operation in ("read", "write", "cold write"):
        for target in TARGETS:
            series = [r.figures[(target, operation)] for r in runs]
            print(
                f"   {target:<10} {operation:<10} {ms(median([s.p50 for s in series])):>10} "
                f"{ms(median([s.p99 for s in series])):>10} {median([s.throughput for s in series]):>8.0f} "
                f"{ms(median([s.cpu_per_request for s in series])):>15} {sum(s.errors for s in series):>6}"
            )
    report_cpu(runs)
    for operation, goal in (("read", READ_GOAL), ("write", WRITE_GOAL)):
        ratio = p99_ratio(runs, operation, "confide", "bare bolt")
        verdict = "met" if ratio <= goal else "MISSED"
        print(f"   {operation}: confide p99 / bare bolt p99 = {ratio:.2f} (goal <= {goal}) {verdict}")
        print(
            f"   {operation}: db floor p99 / bare bolt p99 = "
            f"{p99_ratio(runs, operation, 'db floor', 'bare bolt'):.2f}, "
            f"confide p99 / db floor p99 = {p99_ratio(runs, operation, 'confide', 'db floor'):.2f}"
        )
    cold = p99_ratio(runs, "cold write", "confide", "bare bolt")
    print(
        f"   cold write (the first {runs[0].figures[('confide', 'cold write')].count} writes after a start,"
        f" not the goal's measure): confide p99 / bare bolt p99 = {cold:.2f}"
    )
    print(f"   confide peak RSS after the reads: {median([r.confide_peak_mb for r in runs]):.0f} MB")
    print(f"   audit chain intact after the writes: {'yes' if all(r.audit_intact for r in runs) else 'NO'}")
    queued = max(r.audit_queued for r in runs)
    print(f"   audit entries not yet chained by the server when the load ended: {queued}")


def report_cpu(runs: list[AckRun]) -> None:
    """Where each phase's CPU went, per request: the two cores are shared by the server measured,
    the database, and the load generator with the fake Slack, so a request's latency at this
    concurrency follows what all of them spend on it."""
    print("   CPU per request (ms; medians): server, database (a PostgreSQL server on this machine),")
    print("   load generator with the fake Slack, and the whole machine (these, and anything else)")
    print(f"   {'target':<10} {'op':<10} {'server':>8} {'database':>9} {'load gen':>9} {'machine':>8}")
    for operation in ("read", "write"):
        for target in TARGETS:
            series = [r.figures[(target, operation)] for r in runs]
            spent = [
                median([s.per_request(getattr(s, kind)) for s in series]) * 1000
                for kind in ("server_cpu", "database_cpu", "load_cpu", "machine_cpu")
            ]
            print(
                f"   {target:<10} {operation:<10} {spent[0]:>8.2f} {spent[1]:>9.2f} {spent[2]:>9.2f} "
                f"{spent[3]:>8.2f}"
            )


def p99_ratio(runs: list[AckRun], operation: str, target: str, baseline: str) -> float:
    """The median over the repeats of each repeat's p99 ratio."""
    return median([r.figures[(target, operation)].p99 / r.figures[(baseline, operation)].p99 for r in runs])
