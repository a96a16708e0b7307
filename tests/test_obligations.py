"""Obligations and versions on a real database: who owes what since when, as the catalog and scope change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from config.catalog import Catalog, parse_catalog
from workflows import agreements
from workflows.db import Database
from workflows.directory import Member, upsert_member
from workflows.obligations import record_versions, refresh_obligations
from workflows.tables import agreement_obligations

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def catalog(nda_version: str = "v1", nda_due_days: int = 14, renew: int | None = 365) -> Catalog:
    nda: dict[str, Any] = {"id": "nda", "title": "NDA", "version": nda_version, "due_days": nda_due_days}
    if renew:
        nda["renew_every_days"] = renew
    return parse_catalog(
        {
            "agreements": [
                nda,
                {
                    "id": "guest-nda",
                    "title": "Guest NDA",
                    "version": "g1",
                    "applies_to": "guests",
                    "due_days": 7,
                },
                {"id": "staff-policy", "title": "Staff policy", "version": "s1", "applies_to": "members"},
            ]
        }
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    async with database.write() as conn:
        for member in (
            Member("U0MEM1", "Mia", False, False, False, None),
            Member("U0GST1", "Gil", False, True, False, None),
            Member("U0BOT1", "Bot", True, False, False, None),
            Member("U0OLD1", "Old", False, False, True, None),
        ):
            await upsert_member(conn, member, T0)
    yield database
    await database.dispose()


async def obligations(db: Database) -> dict[tuple[str, str, str], Any]:
    async with db.read() as conn:
        found = (await conn.execute(sa.select(agreement_obligations))).all()
    return {(r.user_id, r.agreement_id, r.version): r for r in found}


async def test_first_refresh_records_who_owes_what_since_when(db: Database):
    async with db.write() as conn:
        published = await record_versions(conn, catalog(), T0)
        newly = await refresh_obligations(conn, catalog(), T0)
    assert published.first_load and [a.id for a in published.new] == ["nda", "guest-nda", "staff-policy"]
    assert newly == {"nda": ["U0GST1", "U0MEM1"], "guest-nda": ["U0GST1"], "staff-policy": ["U0MEM1"]}
    rows = await obligations(db)
    assert set(rows) == {
        ("U0MEM1", "nda", "v1"),
        ("U0GST1", "nda", "v1"),
        ("U0GST1", "guest-nda", "g1"),
        ("U0MEM1", "staff-policy", "s1"),
    }
    assert rows[("U0GST1", "guest-nda", "g1")].first_owed_at == T0
    assert rows[("U0GST1", "guest-nda", "g1")].due_at == T0 + timedelta(days=7)

    later = T0 + timedelta(days=3)
    async with db.write() as conn:
        again = await record_versions(conn, catalog(), later)
        assert await refresh_obligations(conn, catalog(), later) == {}
    assert not again.first_load and again.new == []
    assert (await obligations(db))[("U0MEM1", "nda", "v1")].first_owed_at == T0  # first owed stays first


async def test_a_new_version_is_owed_from_when_it_was_first_loaded(db: Database):
    async with db.write() as conn:
        await record_versions(conn, catalog(), T0)
        await refresh_obligations(conn, catalog(), T0)
        await agreements.acknowledge(conn, catalog(), T0, user_id="U0MEM1", agreement_id="nda", version="v1")
    bump = T0 + timedelta(days=40)
    async with db.write() as conn:
        published = await record_versions(conn, catalog("v2"), bump)
        newly = await refresh_obligations(conn, catalog("v2"), bump)
        owed = await agreements.owed_by(conn, catalog("v2"), "U0MEM1", bump)
    assert [a.version for a in published.new] == ["v2"] and not published.first_load
    assert newly == {"nda": ["U0GST1", "U0MEM1"]}
    rows = await obligations(db)
    assert rows[("U0MEM1", "nda", "v2")].first_owed_at == bump
    assert rows[("U0MEM1", "nda", "v2")].due_at == bump + timedelta(days=14)
    assert rows[("U0GST1", "nda", "v1")].due_at is None  # a superseded version is never due
    [nda] = [o for o in owed if o.agreement.id == "nda"]
    assert nda.owed_since == bump and nda.previous is not None and nda.previous.version == "v1"


async def test_acknowledging_clears_what_is_due_until_the_renewal(db: Database):
    async with db.write() as conn:
        await refresh_obligations(conn, catalog(), T0)
        await agreements.acknowledge(conn, catalog(), T0, user_id="U0MEM1", agreement_id="nda", version="v1")
        await agreements.acknowledge(
            conn, catalog(), T0, user_id="U0MEM1", agreement_id="staff-policy", version="s1"
        )
    rows = await obligations(db)
    renewal = T0 + timedelta(days=365)
    assert rows[("U0MEM1", "nda", "v1")].owed_from == renewal
    assert rows[("U0MEM1", "nda", "v1")].due_at == renewal + timedelta(days=14)
    assert rows[("U0MEM1", "staff-policy", "s1")].owed_from is None
    assert rows[("U0MEM1", "staff-policy", "s1")].due_at is None

    async with db.read() as conn:
        assert await agreements.owed_by(conn, catalog(), "U0MEM1", renewal - timedelta(seconds=1)) == []
        [lapsed] = await agreements.owed_by(conn, catalog(), "U0MEM1", renewal)
    assert lapsed.is_renewal and lapsed.owed_since == renewal


async def test_an_acknowledgement_made_before_the_directory_knew_the_person_counts(db: Database):
    async with db.write() as conn:
        await agreements.acknowledge(conn, catalog(), T0, user_id="U0NEW1", agreement_id="nda", version="v1")
        await upsert_member(conn, Member("U0NEW1", "New", False, False, False, None), T0)
        newly = await refresh_obligations(conn, catalog(), T0 + timedelta(hours=1))
    assert "U0NEW1" not in newly["nda"] and "U0NEW1" in newly["staff-policy"]
    row = (await obligations(db))[("U0NEW1", "nda", "v1")]
    assert row.acknowledged_at == T0 and row.owed_from == T0 + timedelta(days=365)


async def test_a_changed_due_days_moves_due_dates_before_any_reminder(db: Database):
    async with db.write() as conn:
        await refresh_obligations(conn, catalog(), T0)
        await refresh_obligations(conn, catalog(nda_due_days=30), T0 + timedelta(days=1))
    assert (await obligations(db))[("U0GST1", "nda", "v1")].due_at == T0 + timedelta(days=30)


async def test_leaving_the_scope_stands_down_and_coming_back_restores(db: Database):
    async with db.write() as conn:
        await refresh_obligations(conn, catalog(), T0)
        await upsert_member(conn, Member("U0GST1", "Gil", False, False, False, None), T0)  # now a member
        await refresh_obligations(conn, catalog(), T0, user_ids=["U0GST1"])
    rows = await obligations(db)
    assert rows[("U0GST1", "guest-nda", "g1")].due_at is None
    assert rows[("U0GST1", "staff-policy", "s1")].first_owed_at == T0
    async with db.write() as conn:
        await upsert_member(conn, Member("U0GST1", "Gil", False, True, False, None), T0)  # a guest again
        await refresh_obligations(conn, catalog(), T0 + timedelta(days=2), user_ids=["U0GST1"])
    assert (await obligations(db))[("U0GST1", "guest-nda", "g1")].due_at == T0 + timedelta(days=7)
