"""The apply-to-receive household test (依申请救助, SPEC §5.1; seed 004 二（二）8) as pure code: plain values in,
plain values out, no ORM — so it is table-tested at every edge.

Eligible when, over the look-back period, the household's cumulative eligible out-of-pocket cost (after basic,
critical illness and other supplementary insurance; plus verified costs from outside the system; minus special
aid already paid) **reaches or exceeds** (达到或超过) the income share of the household's annual disposable income,
**and** the household's assets are **below** the cap. Income 0 and unknown figures are explicit outcomes, never a
division error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from enrollment.money import FEN, ZERO, to_fen

PASSES = "passes"
FAILS = "fails"
UNDECIDED = "undecided"

# Why: codes, so that callers (views, warning lists) word them in their own language.
MISSING_INCOME = "income"
MISSING_ASSETS = "assets"
MISSING_POLICY = "policy"
NOTE_ZERO_INCOME = "zero_income"
NOTE_COST_BELOW = "cost_below_threshold"
NOTE_ASSETS_AT_CAP = "assets_at_or_above_cap"

_SHARE_PLACES = Decimal("0.0001")


def _fen(value) -> Decimal:
    """``to_fen`` without its conversions for the Decimals the database returns (the selector calls the test
    for every household of a county)."""
    if type(value) is Decimal:
        return value.quantize(FEN, rounding=ROUND_HALF_UP)
    return to_fen(value)


@dataclass(frozen=True)
class HouseholdTest:
    """The outcome of the test with every figure it used."""

    eligible_cost: Decimal
    annual_income: Decimal | None
    income_share: Decimal | None
    threshold: Decimal | None
    share_of_income: Decimal | None  # eligible cost ÷ income, 4 places; None when income is 0 or unknown
    assets: Decimal | None
    asset_cap: Decimal | None
    outcome: str
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def passes(self) -> bool:
        return self.outcome == PASSES


def eligible_cost(*, claims_cost: Decimal, outside_cost: Decimal, special_aid_paid: Decimal) -> Decimal:
    """What the household still bears: costs from settled claims and verified outside items, less special aid
    already paid (never below zero — aid beyond the costs does not make a household 'owe' burden)."""
    total = _fen(claims_cost + outside_cost - special_aid_paid)
    return total if total > ZERO else ZERO


def household_test(*, eligible_cost: Decimal, annual_income: Decimal | None, income_share: Decimal | None,
                   assets: Decimal | None, asset_cap: Decimal | None) -> HouseholdTest:
    """The 60 % test. ``income_share`` None means the region has no assistance settings (cannot decide).

    ``asset_cap`` None means the policy does not test assets. A test that fails on one leg fails even when the
    other leg's figure is unknown; it passes only when every leg is known and passes.
    """
    cost = _fen(eligible_cost)
    income = None if annual_income is None else _fen(annual_income)
    assets = None if assets is None else _fen(assets)
    missing: list[str] = []
    notes: list[str] = []
    threshold = share = None
    cost_leg: bool | None = None
    if income_share is None:
        missing.append(MISSING_POLICY)
    if annual_income is None:
        missing.append(MISSING_INCOME)
    if income_share is not None and income is not None:
        threshold = _fen(income * income_share)
        if income == 0:
            notes.append(NOTE_ZERO_INCOME)
            cost_leg = cost > 0
        else:
            share = (cost / income).quantize(_SHARE_PLACES, rounding=ROUND_HALF_UP)
            cost_leg = cost >= threshold
        if not cost_leg:
            notes.append(NOTE_COST_BELOW)
    asset_leg: bool | None = True
    if asset_cap is not None:
        if assets is None:
            missing.append(MISSING_ASSETS)
            asset_leg = None
        else:
            asset_leg = assets < asset_cap
            if not asset_leg:
                notes.append(NOTE_ASSETS_AT_CAP)
    if cost_leg is False or asset_leg is False:
        outcome = FAILS
    elif cost_leg and asset_leg:
        outcome = PASSES
    else:
        outcome = UNDECIDED
    return HouseholdTest(
        eligible_cost=cost, annual_income=income, income_share=income_share, threshold=threshold,
        share_of_income=share, assets=assets, asset_cap=asset_cap, outcome=outcome,
        missing=tuple(missing), notes=tuple(notes))


def _minus_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier (negative: later), or that month's last day when it has fewer days."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):  # the same day, or the month's last day when it has fewer
        try:
            return dt.date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def look_back_period(on: dt.date, *, look_back: str, months: int) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of the look-back period ending on ``on``.

    ``months``: the N months before ``on`` — from the day after the same date N months earlier (12 months before
    2024-06-15 is 2023-06-16 … 2024-06-15). ``calendar_year``: 1 January of ``on``'s year … ``on``.
    """
    if look_back == "calendar_year":
        return dt.date(on.year, 1, 1), on
    return _minus_months(on, months) + dt.timedelta(days=1), on


def identity_valid_to(granted_on: dt.date, months: int) -> dt.date:
    """Last day of an identity granted on ``granted_on`` for ``months`` (12 months from 2024-06-15: 2025-06-14)."""
    return _minus_months(granted_on, -months) - dt.timedelta(days=1)
