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
    def __init__(self, db: Database, *, poll_seconds: float = 5.0):
        """`poll_seconds`: how often to look for entries nobody woke it for: another replica's that
        stopped before sealing them, or this process's own from before a crash."""
        self.db = db
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        db.after_commit.append(self._after_commit)

    def _after_commit(self, notes: CommitNotes) -> None:
        if audit.QUEUED in notes:
            self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="audit-sealer")

    async def stop(self) -> None:
        """Stop after chaining what is queued, so a clean shutdown leaves nothing unsealed."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            # Cleared before sealing: a commit during the round wakes the next one.
            self._wake.clear()
            try:
                await audit.seal(self.db)
            except Exception:  # the loop must outlive a database hiccup; the queue keeps the entries
                logger.exception("audit sealing round failed")
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
