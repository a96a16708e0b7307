"""Statements that run again and again on SQLite, compiled once and run straight on the driver.

SQLAlchemy's own execution does a lot per statement beyond SQLite's work: it looks up the compiled
form by cache key, builds an execution context, converts every parameter and every result value
through a chain of calls, and wraps the cursor in a result. Profiled under load that was about 40% of
a write's CPU (BENCHMARKS.md, section 1), several times the cost of running the SQL.

So a Core statement this process runs a second time (the statements built once at import, on every
request path) is compiled here with SQLAlchemy, once per set of parameter names, and what SQLAlchemy
would do with it is kept: the SQL, the order of its parameters, and SQLAlchemy's own converters for
each parameter and each result column. Later runs only convert the values, call sqlite3, and hand
back a SQLAlchemy `Result` (with `rowcount`) over the converted rows, so callers see no difference.

Anything this does not reproduce exactly goes to SQLAlchemy as before: textual SQL, execution
options, statements whose values SQLAlchemy computes when they run (Python-side column defaults,
expanding IN lists), results with two columns of one name, and statements built anew for each run
(the first run of any statement object goes through SQLAlchemy, and a statement built per call is
never run twice). Driver errors are raised as SQLAlchemy's, with parameters hidden, as the engine's
`hide_parameters` does.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData

Processor = Callable[[Any], Any] | None
_SEEN_ONCE = None  # the cache's mark for a statement run once, through SQLAlchemy


_REQUIRED = object()  # a parameter the caller must give


@dataclass(frozen=True, slots=True)
class _Parameter:
    key: str  # the caller's name for it
    default: Any  # the statement's own value (a literal), or _REQUIRED
    processor: Processor  # SQLAlchemy's converter for this dialect


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    parameters: tuple[_Parameter, ...]  # in the order of the SQL's ? marks
    columns: SimpleResultMetaData | None  # of the result rows; None for statements without rows
    column_processors: tuple[Processor, ...]


class StatementCache:
    """The compiled forms of one engine's repeated statements (one cache per `Database`)."""

    def __init__(self, dialect: sa.Dialect):
        self.dialect = dialect
        # statement -> {parameter names -> compiled form, or None when it must go to SQLAlchemy}
        self._forms: weakref.WeakKeyDictionary[Any, dict[frozenset[str], _Compiled | None] | None] = (
            weakref.WeakKeyDictionary()
        )

    def run(self, connection: sa.Connection, statement: Any, parameters: Any) -> sa.CursorResult[Any] | None:
        """Run the statement on the driver, or None when SQLAlchemy should run it."""
        if parameters is None:
            parameters = {}
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
        cursor = connection.connection.driver_connection.cursor()
        try:
            if many:
                cursor.executemany(form.sql, values)
                rows: list[Any] = []
            else:
                cursor.execute(form.sql, values[0])
                rows = cursor.fetchall() if form.columns is not None else []
        except sqlite3.Error as error:
            raise sa.exc.DBAPIError.instance(
                form.sql, None, error, sqlite3.Error, hide_parameters=True, dialect=self.dialect
            ) from error
        rowcount = cursor.rowcount
        cursor.close()
        return _result(form, rows, rowcount)

    def _form(self, statement: Any, names: frozenset[str]) -> _Compiled | None:
        if not isinstance(statement, sa.Select | sa.Insert | sa.Update | sa.Delete):
            return None
        try:
            forms = self._forms[statement]
        except KeyError:
            self._forms[statement] = _SEEN_ONCE
            return None
        except TypeError:  # not weakly referenceable
            return None
        if forms is None:
            forms = self._forms[statement] = {}
        if names not in forms:
            forms[names] = _compile(statement, names, self.dialect)
        return forms[names]

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
    return _Compiled(
        sql=compiled.string,
        parameters=tuple(parameters),
        columns=SimpleResultMetaData(keys) if keys else None,
        column_processors=tuple(
            column[3]._cached_result_processor(dialect, None) for column in compiled._result_columns
        ),
    )


def _result(form: _Compiled, rows: list[Any], rowcount: int) -> Any:
    processors = form.column_processors
    if any(p is not None for p in processors):
        rows = [
            tuple(
                value if processor is None else processor(value)
                for value, processor in zip(row, processors, strict=True)
            )
            for row in rows
        ]
    result = IteratorResult(form.columns or _NO_COLUMNS, iter(rows))
    result.rowcount = rowcount  # type: ignore[attr-defined]
    result.returns_rows = form.columns is not None  # type: ignore[attr-defined]
    return result


_NO_COLUMNS = SimpleResultMetaData([])
