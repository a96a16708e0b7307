"""Writes that batch their INSERTs (`Connection.insert_later`) and end in one statement
(`Connection.execute_last`): the same outcome as running each statement in turn, on both databases,
and on PostgreSQL the round trips they save."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from tests.conftest import EXAMPLE_CATALOG, postgres_only
from workflows import access, audit, later_inserts, outbox
from workflows import db as db_module
from workflows.connection import Connection
from workflows.db import Database
from workflows.errors import InvalidInput
from workflows.tables import access_requests, audit_unsealed, members
from workflows.tables import outbox as outbox_table

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
_MEMBER = members.insert().inline()
_COUNT_QUEUED = sa.select(sa.func.count()).select_from(outbox_table)
_LOCK_MEMBERS = sa.select(members.c.user_id).with_for_update()


def member(user_id: str) -> dict[str, Any]:
    return {"user_id": user_id, "name": user_id, "first_seen_at": NOW, "updated_at": NOW}


async def enqueue(conn: Connection, recipient: str, n: int) -> None:
    await outbox.enqueue(conn, recipient=recipient, kind="notice", data={"n": n}, now=NOW)


async def queued(db: Database) -> list[tuple[str, int]]:
    async with db.read() as conn:
        rows = await conn.execute(sa.select(outbox_table.c.recipient, outbox_table.c.data).order_by("id"))
        return [(r.recipient, json.loads(r.data).get("n")) for r in rows]


async def count(db: Database, table: sa.Table) -> int:
    async with db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    # A statement's first run goes through SQLAlchemy (workflows/statement_cache.py); warm them up.
    async with database.write() as conn:
        await enqueue(conn, "UWARM", 0)
        await conn.insert_later(_MEMBER, member("UWARM"))
        await audit.record(conn, at=NOW, actor="UWARM", action="test.warm", subject="warm")
        await conn.execute(_COUNT_QUEUED)
        await conn.execute(_LOCK_MEMBERS)
    async with database.write() as conn:
        await conn.execute(outbox_table.delete())
        await conn.execute(members.delete())
        await conn.execute(audit_unsealed.delete())
    yield database
    await database.dispose()


async def test_batched_inserts_land_with_their_write_in_the_order_given(db: Database):
    async with db.write() as conn:
        await enqueue(conn, "U0A", 1)
        await audit.record(conn, at=NOW, actor="U0A", action="test.first", subject="s")
        await conn.insert_later(_MEMBER, member("U0A"))
        await enqueue(conn, "U0B", 2)
        await enqueue(conn, "U0A", 3)
        await audit.record(conn, at=NOW, actor="U0A", action="test.second", subject="s")
    assert await queued(db) == [("U0A", 1), ("U0B", 2), ("U0A", 3)]
    async with db.read() as conn:
        actions = (await conn.execute(sa.select(audit_unsealed.c.action).order_by("seq"))).scalars().all()
    assert actions == ["test.first", "test.second"]
    assert await count(db, members) == 1


async def test_a_statement_after_batched_inserts_sees_them(db: Database):
    async with db.write() as conn:
        await enqueue(conn, "U0A", 1)
        assert (await conn.execute(_COUNT_QUEUED)).scalar_one() == 1
        await enqueue(conn, "U0A", 2)
    assert await queued(db) == [("U0A", 1), ("U0A", 2)]


async def test_a_failed_write_keeps_none_of_its_batch(db: Database):
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with db.write() as conn:
            await enqueue(conn, "U0A", 1)
            await conn.insert_later(_MEMBER, member("U0A"))
            raise RuntimeError("changed my mind")
    async with db.write() as conn:  # and a dry run
        await enqueue(conn, "U0A", 2)
        await conn.rollback()
    assert await queued(db) == [] and await count(db, members) == 0


async def test_a_violated_constraint_in_the_batch_fails_the_write_and_keeps_nothing(db: Database):
    with pytest.raises(sa.exc.IntegrityError):
        async with db.write() as conn:
            await enqueue(conn, "U0A", 1)
            await conn.insert_later(_MEMBER, member("U0A"))
            await conn.insert_later(_MEMBER, member("U0A"))
    assert await queued(db) == [] and await count(db, members) == 0


async def file_request(conn: Connection, catalog: Any, requester: str) -> int:
    """An `/access request` for the example catalog's customer list; the request's id."""
    info = await access.request_access(
        conn,
        catalog,
        NOW,
        requester=requester,
        secret_id="customer-list",
        duration_hours=24,
        justification="planning",
    )
    return info.id


# PostgreSQL: what goes over the wire.


class Wire:
    """The statements one write sends to PostgreSQL (asyncpg's query logger on its connection). It
    does not see the statements SQLAlchemy runs itself, as it does a statement's first run, so the
    tests run theirs once beforehand."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self._drivers: list[Any] = []

    def _heard(self, logged: Any) -> None:
        self.queries.append(logged.query.strip())

    async def listen(self, conn: Connection, db: Database | None = None) -> None:
        """`db`: also hear its statement groups, which send writes' closing INSERTs and one-row reads."""
        self._drivers.append((await (await conn.connection()).get_raw_connection()).driver_connection)  # type: ignore[attr-defined]
        if db is not None:
            assert db._insert_group is not None and db._read_group is not None
            self._drivers.append(await db._insert_group.connection.driver())
            self._drivers.append(await db._read_group.connection.driver())
        for driver in self._drivers:
            driver.add_query_logger(self._heard)

    async def verbs(self) -> list[str]:
        """The first word of each statement heard. (asyncpg tells its loggers in the loop's next turn.)"""
        await asyncio.sleep(0)
        for driver in self._drivers:
            driver.remove_query_logger(self._heard)
        return [q.split()[0].rstrip(";") for q in self.queries]


@postgres_only
async def test_a_write_of_only_batched_inserts_is_one_statement_without_begin_or_commit(db: Database):
    wire = Wire()
    async with db.write() as conn:
        await wire.listen(conn, db)
        await enqueue(conn, "U0A", 1)
        await enqueue(conn, "U0B", 2)
        await conn.insert_later(_MEMBER, member("U0A"))
        await audit.record(conn, at=NOW, actor="U0A", action="test.entry", subject="s")
    assert await wire.verbs() == ["WITH"]
    assert await queued(db) == [("U0A", 1), ("U0B", 2)]
    assert await count(db, members) == 1 and await count(db, audit_unsealed) == 1


@postgres_only
async def test_reads_before_the_first_change_need_no_transaction_and_a_lock_begins_one(db: Database):
    wire = Wire()
    async with db.write() as conn:
        await wire.listen(conn)
        await conn.execute(_COUNT_QUEUED)
        await conn.execute(_LOCK_MEMBERS)
        await enqueue(conn, "U0A", 1)
    assert await wire.verbs() == ["SELECT", "BEGIN", "SELECT", "INSERT", "COMMIT"]
    wire = Wire()
    async with db.write() as conn:
        await wire.listen(conn)
        await enqueue(conn, "U0A", 2)
        await conn.execute(_COUNT_QUEUED)  # reads the batch, so sends it first, in a transaction
    assert await wire.verbs() == ["BEGIN", "INSERT", "SELECT", "COMMIT"]


@postgres_only
async def test_filing_a_request_is_one_read_and_one_write(db: Database):
    from config.catalog import load_catalog

    catalog = load_catalog(EXAMPLE_CATALOG)

    async def file(requester: str) -> list[str]:
        wire = Wire()
        async with db.write() as conn:
            await wire.listen(conn, db)
            assert await file_request(conn, catalog, requester) is not None
        return await wire.verbs()

    await file("U0WARM1")
    assert await file("U0EMP01") == ["SELECT", "WITH"]  # its standing (owner's too), then its rows
    async with db.read() as conn:
        ids = (await conn.execute(sa.select(access_requests.c.id).order_by("id"))).scalars().all()
    assert ids == [1, 2]
    assert [recipient for recipient, _ in await queued(db)] == ["U0OWNER01", "U0OWNER01"]  # the cards


@postgres_only
async def test_recording_a_delivery_and_leasing_the_next_is_one_statement(db: Database):
    async with db.write() as conn:
        for n in range(4):
            await enqueue(conn, "U0A", n)
    async with db.write() as conn:
        (first,) = await outbox.claim_next(conn, NOW)
    lease = timedelta(minutes=1)
    async with db.write() as conn:  # its first run, through SQLAlchemy
        second = await outbox.record_sent(conn, first, NOW, None, lease_next=lease)
    assert second is not None
    wire = Wire()
    async with db.write() as conn:
        await wire.listen(conn)
        third = await outbox.record_sent(conn, second, NOW, None, lease_next=lease)
    assert await wire.verbs() == ["WITH"]
    assert third is not None and third.id == second.id + 1 and third.lease_until == NOW + lease
    async with db.read() as conn:
        sent = await conn.execute(sa.select(outbox_table.c.id).where(outbox_table.c.sent_at.is_not(None)))
        assert sent.scalars().all() == [first.id, second.id]
    with pytest.raises(RuntimeError, match="nothing may follow"):
        async with db.write() as conn:
            await outbox.record_sent(conn, third, NOW, None, lease_next=lease)
            await enqueue(conn, "U0A", 9)


# The batch's one statement, without a database.


def test_a_batch_is_one_statement_with_its_parameters_renumbered():
    batch = later_inserts.LaterInserts()
    first = "INSERT INTO a (x, y) VALUES ($1::INTEGER, $2::VARCHAR)"
    second = "INSERT INTO b (z) VALUES ($1::VARCHAR)"
    assert later_inserts.plain_insert_table(first) == "a"
    batch.add("a", first, [(1, "one")])
    batch.add("b", second, [("zed",)])
    assert batch.fits("a", first, [(2, "two")])
    batch.add("a", first, [(2, "two")])
    sql, values = batch.statement()
    assert sql == (
        "WITH confide_later_1 AS (INSERT INTO a (x, y) VALUES ($1::INTEGER, $2::VARCHAR), "
        "($3::INTEGER, $4::VARCHAR)) INSERT INTO b (z) VALUES ($5::VARCHAR)"
    )
    assert values == [1, "one", 2, "two", "zed"]


def test_a_batch_takes_plain_inserts_only_and_one_form_per_table():
    assert later_inserts.plain_insert_table("INSERT INTO a (x) VALUES ($1) RETURNING a.id") is None
    assert later_inserts.plain_insert_table("INSERT INTO a (x) VALUES ($1) ON CONFLICT DO NOTHING") is None
    assert later_inserts.plain_insert_table("UPDATE a SET x=$1") is None
    assert later_inserts.plain_insert_table("INSERT INTO a (x, y) VALUES ($2, $1)") is None
    batch = later_inserts.LaterInserts()
    batch.add("a", "INSERT INTO a (x) VALUES ($1)", [(1,)])
    assert not batch.fits("a", "INSERT INTO a (x, y) VALUES ($1, $2)", [(1, 2)])
    # A part takes at most MAX_ROWS rows, a batch at most MAX_PARAMETERS values.
    one_short = [(n,) for n in range(later_inserts.MAX_ROWS - 1)]
    assert batch.fits("a", "INSERT INTO a (x) VALUES ($1)", one_short)
    assert not batch.fits("a", "INSERT INTO a (x) VALUES ($1)", [*one_short, (0,)])
    assert later_inserts.LaterInserts.can_take(one_short) and not later_inserts.LaterInserts.can_take(
        [(n,) for n in range(later_inserts.MAX_ROWS + 1)]
    )
    wide = "INSERT INTO b (x) VALUES (" + ", ".join(f"${n}" for n in range(1, 3001)) + ")"
    assert later_inserts.plain_insert_table(wide) == "b"
    assert batch.fits("b", wide, [tuple(range(3000))] * 9)
    assert not batch.fits("b", wide, [tuple(range(3000))] * 10)


async def test_more_rows_than_a_batch_takes_still_land_in_order(db: Database):
    many = 7_000  # audit entries of 5 values each: more parameters than one statement may carry
    async with db.write() as conn:
        await enqueue(conn, "U0A", 1)
        for n in range(many):
            await audit.record(conn, at=NOW, actor="U0A", action="test.bulk", subject=str(n))
    async with db.read() as conn:
        subjects = (await conn.execute(sa.select(audit_unsealed.c.subject).order_by("seq"))).scalars().all()
    assert subjects == [str(n) for n in range(many)]
    assert await queued(db) == [("U0A", 1)]


@postgres_only
async def test_a_write_cancelled_as_it_begins_leaves_no_transaction_on_the_pooled_connection(
    database_url: str, monkeypatch: pytest.MonkeyPatch
):
    db = Database(database_url, pool_size=1)
    await db.migrate()
    begin = asyncpg.transaction.Transaction.start

    async def begun_then_cancelled(self: asyncpg.transaction.Transaction) -> None:
        await begin(self)  # BEGIN reached the server
        raise asyncio.CancelledError

    monkeypatch.setattr(asyncpg.transaction.Transaction, "start", begun_then_cancelled)
    with pytest.raises(asyncio.CancelledError):
        async with db.write() as conn:
            await conn.execute(members.delete())
    monkeypatch.undo()
    async with db.write() as conn:  # the pool's only connection again
        await enqueue(conn, "U0A", 1)
    await db.dispose()
    elsewhere = Database(database_url)
    assert await queued(elsewhere) == [("U0A", 1)]  # committed, not inside a forgotten transaction
    await elsewhere.dispose()


async def test_a_dry_run_wakes_no_listener(db: Database):
    heard: list[dict[str, frozenset[object]]] = []
    db.after_commit.append(lambda notes: heard.append(dict(notes)))
    async with db.write() as conn:
        await enqueue(conn, "U0A", 1)
        await conn.rollback()
    async with db.write() as conn:
        await enqueue(conn, "U0B", 2)
    assert heard == [{outbox.QUEUED_FOR: frozenset({"U0B"})}]


# PostgreSQL: the closing INSERTs of concurrent writes, committed together (`workflows.insert_group`).


async def write_rows(db: Database, writer: int, *, member_id: str | None = None) -> None:
    """One writer's closing INSERTs: three messages in order, an audit entry, maybe a member."""
    async with db.write() as conn:
        for n in range(3):
            await enqueue(conn, f"U0W{writer:02}", writer * 10 + n)
        await audit.record(conn, at=NOW, actor=f"U0W{writer:02}", action="test.grouped", subject=str(writer))
        if member_id is not None:
            await conn.insert_later(_MEMBER, member(member_id))


def statements_sent(db: Database) -> int:
    assert db._insert_group is not None
    return db._insert_group.statements_sent


@postgres_only
async def test_concurrent_writes_commit_together_each_writers_rows_in_order(db: Database):
    # The first twenty open the pool's connections; then twenty writers on kept connections run
    # without waiting on I/O until they commit, so all of them finish in the same turn of the loop.
    await asyncio.gather(*(write_rows(db, n) for n in range(20)))
    sent_before = statements_sent(db)

    await asyncio.gather(*(write_rows(db, n) for n in range(20)))

    assert statements_sent(db) == sent_before + 1  # twenty writers, one statement
    rows = await queued(db)
    assert len(rows) == 2 * 20 * 3
    latest = rows[20 * 3 :]
    for writer in range(20):  # each writer's messages consecutive, in the order it queued them
        start = latest.index((f"U0W{writer:02}", writer * 10))
        assert latest[start : start + 3] == [(f"U0W{writer:02}", writer * 10 + n) for n in range(3)]
    assert await count(db, audit_unsealed) == 2 * 20


@postgres_only
async def test_a_writer_whose_rows_break_a_constraint_fails_alone(db: Database):
    heard: list[frozenset[object]] = []
    db.after_commit.append(lambda notes: heard.append(notes.get(outbox.QUEUED_FOR, frozenset())))
    # Two writers insert the same member: whichever comes second breaks its primary key.
    outcomes = await asyncio.gather(
        write_rows(db, 1),
        write_rows(db, 2, member_id="U0SAME"),
        write_rows(db, 3, member_id="U0SAME"),
        write_rows(db, 4),
        return_exceptions=True,
    )
    failed = [n for n, outcome in zip((1, 2, 3, 4), outcomes, strict=True) if outcome is not None]
    assert len(failed) == 1 and failed[0] in (2, 3)
    assert isinstance(outcomes[failed[0] - 1], sa.exc.IntegrityError)
    assert await count(db, members) == 1
    landed = {recipient for recipient, _ in await queued(db)}
    assert landed == {f"U0W{n:02}" for n in (1, 2, 3, 4) if n not in failed}  # nothing of the failed one
    assert await count(db, audit_unsealed) == 3
    assert frozenset().union(*heard) == landed  # the listeners hear the writers that committed, only


@postgres_only
async def test_a_writer_cancelled_while_its_rows_are_sent_does_not_undo_the_others(db: Database):
    assert db._insert_group is not None
    writers = [asyncio.create_task(write_rows(db, n)) for n in range(3)]
    while len(db._insert_group._waiting) < 3:
        await asyncio.sleep(0)
    writers[1].cancel()
    outcomes = await asyncio.gather(*writers, return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], asyncio.CancelledError)
    # Its rows were on their way when it was cancelled: they commit with the others'.
    assert {recipient for recipient, _ in await queued(db)} == {"U0W00", "U0W01", "U0W02"}


