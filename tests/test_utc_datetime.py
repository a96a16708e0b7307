"""UTCDateTime's fast SQLite form must be exactly the text SQLAlchemy's own SQLite DATETIME writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.types import TypeDecorator

from workflows.tables import UTCDateTime

SQLITE = sa.create_engine("sqlite://").dialect

zones = st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=zones | st.just(UTC)
)


def sqlalchemys_own(value: datetime) -> str:
    """What SQLAlchemy itself would write: TypeDecorator's processor (the decorator's conversion,
    then SQLite DATETIME's formatting)."""
    return TypeDecorator.bind_processor(UTCDateTime().dialect_impl(SQLITE), SQLITE)(value)


@given(aware)
def test_the_sqlite_text_is_sqlalchemys(value: datetime):
    assert UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)(value) == sqlalchemys_own(value)


def test_none_and_naive_times_are_handled_as_before():
    process = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        process(datetime(2026, 11, 29, 12, 0))
