"""What every workflow call needs from its surroundings, passed in rather than imported."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from config.catalog import Catalog
from workflows.db import Database
from workflows.receipts import WrongKeyThrottle


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    db: Database
    catalog: Catalog
    clock: Callable[[], datetime] = field(default=utc_now)
    # Per process, in memory only: who mistyped a receipt key is never persisted.
    receipt_throttle: WrongKeyThrottle = field(default_factory=WrongKeyThrottle)

    def now(self) -> datetime:
        return self.clock()
