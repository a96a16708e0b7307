"""The `confide` command line: serve, migrate, catalog check, nudges, audit verify, export and forward,
cases export."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import sys
from datetime import datetime

from bot.logs import configure_logging
from config.catalog import CatalogError, catalog_warnings, load_catalog
from config.settings import Settings, SettingsError, load_settings
from workflows import audit, case_export
from workflows.db import Database
from workflows.errors import ConfideError
from workflows.services import utc_now

# Net new container objects between the garbage collector's young-generation passes (Python's
# default: 700); `_serve` says why a server wants more.
GC_YOUNG_THRESHOLD = 7_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="confide", description="Trade-secret safeguards in Slack.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the app (HTTP on HOST:PORT, or Socket Mode)")
    serve.add_argument("--socket", action="store_true", help="use Socket Mode (needs SLACK_APP_TOKEN)")

    commands.add_parser("migrate", help="apply database migrations")

    nudges = commands.add_parser(
        "nudges", help="run one sweep (reminders, expiry, reviews, digest) and print each message"
    )
    nudges.add_argument("--at", type=parse_instant, help="ISO-8601 instant to sweep as of (default: now)")
    nudges.add_argument("--dry-run", action="store_true", help="print what would be sent; change nothing")

    catalog = commands.add_parser("catalog", help="work with the catalog file")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    check = catalog_commands.add_parser("check", help="validate a catalog file")
    check.add_argument("path", nargs="?", help="default: CONFIDE_CATALOG")

    audit_parser = commands.add_parser("audit", help="the audit log")
    audit_commands = audit_parser.add_subparsers(dest="audit_command", required=True)
    audit_commands.add_parser("verify", help="check the hash chain")
    export = audit_commands.add_parser("export", help="write the audit log to stdout")
    export.add_argument("--since", type=parse_instant, help="ISO-8601 instant")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    forward = audit_commands.add_parser(
        "forward", help="send the audit log to CONFIDE_AUDIT_WEBHOOK_URL again"
    )
    forward.add_argument("--since", type=parse_instant, help="ISO-8601 instant (default: everything)")

    cases_parser = commands.add_parser("cases", help="leak cases")
    cases_commands = cases_parser.add_subparsers(dest="cases_command", required=True)
    case_bundle = cases_commands.add_parser("export", help="write a case bundle (JSON) for counsel to stdout")
    case_bundle.add_argument("case", help="the case, e.g. CASE-3")
    return parser


def parse_instant(text: str) -> datetime:
    from datetime import UTC

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 instant (e.g. 2026-12-01T09:00:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "catalog":
        return check_catalog(args.path)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print("confide: cannot start; fix these settings:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "serve":
        return serve(settings, socket_mode=args.socket)
    if args.command == "nudges":
        from bot.nudges import run_nudges

        return asyncio.run(run_nudges(settings, args.at, args.dry_run))
    return asyncio.run(run_database_command(settings, args))


def check_catalog(path: str | None) -> int:
    if path is None:
        path = Settings.model_fields["confide_catalog"].default
        try:
            path = load_settings().confide_catalog
        except SettingsError:
            import os

            path = os.environ.get("CONFIDE_CATALOG", path)
    try:
        catalog = load_catalog(path)
    except CatalogError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problem(s) found.")
        return 1
    for warning in catalog_warnings(catalog, path):
        print(f"warning: {warning}")
    print(f"{path}: OK ({len(catalog.secrets)} secrets, {len(catalog.agreements)} agreements)")
    return 0


async def run_database_command(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings.database_url)
    try:
        await db.migrate()
        if args.command in ("audit", "cases"):  # what they read includes every committed change
            await audit.seal(db)
        if args.command == "migrate":
            applied, _ = await db.migration_state()
            print(f"database at {', '.join(sorted(applied))}")
            return 0
        if args.command == "audit" and args.audit_command == "verify":
            async with db.read() as conn:
                bad = await audit.verify_chain(conn)
            if bad is None:
                print("audit log intact")
                return 0
            print(f"audit log broken at entry {bad}")
            return 1
        if args.command == "audit" and args.audit_command == "export":
            if args.format == "csv":
                print(",".join(audit.CSV_FIELDS))
            async with db.read() as conn:
                async for entry in audit.iter_entries(conn, since=args.since):
                    print(audit.format_entry(entry, args.format))
            return 0
        if args.command == "audit" and args.audit_command == "forward":
            return await forward_audit(db, settings, args.since)
        if args.command == "cases" and args.cases_command == "export":
            return await export_case_bundle(settings, db, args.case)
        raise AssertionError(f"unhandled command {args.command}")
    finally:
        await db.dispose()


async def forward_audit(db: Database, settings: Settings, since: datetime | None) -> int:
    import httpx

    from bot.forwarder import replay

    if not settings.confide_audit_webhook_url:
        print("CONFIDE_AUDIT_WEBHOOK_URL is not set; nothing to forward to.", file=sys.stderr)
        return 2
    try:
        sent = await replay(db, settings, since)
    except httpx.HTTPError as exc:
        print(f"forwarding failed: {type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"forwarded {sent} audit entries")
    return 0


async def export_case_bundle(settings: Settings, db: Database, ref: str) -> int:
    try:
        catalog = load_catalog(settings.confide_catalog)
    except CatalogError as exc:
        print("confide: cannot read the catalog:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    try:
        async with db.read() as conn:
            bundle = await case_export.export_case(conn, catalog, ref, utc_now())
    except ConfideError as exc:
        print(f"confide: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps(bundle, indent=2, ensure_ascii=False))
    return 0


def serve(settings: Settings, *, socket_mode: bool) -> int:
    from bot.runtime import Runtime

    try:
        settings.require_socket() if socket_mode else settings.require_http()
        runtime = Runtime(settings)
    except (SettingsError, CatalogError) as exc:
        print("confide: cannot start:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    asyncio.run(_serve(runtime, socket_mode))
    return 0


async def _serve(runtime, socket_mode: bool) -> None:  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.prepare()
    # Everything loaded so far lives as long as the process: keep it out of the garbage collector's
    # full passes, which otherwise pause every request in flight (BENCHMARKS.md).
    gc.collect()
    gc.freeze()
    # A young-generation pass ran whenever 700 more container objects were alive than at the last
    # one, and a request in flight briefly holds hundreds (its parsed payload, Bolt's context, rows),
    # so under load it ran every request or two and walked every request in flight: 578 passes, 5% of
    # the server's CPU, in 9,000 writes (BENCHMARKS.md). At 7,000, 3 passes. What only the collector
    # frees (objects in reference cycles) waits a little longer: a few thousand objects at most.
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    socket_handler = None
    if socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        app_token = runtime.settings.slack_app_token.get_secret_value()
        socket_handler = AsyncSocketModeHandler(runtime.bolt, app_token)
        await socket_handler.connect_async()
    else:
        await runtime.serve_http()
    await stop.wait()
    if socket_handler is not None:
        await socket_handler.close_async()
    await runtime.stop()
