"""The `confide` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import sqlalchemy as sa

from bot.server import build_web_app
from tests.conftest import EXAMPLE_CATALOG, Confide
from tests.test_access import approved_grant
from workflows import audit
from workflows.db import Database
from workflows.tables import audit_log

ROOT = Path(__file__).parent.parent


def cli_env(env: dict[str, str] | None) -> dict[str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_", "CONFIDE_"))}
    full_env.update(env or {})
    return full_env


def confide_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=cli_env(env),
        cwd=ROOT,
        timeout=60,
    )


async def confide_cli_async(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI while a Confide runs in this event loop (a blocking call would freeze that Confide)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=cli_env(env),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return subprocess.CompletedProcess(args, process.returncode or 0, out.decode(), err.decode())


def test_catalog_check_accepts_the_example():
    result = confide_cli("catalog", "check", str(EXAMPLE_CATALOG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_catalog_check_names_file_entry_and_field(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'admins = ["U0ADMIN01"]\ncolour = "blue"\n'
        '[[secrets]]\nid = "a"\nname = "A"\nowners = ["U0OWNER01"]\nrequires = ["nda"]\n'
        '[[secrets]]\nid = "a"\nname = "B"\nowners = ["bob"]\n'
        '[[secrets]]\nid = "c"\nname = "C"\nowners = ["U0OWNER01"]\ndefault_days = 30\nmax_days = 10\n'
    )
    result = confide_cli("catalog", "check", str(bad))
    assert result.returncode == 1
    out = result.stdout
    assert f"{bad}: colour: unknown key" in out
    assert f"{bad}: secrets[1] (id 'a'): owners: 'bob' is not a Slack user id" in out
    assert f"{bad}: secrets[2] (id 'c'): max_days (10) is less than default_days (30)" in out
    bad.write_text(
        '[[secrets]]\nid = "a"\nname = "A"\nowners = ["U0OWNER01"]\nrequires = ["nda"]\n'
        '[[secrets]]\nid = "a"\nname = "B"\nowners = ["U0OWNER01"]\n'
    )
    out = confide_cli("catalog", "check", str(bad)).stdout
    assert "secrets[0] (id 'a'): requires: unknown agreement 'nda'" in out
    assert "secrets[1] (id 'a'): id: duplicate of secrets[0]" in out


def test_catalog_check_defaults_to_confide_catalog(tmp_path: Path):
    result = confide_cli("catalog", "check", env={"CONFIDE_CATALOG": str(tmp_path / "missing.toml")})
    assert result.returncode == 1 and "file not found" in result.stdout


def test_serve_refuses_missing_settings_without_printing_secrets():
    result = confide_cli("serve", env={"SLACK_SIGNING_SECRET": "super-secret-value"})
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr
    assert "super-secret-value" not in result.stderr + result.stdout
    result = confide_cli("serve", env={"SLACK_BOT_TOKEN": "xoxb-do-not-print"})
    assert result.returncode == 2 and "SLACK_SIGNING_SECRET" in result.stderr
    assert "xoxb-do-not-print" not in result.stderr + result.stdout


def test_serve_refuses_an_invalid_catalog(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[secrets]]\nid = 'x'\n")
    result = confide_cli(
        "serve",
        env={
            "SLACK_BOT_TOKEN": "xoxb-t",
            "SLACK_SIGNING_SECRET": "s",
            "CONFIDE_CATALOG": str(bad),
            "DATABASE_URL": f"sqlite:///{tmp_path}/c.db",
        },
    )
    assert result.returncode == 2
    assert "secrets[0] (id 'x'): name" in result.stderr


def test_migrate_creates_the_schema(tmp_path: Path):
    env = {"SLACK_BOT_TOKEN": "xoxb-t", "DATABASE_URL": f"sqlite:///{tmp_path}/m.db"}
    result = confide_cli("migrate", env=env)
    assert result.returncode == 0 and "database at" in result.stdout
    assert confide_cli("migrate", env=env).returncode == 0  # idempotent


async def test_audit_verify_detects_an_edit_and_export_writes_every_entry(confide: Confide):
    await approved_grant(confide)
    env = {"SLACK_BOT_TOKEN": "xoxb-t", "DATABASE_URL": confide.settings.database_url}
    verified = await confide_cli_async("audit", "verify", env=env)
    assert verified.returncode == 0 and "intact" in verified.stdout

    exported = await confide_cli_async("audit", "export", "--format", "jsonl", env=env)
    entries = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [e["action"] for e in entries] == [
        "access.new_requested",
        "access.approval_recorded",
        "access.approved",
    ]
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    csv_out = await confide_cli_async(
        "audit", "export", "--format", "csv", "--since", "2100-01-01T00:00:00Z", env=env
    )
    assert csv_out.stdout.splitlines() == ["id,at,actor,action,subject,details,prev_hash,hash"]
    csv_all = (await confide_cli_async("audit", "export", "--format", "csv", env=env)).stdout.splitlines()
    assert len(csv_all) == 4 and "access.approved" in csv_all[3]

    await audit.seal(confide.db)
    async with confide.db.write() as conn:  # someone edits history by hand
        await conn.execute(audit_log.update().where(audit_log.c.id == 2).values(actor="U0EMP02"))
    broken = await confide_cli_async("audit", "verify", env=env)
    assert broken.returncode == 1 and "entry 2" in broken.stdout


async def test_audit_verify_detects_a_deleted_entry(confide: Confide):
    await approved_grant(confide)
    env = {"SLACK_BOT_TOKEN": "xoxb-t", "DATABASE_URL": confide.settings.database_url}
    await audit.seal(confide.db)
    async with confide.db.write() as conn:
        await conn.execute(audit_log.delete().where(audit_log.c.id == 1))
    result = await confide_cli_async("audit", "verify", env=env)
    assert result.returncode == 1 and "entry 2" in result.stdout
    async with confide.db.write() as conn:
        await conn.execute(
            audit_log.delete().where(
                audit_log.c.id == sa.select(sa.func.max(audit_log.c.id)).scalar_subquery()
            )
        )
    assert (await confide_cli_async("audit", "verify", env=env)).returncode == 1


async def test_healthz_is_503_before_migrations(tmp_path: Path):
    from aiohttp import web

    from bot.app import build_app
    from bot.slack_client import build_client
    from config.catalog import load_catalog
    from config.settings import Settings
    from workflows.services import Services

    db = Database(f"sqlite:///{tmp_path}/fresh.db")
    settings = Settings(
        slack_bot_token="xoxb-t", slack_signing_secret="s", slack_api_url="http://127.0.0.1:9/"
    )
    services = Services(db=db, catalog=load_catalog(EXAMPLE_CATALOG))
    runner = web.AppRunner(build_web_app(build_app(settings, services, build_client(settings)), db))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        assert response.status == 503
        assert json.loads(await response.text())["migrations"] == "pending"
    await runner.cleanup()
    await db.dispose()
