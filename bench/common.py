"""What every benchmark shares: figures, fresh databases, subprocesses on 127.0.0.1, reports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"


@dataclass(frozen=True)
class Latencies:
    """Client-side latencies of one load run, in seconds."""

    samples: list[float]
    wall: float
    errors: int
    server_cpu: float = float("nan")  # CPU seconds the server process spent on the phase
    # Where the rest of the machine's CPU went meanwhile (NaN where not measured): the local
    # PostgreSQL server's processes, this process (the load generator and the fake Slack), and all
    # cores together (everything that ran, these included).
    database_cpu: float = float("nan")
    load_cpu: float = float("nan")
    machine_cpu: float = float("nan")

    def per_request(self, seconds: float) -> float:
        return seconds / len(self.samples) if self.samples else float("nan")

    @property
    def cpu_per_request(self) -> float:
        return self.per_request(self.server_cpu)

    def percentile(self, p: float) -> float:
        if not self.samples:
            return float("nan")
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    @property
    def count(self) -> int:
        return len(self.samples)

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.wall if self.wall > 0 else 0.0


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def command_line() -> str:
    """How this run was started, so every report can be reproduced."""
    return "python -m bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def header(title: str) -> None:
    print(f"== {title}")
    print(f"   command: {command_line()}")
    print(f"   load average (1/5/15 min): {load_average()}, cores: {os.cpu_count()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    return _cpu_of_stat(Path(f"/proc/{pid}/stat").read_text())


def _cpu_of_stat(stat: str, *, with_exited_children: bool = False) -> float:
    """utime + stime of a /proc/<pid>/stat line (and cutime + cstime, the waited-for children's)."""
    fields = stat.rpartition(")")[2].split()  # after the name, which may hold spaces or parentheses
    ticks = int(fields[11]) + int(fields[12])
    if with_exited_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time all cores together have spent busy so far: user, nice, system, irq and softirq."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time this machine's PostgreSQL processes (postmaster, backends, writers) have used so far,
    those that exited included: the postmaster collects its children's time when they exit."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        if stat.partition(" (")[2].startswith("postgres)"):
            total += _cpu_of_stat(stat, with_exited_children=True)
    return total


def is_local_postgres(spec: str) -> bool:
    """A PostgreSQL URL whose server runs on this machine (its CPU can be read from /proc)."""
    if database_kind(spec) != "PostgreSQL":
        return False
    url = urllib.parse.urlsplit(spec)
    # The host may be given as a parameter instead: a Unix socket's directory, or a name.
    host = url.hostname or dict(urllib.parse.parse_qsl(url.query)).get("host", "")
    return host.startswith("/") or host in ("", "127.0.0.1", "localhost", "::1")


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


# ---- databases ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(spec: str, workdir: Path, label: str) -> AsyncIterator[str]:
    """A new, empty database for one measurement, removed afterwards.

    `spec` is "sqlite" (a file under workdir) or a PostgreSQL server URL; on PostgreSQL a database named
    `<name in the URL>_<label>_<random>` is created on that server and dropped at the end, so the URL's
    own database is never touched.
    """
    if spec == "sqlite" or spec.startswith("sqlite:"):
        path = workdir / f"{label}-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    base, name, query = split_database_url(spec)
    fresh = re.sub(r"[^a-z0-9_]", "_", f"{name or 'confide'}_{label}_{uuid.uuid4().hex[:8]}".lower())
    admin = base + "/postgres" + query
    conn = await asyncpg.connect(admin.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'CREATE DATABASE "{fresh}"')
    finally:
        await conn.close()
    try:
        yield f"{base}/{fresh}{query}"
    finally:
        conn = await asyncpg.connect(admin.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
        finally:
            await conn.close()


def split_database_url(url: str) -> tuple[str, str, str]:
    """A PostgreSQL URL as (server, database name, query string), so a database beside it is
    `server/other + query`. The query string (`?host=/var/run/postgresql` for the server's Unix
    socket) is kept on every URL made from it."""
    where, question, query = url.partition("?")
    base, _, name = where.rpartition("/")
    return base, name, question + query


def database_kind(spec: str) -> str:
    return "SQLite" if spec == "sqlite" or spec.startswith("sqlite:") else "PostgreSQL"


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="confide-bench-") as path:
        yield Path(path)


# ---- subprocesses ------------------------------------------------------------------------------


class Server:
    """A server subprocess on 127.0.0.1 that we started, stopped by its pid (never by name)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log: Path):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait_ready(self, path: str = "/healthz", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.url + path) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self._log_file.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