@postgres_only
async def test_the_group_replaces_its_connection_once_the_server_closes_it(db: Database, database_url: str):
    await write_rows(db, 1)
    assert db._insert_group is not None
    driver = await db._insert_group.connection.driver()
    admin = await asyncpg.connect(database_url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", driver.get_server_pid())
    finally:
        await admin.close()
    for _ in range(100):  # until asyncpg has read the server's goodbye
        if driver.is_closed():
            break
        await asyncio.sleep(0.05)
    assert driver.is_closed()

    await write_rows(db, 2)

    assert {recipient for recipient, _ in await queued(db)} == {"U0W01", "U0W02"}


def test_a_group_statement_inserts_arrays_whatever_the_number_of_rows():
    from workflows.insert_group import group_sql

    first = "INSERT INTO a (x, y) VALUES ($1::INTEGER, $2::VARCHAR)"
    second = "INSERT INTO b (z) VALUES ($1::VARCHAR)"
    sql = group_sql(
        ((first, ('"pg_catalog"."int4"[]', '"pg_catalog"."varchar"[]')), (second, ('"pg_catalog"."text"[]',)))
    )
    assert sql == (
        "WITH confide_group_1 AS (INSERT INTO a (x, y) SELECT r.c1::INTEGER, r.c2::VARCHAR FROM "
        'unnest($1::"pg_catalog"."int4"[], $2::"pg_catalog"."varchar"[]) AS r(c1, c2)) '
        'INSERT INTO b (z) SELECT r.c1::VARCHAR FROM unnest($3::"pg_catalog"."text"[]) AS r(c1)'
    )


# PostgreSQL: one-row reads of concurrent requests, answered by one statement (`workflows.read_group`).

_NAME_OF = sa.select(
    sa.select(members.c.name)
    .where(members.c.user_id == sa.bindparam("user_id"))
    .scalar_subquery()
    .label("name"),
    sa.bindparam("asked", type_=sa.Integer).label("asked"),
)
_AS_NUMBER = sa.select(sa.cast(sa.bindparam("text", type_=sa.String), sa.Integer).label("n"))


def rows_sent(db: Database) -> int:
    assert db._read_group is not None
    return db._read_group.statements_sent


async def read_row(db: Database, statement: Any, parameters: dict[str, Any]) -> Any:
    async with db.read() as conn:
        return await conn.read_row(statement, parameters)


@postgres_only
async def test_concurrent_one_row_reads_are_each_answered_by_one_statement(db: Database):
    async with db.write() as conn:
        for n in range(5):
            await conn.insert_later(_MEMBER, {**member(f"U0M{n}"), "name": f"member {n}"})
    # The first run goes through SQLAlchemy; the first twenty open the pool's connections.
    await asyncio.gather(*(read_row(db, _NAME_OF, {"user_id": "U0M0", "asked": n}) for n in range(20)))
    sent_before = rows_sent(db)

    answers = await asyncio.gather(
        *(read_row(db, _NAME_OF, {"user_id": f"U0M{n % 7}", "asked": n}) for n in range(20))
    )

    assert rows_sent(db) == sent_before + 1
    assert [(row.name, row.asked) for row in answers] == [
        (f"member {n % 7}" if n % 7 < 5 else None, n) for n in range(20)
    ]


@postgres_only
async def test_a_read_that_fails_fails_alone(db: Database):
    await asyncio.gather(*(read_row(db, _AS_NUMBER, {"text": "1"}) for _ in range(4)))
    assert db._read_group is not None
    heard: list[str] = []
    driver = await db._read_group.connection.driver()
    driver.add_query_logger(lambda logged: heard.append(logged.query))

    outcomes = await asyncio.gather(
        *(read_row(db, _AS_NUMBER, {"text": text}) for text in ("1", "2", "two", "4")), return_exceptions=True
    )

    assert [row.n for row in outcomes if isinstance(row, sa.Row)] == [1, 2, 4]
    assert isinstance(outcomes[2], sa.exc.DBAPIError) and "invalid input syntax" in str(outcomes[2])
    await asyncio.sleep(0)  # asyncpg tells its loggers in the loop's next turn
    # The four together, which failed; then each alone.
    assert ["unnest" in query for query in heard] == [True, False, False, False, False]


@postgres_only
async def test_concurrent_filings_read_their_standing_together_and_commit_together(db: Database):
    from config.catalog import load_catalog

    catalog = load_catalog(EXAMPLE_CATALOG)

    async def file(requester: str) -> int:
        async with db.write() as conn:
            return await file_request(conn, catalog, requester)

    await asyncio.gather(*(file(f"U0WARM{n:02}") for n in range(20)))  # connections, statements
    reads_before, writes_before = rows_sent(db), statements_sent(db)

    ids = await asyncio.gather(*(file(f"U0EMP{n:02}") for n in range(20)))

    assert (rows_sent(db), statements_sent(db)) == (reads_before + 1, writes_before + 1)
    async with db.read() as conn:
        filed = dict((await conn.execute(sa.select(access_requests.c.id, access_requests.c.requester))).all())
    assert len(set(ids)) == 20 and all(filed[i] == f"U0EMP{n:02}" for n, i in enumerate(ids))
    # Asked again, each is told of the pending request it has: the standing each read is its own.
    with pytest.raises(InvalidInput, match=f"R-{ids[3]}"):
        await file("U0EMP03")


@postgres_only
async def test_a_filing_whose_statements_all_go_to_the_groups_needs_no_pooled_connection(
    database_url: str, monkeypatch: pytest.MonkeyPatch
):
    """Its standing read and its rows go to the groups' own connections, so it neither takes one of
    the pool's nor waits for one: with the pool's only connection held, it is still filed."""
    from config.catalog import load_catalog

    catalog = load_catalog(EXAMPLE_CATALOG)
    monkeypatch.setattr(db_module, "POOL_WAIT_SECONDS", 0.5)
    small = Database(database_url, pool_size=1)
    try:
        await small.migrate()
        async with small.write() as conn:  # statements' first runs, through SQLAlchemy's connection
            await file_request(conn, catalog, "U0WARM1")
        async with small.read() as holder:
            await holder.connection()  # type: ignore[attr-defined]
            async with small.write() as conn:
                filed = await file_request(conn, catalog, "U0EMP01")
            with pytest.raises(sa.exc.TimeoutError):  # whereas a statement of its own waits in vain
                async with small.write() as conn:
                    await conn.execute(_COUNT_QUEUED)
        async with small.read() as conn:
            requester = (
                await conn.execute(
                    sa.select(access_requests.c.requester).where(access_requests.c.id == filed)
                )
            ).scalar_one()
        assert requester == "U0EMP01"
    finally:
        await small.dispose()


_QUEUED_FOR_NEWEST_FIRST = (
    sa.select(outbox_table.c.data)
    .where(outbox_table.c.recipient == sa.bindparam("r"))
    .order_by(outbox_table.c.id.desc())
)


@postgres_only
async def test_concurrent_reads_of_many_rows_each_get_their_own_in_the_statements_order(db: Database):
    async with db.write() as conn:
        for n in range(40):  # recipients U0R0..U0R4 get 8 messages each, interleaved; U0R5 none
            await enqueue(conn, f"U0R{n % 5}", n)

    async def newest_first(recipient: str) -> list[int]:
        async with db.read() as conn:
            rows = await conn.read_rows(_QUEUED_FOR_NEWEST_FIRST, {"r": recipient})
        return [json.loads(row.data)["n"] for row in rows]

    await asyncio.gather(*(newest_first("U0R0") for _ in range(12)))  # connections, statement
    sent_before = rows_sent(db)

    answers = await asyncio.gather(*(newest_first(f"U0R{n % 6}") for n in range(12)))

    assert rows_sent(db) == sent_before + 1
    expected = {f"U0R{r}": [n for n in reversed(range(40)) if n % 5 == r] for r in range(5)}
    assert answers == [expected.get(f"U0R{n % 6}", []) for n in range(12)]


@postgres_only
async def test_a_group_that_breaks_tells_its_writers_rather_than_leave_them_waiting(
    db: Database, monkeypatch: pytest.MonkeyPatch
):
    assert db._insert_group is not None

    async def broken(*_args: Any) -> None:
        raise RuntimeError("a bug in the group")

    monkeypatch.setattr(db._insert_group, "_statement", broken)
    outcomes = await asyncio.wait_for(
        asyncio.gather(write_rows(db, 1), write_rows(db, 2), return_exceptions=True), timeout=10
    )
    assert [str(outcome) for outcome in outcomes] == ["a bug in the group"] * 2
    monkeypatch.undo()
    await write_rows(db, 3)  # the group works again
    assert {recipient for recipient, _ in await queued(db)} == {"U0W03"}


@postgres_only
async def test_rows_whose_commit_went_unanswered_are_not_sent_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
):
    """The connection is lost after the group's statement committed but before its answer came:
    every writer is told it failed (its outcome is unknown), and nothing is sent twice."""
    assert db._insert_group is not None
    await asyncio.gather(write_rows(db, 0), write_rows(db, 9))  # two connections: the two below group
    real = await db._insert_group.connection.driver()

    class AnswerLost:
        async def execute(self, sql: str, *values: Any) -> None:
            await real.execute(sql, *values)  # committed...
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

        def is_closed(self) -> bool:
            return False

    async def answer_lost() -> AnswerLost:
        return AnswerLost()

    monkeypatch.setattr(db._insert_group.connection, "driver", answer_lost)
    outcomes = await asyncio.gather(write_rows(db, 1), write_rows(db, 2), return_exceptions=True)
    assert all(isinstance(outcome, asyncpg.ConnectionDoesNotExistError) for outcome in outcomes)
    monkeypatch.undo()
    # ...committed once each, not again by a fallback that took the lost answer for a refusal.
    assert sorted(n for _recipient, n in await queued(db)) == [0, 1, 2, 10, 11, 12, 20, 21, 22, 90, 91, 92]
