"""The pure 60 % test (assistance.rules): every edge of SPEC §5.1, table-driven, plus properties."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistance.rules import (
    FAILS,
    MISSING_ASSETS,
    MISSING_INCOME,
    MISSING_POLICY,
    NOTE_ASSETS_AT_CAP,
    NOTE_ZERO_INCOME,
    PASSES,
    UNDECIDED,
    eligible_cost,
    household_test,
    identity_valid_to,
    look_back_period,
)

D = Decimal
SHARE = D("0.60")
CAP = D("200000.00")


@pytest.mark.parametrize(("cost", "income", "assets", "outcome"), [
    # income 50 000 → threshold 30 000.00: equality passes (达到或超过), one fen below fails.
    ("30000.00", "50000.00", "0.00", PASSES),
    ("29999.99", "50000.00", "0.00", FAILS),
    ("30000.01", "50000.00", "0.00", PASSES),
    # Assets must be *below* the cap: at the cap fails, one fen below passes.
    ("30000.00", "50000.00", "200000.00", FAILS),
    ("30000.00", "50000.00", "199999.99", PASSES),
    # A threshold that needs rounding: 33 333.33 × 60 % = 19 999.998 → 20 000.00.
    ("20000.00", "33333.33", "0.00", PASSES),
    ("19999.99", "33333.33", "0.00", FAILS),
])
def test_threshold_and_cap_edges(cost, income, assets, outcome):
    result = household_test(eligible_cost=D(cost), annual_income=D(income), income_share=SHARE, assets=D(assets),
                            asset_cap=CAP)
    assert result.outcome == outcome
    assert result.threshold == (D(income) * SHARE).quantize(D("0.01"), rounding="ROUND_HALF_UP")


def test_figures_are_all_reported():
    result = household_test(eligible_cost=D("36000.00"), annual_income=D("50000.00"), income_share=SHARE,
                            assets=D("1000.00"), asset_cap=CAP)
    assert result.passes and result.threshold == D("30000.00") and result.share_of_income == D("0.7200")
    assert (result.assets, result.asset_cap, result.missing, result.notes) == (D("1000.00"), CAP, (), ())


def test_zero_income_passes_with_any_cost_and_says_so():
    result = household_test(eligible_cost=D("0.01"), annual_income=D("0"), income_share=SHARE, assets=D("0"),
                            asset_cap=CAP)
    assert result.outcome == PASSES and NOTE_ZERO_INCOME in result.notes
    assert result.threshold == D("0.00") and result.share_of_income is None


def test_zero_income_without_any_cost_fails():
    result = household_test(eligible_cost=D("0"), annual_income=D("0"), income_share=SHARE, assets=D("0"),
                            asset_cap=CAP)
    assert result.outcome == FAILS and NOTE_ZERO_INCOME in result.notes


def test_unknown_income_cannot_be_decided_and_says_what_is_missing():
    result = household_test(eligible_cost=D("90000"), annual_income=None, income_share=SHARE, assets=D("0"),
                            asset_cap=CAP)
    assert (result.outcome, result.missing, result.threshold, result.share_of_income) == (
        UNDECIDED, (MISSING_INCOME,), None, None)


def test_unknown_income_still_fails_on_assets():
    result = household_test(eligible_cost=D("90000"), annual_income=None, income_share=SHARE, assets=CAP,
                            asset_cap=CAP)
    assert result.outcome == FAILS and NOTE_ASSETS_AT_CAP in result.notes and result.missing == (MISSING_INCOME,)


def test_unknown_assets_under_a_cap_cannot_be_decided_unless_cost_fails():
    undecided = household_test(eligible_cost=D("30000"), annual_income=D("50000"), income_share=SHARE, assets=None,
                               asset_cap=CAP)
    assert undecided.outcome == UNDECIDED and undecided.missing == (MISSING_ASSETS,)
    failing = household_test(eligible_cost=D("10"), annual_income=D("50000"), income_share=SHARE, assets=None,
                             asset_cap=CAP)
    assert failing.outcome == FAILS


def test_no_cap_means_assets_are_not_tested():
    result = household_test(eligible_cost=D("30000"), annual_income=D("50000"), income_share=SHARE, assets=None,
                            asset_cap=None)
    assert result.outcome == PASSES and result.missing == ()


def test_no_assistance_settings_cannot_be_decided():
    result = household_test(eligible_cost=D("30000"), annual_income=D("50000"), income_share=None, assets=D("0"),
                            asset_cap=None)
    assert result.outcome == UNDECIDED and result.missing == (MISSING_POLICY,)


@pytest.mark.parametrize(("claims", "outside", "aid", "expected"), [
    ("10000.00", "5000.00", "0.00", "15000.00"),   # outside items enter the sum
    ("10000.00", "5000.00", "3000.00", "12000.00"),  # special aid paid lowers it
    ("1000.00", "0.00", "3000.00", "0.00"),  # never below zero
])
def test_eligible_cost_adds_outside_items_and_subtracts_special_aid(claims, outside, aid, expected):
    assert eligible_cost(claims_cost=D(claims), outside_cost=D(outside), special_aid_paid=D(aid)) == D(expected)


@pytest.mark.parametrize(("on", "look_back", "months", "period"), [
    (dt.date(2024, 6, 15), "months", 12, (dt.date(2023, 6, 16), dt.date(2024, 6, 15))),
    (dt.date(2024, 3, 31), "months", 1, (dt.date(2024, 3, 1), dt.date(2024, 3, 31))),  # Feb has no 31st
    (dt.date(2025, 2, 28), "months", 12, (dt.date(2024, 2, 29), dt.date(2025, 2, 28))),
    (dt.date(2024, 6, 15), "calendar_year", 12, (dt.date(2024, 1, 1), dt.date(2024, 6, 15))),
])
def test_look_back_period(on, look_back, months, period):
    assert look_back_period(on, look_back=look_back, months=months) == period


money = st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False, allow_infinity=False)


@given(cost=money, income=st.one_of(st.none(), money), assets=st.one_of(st.none(), money))
def test_never_raises_and_passes_only_when_every_leg_holds(cost, income, assets):
    result = household_test(eligible_cost=cost, annual_income=income, income_share=SHARE, assets=assets,
                            asset_cap=CAP)
    if result.outcome == PASSES:
        assert income is not None and assets is not None and assets < CAP
        assert cost >= result.threshold and (income > 0 or cost > 0)
    if income is None or assets is None:
        assert result.outcome != PASSES


@pytest.mark.parametrize(("granted", "months", "last_day"), [
    (dt.date(2024, 6, 15), 12, dt.date(2025, 6, 14)),
    (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 28)),  # to 29 February, the day before "31 February"
    (dt.date(2024, 2, 29), 12, dt.date(2025, 2, 27)),
])
def test_identity_valid_to(granted, months, last_day):
    assert identity_valid_to(granted, months) == last_day
