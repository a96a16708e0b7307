"""Chains the audit entries that transactions queued (workflows/audit.py says why they queue), off the
request path: woken by the commits that queued them, in batches, one sealer at a time across replicas."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from workflows import audit
from workflows.connection import CommitNotes
from workflows.db import Database

logger = logging.getLogger("confide.sealer")


class AuditSealer:
    def __init__(self, db: Database, *, poll_seconds: float = 5.0, rest_seconds: float = 0.1):
        """`poll_seconds`: how often to look for entries nobody woke it for: another replica's that
        stopped before sealing them, or this process's own from before a crash. `rest_seconds`: the
        pause after a round that chained something, in which a burst's entries gather for the next.
        Each round costs the same handful of statements however many entries it chains: woken by every
        commit, it ran rounds back to back under load, a few entries each (4% of the server's CPU
        in the ack benchmark's writes). Nobody waits on it meanwhile: the entries are already durable
        in their queue, and whoever reads the log chains what is queued first (`audit.seal`)."""
        self.db = db
        self.poll_seconds = poll_seconds
        self.rest_seconds = rest_seconds
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()  # ends a rest early
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        db.after_commit.append(self._after_commit)

    def _after_commit(self, notes: CommitNotes) -> None:
        if audit.QUEUED in notes:
            self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._stopped.clear()
        self._task = asyncio.create_task(self._run(), name="audit-sealer")

    async def stop(self) -> None:
        """Stop after chaining what is queued, so a clean shutdown leaves nothing unsealed."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            # Cleared before sealing: a commit during the round wakes the next one.
            self._wake.clear()
            # A stop during a round is answered by one more round: entries committed after this one
            # read the queue are chained too.
            stopping = self._stopping
            sealed = 0
            try:
                sealed = await audit.seal(self.db)
            except Exception:  # the loop must outlive a database hiccup; the queue keeps the entries
                logger.exception("audit sealing round failed")
            if stopping:
                return
            if sealed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), timeout=self.rest_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
