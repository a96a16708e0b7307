"""Statements that run again and again, compiled once and run straight on the driver.

SQLAlchemy's own execution does a lot per statement beyond the database's work: it looks up the
compiled form by cache key, builds an execution context, converts every parameter and every result
value through a chain of calls, and wraps the cursor in a result (on PostgreSQL it also crosses its
greenlet bridge to asyncpg and back). Profiled under load that was about 40% of a SQLite write's CPU
and half of a PostgreSQL round trip's (BENCHMARKS.md, section 1), several times the database's work.

So a Core statement this process runs a second time (the statements built once at import, on every
request path) is compiled here with SQLAlchemy, once per set of parameter names, and what SQLAlchemy
would do with it is kept: the SQL, the order of its parameters, and SQLAlchemy's own converters for
each parameter and each result column. Later runs only convert the values, call the driver (sqlite3
or asyncpg, `workflows.connection`), and hand back SQLAlchemy `Row`s of the converted values in a
small result (`DriverResult`: the methods of SQLAlchemy's `Result` that callers use, and `rowcount`).

Anything this does not reproduce exactly goes to SQLAlchemy as before: textual SQL, execution
options, statements whose values SQLAlchemy computes when they run (Python-side column defaults,
expanding IN lists), results with two columns of one name, and statements built anew for each run
(the first run of any statement object goes through SQLAlchemy, and a statement built per call is
never run twice). Driver errors are raised as SQLAlchemy's, with parameters hidden, as the engine's
`hide_parameters` does.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.engine.row import Row

Processor = Callable[[Any], Any] | None
_SEEN_ONCE = None  # the cache's mark for a statement run once, through SQLAlchemy
_UNSEEN: Any = object()


_REQUIRED = object()  # a parameter the caller must give


@dataclass(frozen=True, slots=True)
class _Parameter:
    key: str  # the caller's name for it
    default: Any  # the statement's own value (a literal), or _REQUIRED
    processor: Processor  # SQLAlchemy's converter for this dialect


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    parameters: tuple[_Parameter, ...]  # in the order of the SQL's placeholders (? or $n)
    columns: SimpleResultMetaData | None  # of the result rows; None for statements without rows
    column_processors: tuple[Processor, ...]
    converts_columns: bool  # any of them is not None
    inserts_each_row: bool  # a plain INSERT: a batch of n parameter sets inserts n rows or fails


@dataclass(slots=True)  # not frozen: a frozen dataclass's constructor costs a microsecond, per run
class Prepared:
    """One run of a compiled statement: the driver's SQL and parameter tuples (several for a batch)."""

    form: _Compiled
    values: list[tuple[Any, ...]]
    many: bool

    @property
    def sql(self) -> str:
        return self.form.sql

    @property
    def returns_rows(self) -> bool:
        return self.form.columns is not None

    @property
    def batch_rowcount(self) -> int:
        """Rows a batch changed, where that is known without the driver's count (asyncpg gives none)."""
        return len(self.values) if self.form.inserts_each_row else -1

    def result(self, rows: Sequence[Sequence[Any]], rowcount: int) -> DriverResult:
        """SQLAlchemy `Row`s over the driver's rows, converted by SQLAlchemy's converters as `Row`
        applies them (in its compiled code)."""
        columns = self.form.columns
        if columns is None:
            return DriverResult([], rowcount, returns_rows=False)
        keys = columns._key_to_index
        if self.form.converts_columns:
            processors = self.form.column_processors
            converted = [Row(columns, processors, keys, row) for row in rows]
        else:  # tuple(): asyncpg's rows are Records, and a Row keeps what it is given
            converted = [Row(columns, None, keys, tuple(row)) for row in rows]
        return DriverResult(converted, rowcount, returns_rows=True)


class DriverResult:
    """The part of SQLAlchemy's `Result` that callers use, over rows already fetched and converted.

    SQLAlchemy's `IteratorResult` works out how to make rows, and `scalars()` a reduced copy of its
    column metadata, anew for every result: for a one-row answer that was most of the result's cost.
    The rows here are SQLAlchemy's own `Row` objects, so `row.name`, `row[0]` and `row._mapping` are
    unchanged; what SQLAlchemy's `Result` offers beyond these methods is not offered."""

    __slots__ = ("_rows", "rowcount", "returns_rows")

    def __init__(self, rows: list[Row[Any]], rowcount: int, *, returns_rows: bool):
        self._rows = rows
        self.rowcount = rowcount
        self.returns_rows = returns_rows

    def __iter__(self) -> Iterator[Row[Any]]:
        return iter(self._rows)

    def all(self) -> list[Row[Any]]:
        return list(self._rows)

    def fetchall(self) -> list[Row[Any]]:
        return list(self._rows)

    def first(self) -> Row[Any] | None:
        return self._rows[0] if self._rows else None

    def fetchone(self) -> Row[Any] | None:
        return self.first()

    def one(self) -> Row[Any]:
        return _only(self._rows)

    def one_or_none(self) -> Row[Any] | None:
        return _only(self._rows) if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return _only(self._rows)[0]

    def scalar_one_or_none(self) -> Any:
        return _only(self._rows)[0] if self._rows else None

    def scalars(self) -> DriverScalars:
        return DriverScalars([row[0] for row in self._rows])


