"""Receipt keys and the wrong-key throttle, on their own."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.catalog import CatalogError, parse_catalog
from workflows import receipts

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_keys_are_five_groups_of_four_unambiguous_symbols():
    keys = {receipts.new_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        groups = key.split("-")
        assert [len(g) for g in groups] == [4] * 5
        assert set("".join(groups)) <= set(receipts.ALPHABET)
    assert len(receipts.ALPHABET) == 32 and not set("ILOU") & set(receipts.ALPHABET)  # 20 x 5 = 100 bits


@given(st.text())
def test_normalising_any_text_never_fails(text):
    symbols = receipts.normalise(text)
    assert symbols is None or (len(symbols) == 20 and set(symbols) <= set(receipts.ALPHABET))


def test_normalising_forgives_case_spacing_and_lookalikes():
    assert receipts.normalise("7kqf m2xd-9pha z3wr-b6tn") == "7KQFM2XD9PHAZ3WRB6TN"
    assert receipts.normalise("OIL0-0000-0000-0000-0000") == "01100000000000000000"
    assert receipts.normalise("7KQF-M2XD-9PHA-Z3WR") is None
    assert receipts.normalise("UUUU-UUUU-UUUU-UUUU-UUUU") is None


def test_throttle_counts_wrong_keys_per_person_in_a_sliding_window():
    throttle = receipts.WrongKeyThrottle(limit=5, window=timedelta(minutes=15))
    for minute in range(5):
        assert throttle.retry_at("U0EMP01", NOW + timedelta(minutes=minute)) is None
        throttle.record_failure("U0EMP01", NOW + timedelta(minutes=minute))
    assert throttle.retry_at("U0EMP01", NOW + timedelta(minutes=5)) == NOW + timedelta(minutes=15)
    assert throttle.retry_at("U0EMP02", NOW + timedelta(minutes=5)) is None
    assert throttle.retry_at("U0EMP01", NOW + timedelta(minutes=15)) is None  # the oldest has aged out
    # Who tried is kept only as an HMAC under a key of this process.
    assert "U0EMP01" not in repr(throttle.__dict__)
    other = receipts.WrongKeyThrottle()
    assert other._token("U0EMP01") != throttle._token("U0EMP01")


def test_catalog_investigators_must_be_users_or_groups():
    parse_catalog({"investigators": ["S0SECTEAM", "U0ADMIN01"]})
    with pytest.raises(CatalogError) as error:
        parse_catalog({"investigators": ["security-team"]})
    assert "investigators" in error.value.problems[0]
