"""Real `confide serve` processes for the multi-replica tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.conftest import SIGNING_SECRET
from tests.fake_slack import FakeSlack
from tests.slack_driver import SlackDriver

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica:
    """One `python -m bot serve` process; its Web API calls reach the fake under /<name>/api/."""

    def __init__(
        self,
        name: str,
        fake: FakeSlack,
        database_url: str,
        catalog: Path,
        log_dir: Path,
        lease_seconds: int = 30,
    ):
        self.name = name
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_", "CONFIDE_"))},
            "SLACK_BOT_TOKEN": "xoxb-test-token",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": f"{fake.url}/{name}/api/",
            "DATABASE_URL": database_url,
            "CONFIDE_CATALOG": str(catalog),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "CONFIDE_OUTBOX_LEASE_SECONDS": str(lease_seconds),
            "LOG_FORMAT": "json",
        }
        self.log_path = log_dir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.slack = SlackDriver(f"http://127.0.0.1:{self.port}", SIGNING_SECRET, fake)

    async def start(self) -> Replica:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child for its lifetime
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", env=self.env, cwd=ROOT, stdout=log, stderr=log
        )
        log.close()
        await self.wait_healthy()
        return self

    async def wait_healthy(self, timeout: float = 30) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                assert self.process is not None and self.process.returncode is None, self.log_path.read_text()
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{self.name} never became healthy:\n{self.log_path.read_text()}")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def terminate(self) -> int:
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout=30)

    async def close(self) -> None:
        await self.slack.close()
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
