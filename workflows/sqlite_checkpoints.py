"""SQLite's WAL checkpoints, moved off the event loop.

SQLite copies its write-ahead log back into the database file (a checkpoint) once the log passes
1,000 pages, inside the commit that crossed the mark. With SQLite running on the event loop
(workflows/connection.py) that meant ~13 ms of copying and fsync on this machine during which no
request moved, several times a second under a burst of writes (BENCHMARKS.md). A server's
connections therefore turn the automatic checkpoint off, and this task checkpoints from a worker
thread instead. PASSIVE: it never waits for a reader or a writer, nor makes one wait; the sqlite3
module releases the GIL while SQLite works, so the copy runs beside the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

logger = logging.getLogger("confide.db")

CHECKPOINT_SECONDS = 0.5


class Checkpointer:
    def __init__(self, path: str, interval: float = CHECKPOINT_SECONDS):
        self.path = path
        self.interval = interval
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sqlite-checkpoints")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._connection is not None:
            await asyncio.to_thread(self._checkpoint)  # leave the file complete for backups
            self._connection.close()
            self._connection = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self._checkpoint)
            except sqlite3.Error as error:  # the next round tries again; the WAL keeps every commit
                logger.warning("wal checkpoint failed: %s", type(error).__name__)

    def _checkpoint(self) -> None:
        if self._connection is None:
            # Used from whichever worker thread runs this round, one round at a time.
            self._connection = sqlite3.connect(self.path, timeout=0, check_same_thread=False)
        self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
