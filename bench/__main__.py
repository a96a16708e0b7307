"""`python -m bench {ack,memory,sweep,delivery,workflow}`: run a benchmark, print its figures.

Each also prints the command line that produced them. Everything talks to 127.0.0.1 only, and
every load loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from bench.ack import bench_ack
from bench.common import workdir
from bench.delivery import bench_delivery
from bench.memory import bench_memory
from bench.sweep import bench_sweep
from bench.workflow import bench_workflow
from config.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser, repeats: int = 3) -> None:
        sub.add_argument(
            "--database",
            default="sqlite",
            help="sqlite (a temporary file) or a PostgreSQL URL; a fresh database is created on that "
            "server for each measurement and dropped afterwards",
        )
        sub.add_argument("--repeats", type=int, default=repeats, help="report the median of this many runs")
        sub.add_argument("--max-seconds", type=float, default=120.0, help="bound on each load phase")

    ack = commands.add_parser("ack", help="ack latency of Confide and of bare Bolt, read and write")
    common(ack)
    ack.add_argument("--requests", type=int, default=2000, help="requests per phase (and distinct people)")
    ack.add_argument("--concurrency", type=int, default=50)
    ack.add_argument("--profile", type=Path, help="record confide serve with py-spy (collapsed stacks) here")

    memory = commands.add_parser("memory", help="peak RSS of confide serve with many grants after reads")
    common(memory, repeats=1)
    memory.add_argument("--grants", type=int, default=100_000)
    memory.add_argument("--people", type=int, default=10_000)
    memory.add_argument("--reads", type=int, default=2000)
    memory.add_argument("--concurrency", type=int, default=50)

    sweep = commands.add_parser("sweep", help="one sweep over growing databases with the same work due")
    common(sweep)
    sweep.add_argument("--sizes", default="10000,100000,1000000", help="grant counts, comma-separated")
    sweep.add_argument("--due", type=int, default=1000)
    sweep.add_argument("--people", type=int, default=100_000)

    delivery = commands.add_parser("delivery", help="outbox throughput against a rate-limited Slack")
    common(delivery)
    delivery.add_argument("--messages", type=int, default=2000)
    delivery.add_argument("--limit", type=int, default=100, help="chat.postMessage the fake allows a second")
    delivery.add_argument("--heavy-recipients", type=int, default=5)
    delivery.add_argument("--heavy-share", type=float, default=0.25, help="share of messages they get")
    delivery.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Confide setting for the deliverer, e.g. confide_slack_rate_limit=100",
    )
    workflow = commands.add_parser("workflow", help="CPU per write of the request workflow, in process")
    common(workflow)
    workflow.add_argument("--writes", type=int, default=3000, help="requests filed per run")
    workflow.add_argument("--concurrency", default="1,50", help="concurrent writers, comma-separated")
    return parser


def settings_overrides(pairs: list[str]) -> dict[str, object]:
    overrides: dict[str, object] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        name = name.strip().lower()
        if name not in Settings.model_fields:
            raise SystemExit(f"python -m bench: unknown setting {name!r}")
        overrides[name] = value
    return overrides


async def run(args: argparse.Namespace) -> None:
    with workdir() as tmp:
        if args.command == "ack":
            await bench_ack(
                args.database,
                tmp,
                requests=args.requests,
                concurrency=args.concurrency,
                repeats=args.repeats,
                max_seconds=args.max_seconds,
                profile=args.profile,
            )
        elif args.command == "memory":
            await bench_memory(
                args.database,
                tmp,
                grants=args.grants,
                people=args.people,
                reads=args.reads,
                concurrency=args.concurrency,
                repeats=args.repeats,
                max_seconds=args.max_seconds,
            )
        elif args.command == "sweep":
            await bench_sweep(
                args.database,
                tmp,
                sizes=[int(s) for s in args.sizes.split(",") if s.strip()],
                due=args.due,
                people=args.people,
                repeats=args.repeats,
            )
        elif args.command == "delivery":
            await bench_delivery(
                args.database,
                tmp,
                messages=args.messages,
                limit=args.limit,
                heavy_recipients=args.heavy_recipients,
                heavy_share=args.heavy_share,
                repeats=args.repeats,
                max_seconds=args.max_seconds,
                settings_overrides=settings_overrides(args.setting),
            )
        elif args.command == "workflow":
            await bench_workflow(
                args.database,
                tmp,
                writes=args.writes,
                concurrencies=[int(c) for c in args.concurrency.split(",") if c.strip()],
                repeats=args.repeats,
            )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
