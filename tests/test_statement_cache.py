"""Repeated statements run on the driver (workflows/statement_cache.py) must answer exactly as
SQLAlchemy does, on SQLite and on PostgreSQL: same rows, same types, same row counts, same errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from workflows import access, outbox
from workflows.db import Database
from workflows.tables import access_requests, grants, members, request_approvers
from workflows.tables import outbox as outbox_table

NOW = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str):
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.dispose()


def _request(requester: str, status: str = "pending") -> dict[str, Any]:
    return {
        "kind": "new",
        "grant_id": None,
        "secret_id": "customer-list",
        "requester": requester,
        "duration_hours": 24,
        "justification": "planning",
        "approvals_needed": 1,
        "status": status,
        "created_at": NOW,
        "remind_at": NOW + timedelta(hours=1),
        "expires_at": NOW + timedelta(days=1),
    }


async def twice(db: Database, statement: Any, parameters: Any = None) -> tuple[Any, Any]:
    """The statement's answer through SQLAlchemy (its first run) and through the driver (its second),
    each in a transaction that is rolled back, so both see the same rows."""
    answers = []
    for _ in range(2):
        async with db.write() as conn:
            await conn.execute(sa.text("SELECT 1"))  # PostgreSQL: SQLAlchemy begins the transaction
            result = await conn.execute(statement, parameters)
            rows = [tuple(row) for row in result] if result.returns_rows else None
            answers.append((rows, result.rowcount, type(result).__name__))
            await conn.rollback()
    return answers[0], answers[1]


async def test_selects_give_the_same_rows_with_the_same_types(db: Database):
    async with db.write() as conn:
        request_id = (await conn.execute(access._INSERT_REQUEST, _request("U1"))).scalar_one()
        await conn.execute(
            request_approvers.insert(), [{"request_id": request_id, "user_id": u} for u in ("U8", "U9")]
        )
        await conn.execute(
            members.insert(),
            {"user_id": "U8", "name": "Gone", "deleted": True, "first_seen_at": NOW, "updated_at": NOW},
        )
        await conn.execute(  # so both halves of the UNION below have a row
            grants.insert(),
            {
                "secret_id": "customer-list",
                "grantee": "U1",
                "request_id": request_id,
                "status": "active",
                "granted_at": NOW,
                "expires_at": NOW + timedelta(days=30),
                "review_due_at": NOW + timedelta(days=7),
            },
        )
    parameters = {
        "user_id": "U1",
        "secret_id": "customer-list",
        "now": NOW,
        "burst_since": NOW - timedelta(days=1),
    }
    for statement, given in [
        (access._PENDING_REQUESTS_OF, {"user_id": "U1"}),
        (access._REQUEST_STANDING, parameters),
        (sa.select(members.c.user_id, members.c.deleted, members.c.is_bot), None),
        # A UNION ALL (`/access list` reads grants and pending requests in one): a CompoundSelect.
        (access._GRANTS_AND_PENDING_REQUESTS_OF, {"user_id": "U1", "now": NOW}),
    ]:
        through_sqlalchemy, through_driver = await twice(db, statement, given)
        assert through_driver[2] == "DriverResult"  # it did take the driver's path
        assert through_driver[:2] == through_sqlalchemy[:2]
        for row_a, row_b in zip(through_sqlalchemy[0], through_driver[0], strict=True):
            assert [type(v) for v in row_a] == [type(v) for v in row_b]
    listed = (await twice(db, access._GRANTS_AND_PENDING_REQUESTS_OF, {"user_id": "U1", "now": NOW}))[1][0]
    assert {row[0] for row in listed} == {"grant", "request"}  # rows from each half
    standing = (await twice(db, access._REQUEST_STANDING, parameters))[1][0][0]
    assert standing[3] == request_id  # the pending request, found by the subquery
    pending = (await twice(db, access._PENDING_REQUESTS_OF, {"user_id": "U1"}))[1][0]
    assert pending[0][access_requests.c.keys().index("created_at")] == NOW  # time zone and microseconds kept


async def test_writes_give_the_same_returned_rows_and_counts(db: Database):
    async with db.write() as conn:
        for recipient in ("U1", "U1", "U2"):
            await outbox.enqueue(conn, recipient=recipient, kind="notice", data={"text": "x"}, now=NOW)
    lease = {"for_recipient": "U1", "now": NOW, "leased_until": NOW + timedelta(seconds=30)}
    through_sqlalchemy, through_driver = await twice(db, outbox._LEASE_NEXT_OF, lease)
    # (A row count after RETURNING is the driver's guess either way; nothing reads it.)
    assert through_driver[2] == "DriverResult" and through_driver[0] == through_sqlalchemy[0]
    assert through_driver[0][0][1] == "U1"
    mark_sent = {"message_id": 1, "now": NOW}
    assert (await twice(db, outbox._MARK_SENT, mark_sent))[1][1] == 1
    none_sent = {"message_id": 99, "now": NOW}
    assert (await twice(db, outbox._MARK_SENT, none_sent))[1][1] == 0
    inserted = await twice(db, access._INSERT_REQUEST, _request("U3"))
    # One new id each time (PostgreSQL's sequence does not roll back, so not the same one there).
    assert [(len(rows), type(rows[0][0]), count) for rows, count, _ in inserted] == [(1, int, 1)] * 2
    many = [{"request_id": 1, "user_id": u} for u in ("U4", "U5", "U6")]
    assert (await twice(db, request_approvers.insert(), many))[1][1] == 3


async def test_what_it_cannot_reproduce_goes_to_sqlalchemy(db: Database):
    expanding = sa.select(outbox_table.c.id).where(
        outbox_table.c.recipient.in_(sa.bindparam("r", expanding=True))
    )
    assert (await twice(db, expanding, {"r": ["U1", "U2"]}))[1][2] == "CursorResult"
    assert (await twice(db, sa.text("SELECT 1")))[1][2] == "CursorResult"
    statement = sa.select(members.c.user_id).where(members.c.user_id == sa.bindparam("user_id"))
    await twice(db, statement, {"user_id": "U1"})
    with pytest.raises(sa.exc.StatementError, match="A value is required for bind parameter 'user_id'"):
        async with db.read() as conn:
            await conn.execute(statement, {})


async def test_a_driver_error_is_sqlalchemys_and_hides_the_parameters(db: Database):
    secret_text = "the justification nobody may log"
    statement = sa.insert(members)
    row = {"user_id": "U1", "name": secret_text, "first_seen_at": NOW, "updated_at": NOW}
    async with db.write() as conn:
        await conn.execute(statement, row)
        await conn.execute(
            statement, {"user_id": "U2", "name": "Other", "first_seen_at": NOW, "updated_at": NOW}
        )  # now compiled for the driver
        with pytest.raises(sa.exc.IntegrityError) as raised:
            await conn.execute(statement, row)
    assert "unique" in str(raised.value).lower() and secret_text not in str(raised.value)


RESULT_METHODS = {
    "all": lambda r: [tuple(row) for row in r.all()],
    "first": lambda r: None if (row := r.first()) is None else tuple(row),
    "one": lambda r: tuple(r.one()),
    "one_or_none": lambda r: None if (row := r.one_or_none()) is None else tuple(row),
    "scalar": lambda r: r.scalar(),
    "scalar_one": lambda r: r.scalar_one(),
    "scalar_one_or_none": lambda r: r.scalar_one_or_none(),
    "scalars.all": lambda r: r.scalars().all(),
    "scalars.first": lambda r: r.scalars().first(),
    "scalars.one": lambda r: r.scalars().one(),
    "scalars.iter": lambda r: list(r.scalars()),
    "iter.attributes": lambda r: [(row.user_id, row._mapping["name"]) for row in r],
}


async def test_every_result_method_answers_as_sqlalchemys_for_none_one_and_two_rows(db: Database):
    async with db.write() as conn:
        for user_id in ("U1", "U2", "U2b"):
            await conn.execute(
                members.insert(),
                {"user_id": user_id, "name": f"n{user_id}", "first_seen_at": NOW, "updated_at": NOW},
            )
    for pattern in ("none%", "U1", "U2%"):  # no row, one row, two rows
        for name, method in RESULT_METHODS.items():
            statement = (  # a new statement object: its first run is SQLAlchemy's, its second the driver's
                sa.select(members.c.user_id, members.c.name)
                .where(members.c.user_id.like(sa.bindparam("pattern")))
                .order_by(members.c.user_id)
            )
            outcomes, kinds = [], []
            for _ in range(2):
                async with db.read() as conn:
                    result = await conn.execute(statement, {"pattern": pattern})
                    kinds.append(type(result).__name__)
                    try:
                        outcomes.append(("value", method(result)))
                    except Exception as error:  # noqa: BLE001 - the exception's type is the answer
                        outcomes.append(("raised", type(error).__name__))
            assert kinds == ["CursorResult", "DriverResult"]
            assert outcomes[0] == outcomes[1], (pattern, name, outcomes)


async def test_a_collected_statement_is_forgotten_so_its_id_cannot_match_another(db: Database):
    """The cache is keyed by id(statement); once a statement is gone its id may be another's."""
    import gc

    cache = db._statements
    statement = sa.select(members.c.user_id).where(members.c.user_id == sa.bindparam("user_id"))
    key = id(statement)
    assert cache.prepare(statement, {"user_id": "U1"}) is None  # the first run is SQLAlchemy's
    assert cache.prepare(statement, {"user_id": "U1"}) is not None
    del statement
    gc.collect()
    assert key not in cache._forms
