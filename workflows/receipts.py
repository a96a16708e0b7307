"""Receipt keys: how an anonymous reporter follows up without saying who they are.

A key is shown once, on the confirmation modal. It is never sent, logged or stored in clear: the
database keeps scrypt(key, per-installation salt), which can be looked up because the salt is fixed
and the key itself carries 100 random bits. Wrong keys are throttled per person in memory only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import deque
from datetime import datetime, timedelta

import sqlalchemy as sa

from workflows.connection import Connection
from workflows.sql import insert_if_absent
from workflows.tables import installation, receipt_failures

# Crockford's base32: no I, L, O or U, so a key read aloud or copied by hand survives.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KEY_LENGTH = 20  # 20 symbols x 5 bits = 100 bits
GROUP = 4
SALT_KEY = "receipt_salt"
# scrypt's cost: ~16 MiB and tens of milliseconds per key, so guessing offline is slow too.
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_key() -> str:
    """A fresh key such as `7KQF-M2XD-9PHA-Z3WR-B6TN`."""
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(KEY_LENGTH))
    return "-".join(symbols[i : i + GROUP] for i in range(0, KEY_LENGTH, GROUP))


def normalise(text: str) -> str | None:
    """What a person typed, as the canonical symbols; None when it cannot be a key."""
    symbols = "".join(text.upper().split()).replace("-", "").translate(_LOOKALIKES)
    if len(symbols) != KEY_LENGTH or any(c not in ALPHABET for c in symbols):
        return None
    return symbols


async def installation_salt(conn: Connection) -> bytes:
    """The per-installation salt, generated on first use and kept in the database."""
    await insert_if_absent(conn, installation, {"key": SALT_KEY, "value": secrets.token_hex(16)})
    value = (
        await conn.execute(sa.select(installation.c.value).where(installation.c.key == SALT_KEY))
    ).scalar_one()
    return bytes.fromhex(value)


async def key_hash(conn: Connection, text: str) -> str | None:
    """The stored form of a key (hex scrypt digest); None when the text cannot be a key."""
    symbols = normalise(text)
    if symbols is None:
        return None
    salt = await installation_salt(conn)
    # scrypt is deliberately slow; off the event loop so other requests keep flowing.
    digest = await asyncio.to_thread(hashlib.scrypt, symbols.encode("ascii"), salt=salt, **SCRYPT)
    return digest.hex()


async def count_wrong_key(conn: Connection, now: datetime) -> None:
    """One more wrong key in this hour (the insider-risk signals watch for spikes)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    await insert_if_absent(conn, receipt_failures, {"hour": hour, "count": 0})
    await conn.execute(
        receipt_failures.update()
        .where(receipt_failures.c.hour == hour)
        .values(count=receipt_failures.c.count + 1)
    )


async def wrong_keys_since(conn: Connection, since: datetime) -> int:
    """Wrong keys counted in the hours from `since` on."""
    hour = since.replace(minute=0, second=0, microsecond=0)
    total = await conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(receipt_failures.c.count), 0)).where(
            receipt_failures.c.hour >= hour
        )
    )
    return int(total.scalar_one())


class WrongKeyThrottle:
    """At most `limit` wrong keys per person per `window`, remembered in this process only.

    People are told apart by an HMAC of their user id under a key that exists only in this
    process's memory, so even a memory dump does not list who tried; nothing here is persisted.
    """

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=15)):
        self.limit = limit
        self.window = window
        self._key = secrets.token_bytes(32)
        self._failures: dict[str, deque[datetime]] = {}

    def _token(self, user_id: str) -> str:
        return hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()

    def _recent(self, token: str, now: datetime) -> deque[datetime]:
        failures = self._failures.get(token, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(token, None)
        return failures

    def retry_at(self, user_id: str, now: datetime) -> datetime | None:
        """When this person may try again, or None when they may try now."""
        failures = self._recent(self._token(user_id), now)
        if len(failures) < self.limit:
            return None
        return failures[0] + self.window

    def record_failure(self, user_id: str, now: datetime) -> None:
        token = self._token(user_id)
        failures = self._recent(token, now)
        failures.append(now)
        self._failures[token] = failures
        if len(self._failures) > 10_000:  # bound memory: forget people whose window has passed
            for other in list(self._failures):
                self._recent(other, now)
