"""The load generator: signed slash commands over HTTP at a fixed concurrency, bounded in count and time."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterable
from typing import Any

from bench.common import SIGNING_SECRET, Latencies, cpu_seconds, machine_busy_seconds, postgres_cpu_seconds
from tests.fake_slack import FakeSlack
from tests.slack_driver import SlackDriver

Check = Callable[[int, Any], bool]


def acked(status: int, body: Any) -> bool:
    """Any 200 with a reply body: what Slack shows the person."""
    return status == 200 and bool(body)


def filed(status: int, body: Any) -> bool:
    """A write that succeeded: the reply names the request it filed."""
    return status == 200 and isinstance(body, dict) and "Request R-" in str(body.get("text", ""))


async def run_commands(
    base_url: str,
    fake: FakeSlack,
    commands: Iterable[tuple[str, str, str]],
    *,
    concurrency: int,
    max_seconds: float,
    check: Check = acked,
    server_pid: int | None = None,
    local_postgres: bool = False,
) -> Latencies:
    """Send (user, command, text) triples, `concurrency` at a time, until they run out or time does.

    Each worker sends its next command as soon as the previous one answered (a closed loop), so the
    figures are the latency each request saw at that concurrency and the throughput the server kept up.
    `local_postgres`: also measure the CPU the database server on this machine used meanwhile.
    """
    pending = iter(commands)
    samples: list[float] = []
    errors = 0
    driver = SlackDriver(base_url, SIGNING_SECRET, fake)
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        nonlocal errors
        for user, command, text in pending:
            if time.perf_counter() > deadline:
                return
            started = time.perf_counter()
            try:
                status, body = await driver.command(user, command, text)
            except (TimeoutError, OSError):
                errors += 1
                continue
            if check(status, body):
                samples.append(time.perf_counter() - started)
            else:
                errors += 1
                if errors <= 3:  # enough to tell what went wrong, without flooding the report
                    print(f"   unexpected answer to {command}: {status} {str(body)[:200]}")

    # The load generator must not pause: a full collection here (this process also holds the fake
    # Slack's record of every call) took 105-110 ms once per repeat, and whichever server was being
    # measured then got those 50 requests' worth of outliers in its p99 (BENCHMARKS.md).
    gc.collect()
    gc.disable()
    # CPU read after the collection it waited for, and after the phase (nothing of the next).
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    database_before = postgres_cpu_seconds() if local_postgres else 0.0
    load_before = time.process_time()
    machine_before = machine_busy_seconds()
    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        gc.enable()
        await driver.close()
    wall = time.perf_counter() - started
    load_cpu = time.process_time() - load_before  # before the /proc scans below, not counting them
    machine_cpu = machine_busy_seconds() - machine_before
    return Latencies(
        samples,
        wall,
        errors,
        server_cpu=cpu_seconds(server_pid) - cpu_before if server_pid else float("nan"),
        database_cpu=postgres_cpu_seconds() - database_before if local_postgres else float("nan"),
        load_cpu=load_cpu,
        machine_cpu=machine_cpu,
    )
