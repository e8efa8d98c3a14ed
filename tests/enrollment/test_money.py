from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrollment.money import split_by_shares, to_fen


def test_half_up_to_the_fen():
    assert to_fen(Decimal("6689.375")) == Decimal("6689.38")
    assert to_fen(Decimal("0.005")) == Decimal("0.01")
    assert to_fen(Decimal("0.004")) == Decimal("0.00")


def test_float_is_refused():
    with pytest.raises(TypeError):
        to_fen(0.1)


def test_qiannan_class_two_split():
    assert split_by_shares(Decimal("100"), [Decimal(5), Decimal(2), Decimal(3)]) == [
        Decimal("50.00"), Decimal("20.00"), Decimal("30.00")]


def test_uneven_split_still_adds_up():
    parts = split_by_shares(Decimal("100.01"), [Decimal(5), Decimal(2), Decimal(3)])
    assert parts == [Decimal("50.01"), Decimal("20.00"), Decimal("30.00")]
    assert sum(parts) == Decimal("100.01")


@given(
    st.decimals(min_value=0, max_value=10**9, places=2),
    st.lists(st.integers(0, 100), min_size=1, max_size=5).filter(lambda s: sum(s) > 0),
)
def test_split_always_adds_up_and_stays_non_negative(amount, shares):
    parts = split_by_shares(amount, [Decimal(s) for s in shares])
    assert sum(parts) == amount
    assert all(p >= 0 for p in parts)
    assert all(p == 0 for p, s in zip(parts, shares, strict=True) if s == 0)