class DriverScalars:
    """`DriverResult.scalars()`: the first column of each row."""

    __slots__ = ("_values",)

    def __init__(self, values: list[Any]):
        self._values = values

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def all(self) -> list[Any]:
        return list(self._values)

    def first(self) -> Any:
        return self._values[0] if self._values else None

    def one(self) -> Any:
        return _only(self._values)

    def one_or_none(self) -> Any:
        return _only(self._values) if self._values else None


def _only(items: list[Any]) -> Any:
    """The one item, raising as SQLAlchemy's `one()` does otherwise."""
    if not items:
        raise sa.exc.NoResultFound("No row was found when one was required")
    if len(items) > 1:
        raise sa.exc.MultipleResultsFound("Multiple rows were found when exactly one was required")
    return items[0]


class StatementCache:
    """The compiled forms of one engine's repeated statements (one cache per `Database`)."""

    def __init__(self, dialect: sa.Dialect):
        self.dialect = dialect
        # id(statement) -> {parameter names -> compiled form, or None when it must go to SQLAlchemy},
        # or _SEEN_ONCE. Keyed by id, each entry removed when its statement is collected: a
        # WeakKeyDictionary builds a weak reference for every lookup, on every statement run.
        self._forms: dict[int, dict[frozenset[str], _Compiled | None] | None] = {}

    def prepare(self, statement: Any, parameters: Any) -> Prepared | None:
        """The driver's form of this run, or None when SQLAlchemy should run it."""
        if parameters is None:
            parameters = {}
        if type(parameters) is dict:  # the usual case, checked first: ABC checks cost more than the rest
            many, first = False, parameters
        else:
            many = isinstance(parameters, Sequence) and not isinstance(parameters, Mapping)
            if many and not parameters:
                return None
            first = parameters[0] if many else parameters
            if not isinstance(first, Mapping):
                return None
        form = self._form(statement, frozenset(first))
        if form is None or (many and form.columns is not None):
            return None
        values = [self._values(form, p) for p in parameters] if many else [self._values(form, first)]
        if any(v is None for v in values):
            return None
        return Prepared(form, values, many)  # type: ignore[arg-type]

    def driver_error(self, prepared: Prepared, error: Exception, base: type[Exception]) -> sa.exc.DBAPIError:
        """The driver's error as SQLAlchemy raises it, parameters hidden (the engine's hide_parameters)."""
        return sa.exc.DBAPIError.instance(
            prepared.sql, None, error, base, hide_parameters=True, dialect=self.dialect
        )

    def _form(self, statement: Any, names: frozenset[str]) -> _Compiled | None:
        if not _is_core_statement(type(statement)):
            return None
        key = id(statement)
        forms = self._forms.get(key, _UNSEEN)
        if forms is _UNSEEN:
            try:
                weakref.finalize(statement, _forget, weakref.ref(self), key)
            except TypeError:  # not weakly referenceable
                return None
            self._forms[key] = _SEEN_ONCE
            return None
        if forms is None:
            forms = self._forms[key] = {}
        form = forms.get(names, _UNSEEN)
        if form is _UNSEEN:
            form = forms[names] = _compile(statement, names, self.dialect)
        return form

    @staticmethod
    def _values(form: _Compiled, given: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The driver's parameters, or None when one is missing (SQLAlchemy then says which)."""
        values = []
        for parameter in form.parameters:
            value = given.get(parameter.key, parameter.default)
            if value is _REQUIRED:
                return None
            values.append(value if parameter.processor is None else parameter.processor(value))
        return tuple(values)


def _forget(cache: weakref.ref[StatementCache], key: int) -> None:
    """A statement was collected: its id may be reused by another object."""
    live = cache()
    if live is not None:
        live._forms.pop(key, None)


@functools.cache
def _is_core_statement(kind: type) -> bool:
    return issubclass(kind, sa.Select | sa.CompoundSelect | sa.Insert | sa.Update | sa.Delete)


def _compile(statement: Any, names: frozenset[str], dialect: sa.Dialect) -> _Compiled | None:
    """What SQLAlchemy's execution would do with this statement and these parameter names (it
    compiles with the same `column_keys`), or None where it would do more than this module does."""
    compiled: Any = statement.compile(dialect=dialect, column_keys=sorted(names))
    if (
        compiled.positiontup is None
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.literal_execute_params
        or compiled.post_compile_params
    ):
        return None
    parameters = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        if bind.callable is not None:
            return None
        default = _REQUIRED if bind.required else bind.value
        parameters.append(_Parameter(bind.key, default, compiled._bind_processors.get(name)))
    keys = [column[0] for column in compiled._result_columns]
    if len(set(keys)) != len(keys):
        return None
    processors = tuple(
        column[3]._cached_result_processor(dialect, None) for column in compiled._result_columns
    )
    return _Compiled(
        sql=compiled.string,
        parameters=tuple(parameters),
        columns=SimpleResultMetaData(keys) if keys else None,
        column_processors=processors,
        converts_columns=any(p is not None for p in processors),
        inserts_each_row=isinstance(statement, sa.Insert) and "ON CONFLICT" not in compiled.string,
    )
