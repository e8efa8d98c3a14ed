"""Contribution subsidy (资助参保) — SPEC §2 就高原则, §3.3 and §3.4, as pure functions.

Per plan year and identity category a policy has one rule:

- ``full``: 100 % of the individual contribution. Its base is the person's own scheme tier, or — where the policy's
  `full_subsidy_base` is ``tier1`` — the tier-1 (一档) contribution whatever tier the person chose;
- ``percent``: a percentage of the tier-1 individual contribution (Chongqing: dibao 90 %, others 70 %);
- ``fixed``: an amount in yuan (Qiannan registered_poor 100; Jin'an 320/288/256/160);
- ``none``: nothing (Guangdong and Chongqing 2024 stable_lifted).

A policy with `full_subsidy_base = tier1` describes Chongqing's rule for people in the higher tier (渝乡振发〔2022〕15号
Q1): "对于自愿参加城乡居民医保二档的，统一按照参加城乡居民医保一档个人缴费标准的100%给予资助" — *every* category
with a share-of-contribution rule (full or percent) then gets 100 % of the tier-1 contribution; fixed amounts stay
fixed (the stable-lifted phase-out is 100/50 yuan in either tier).

The subsidy never exceeds what the person owes (`owed`, the individual contribution of their scheme tier;
Qiannan: "参保资助金额不得超过个人缴费总额"), is never negative and is rounded half-up to the fen.

就高 (most favourable, never the sum): a person with several identities gets the single rule paying the most;
equal amounts are broken by the category's sort order, then its code, so the choice (and with it the funding
source) is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from enrollment.money import ZERO, split_by_shares, to_fen

__all__ = [
    "FullBase",
    "GovernmentShares",
    "Kind",
    "SubsidyCandidate",
    "SubsidyRuleValue",
    "best_subsidy",
    "rules_for_plan_year",
    "split_subsidy",
    "subsidy_amount",
    "subsidy_candidates",
]

HUNDRED = Decimal(100)


class Kind(StrEnum):
    """Mirrors `enrollment.models.policy.SubsidyKind` (the stored values)."""

    FULL = "full"
    PERCENT = "percent"
    FIXED = "fixed"
    NONE = "none"


class FullBase(StrEnum):
    """Mirrors `enrollment.models.policy.FullSubsidyBase`."""

    OWN = "own"
    TIER1 = "tier1"


@dataclass(frozen=True)
class SubsidyRuleValue:
    """A subsidy rule as plain values (the caller copies it out of a `SubsidyRule` row)."""

    category: str  # identity category code
    kind: str
    value: Decimal | None = None  # percent (0–100) or yuan
    funding_source: str = ""
    cost_shared: bool = False
    sort_order: int = 0  # the category's sort order, for ties
    plan_year: int | None = None  # None: every plan year of the policy version
    rule_id: int | None = None

    def __post_init__(self):
        if self.kind not in set(Kind):
            raise ValueError(f"unknown subsidy kind {self.kind!r}")
        if self.kind in (Kind.PERCENT, Kind.FIXED):
            if self.value is None or self.value < 0:
                raise ValueError(f"a {self.kind} rule needs a non-negative value")
            if self.kind == Kind.PERCENT and self.value > HUNDRED:
                raise ValueError("a percentage cannot exceed 100")


@dataclass(frozen=True)
class SubsidyCandidate:
    rule: SubsidyRuleValue
    amount: Decimal


@dataclass(frozen=True)
class GovernmentShares:
    province: Decimal
    prefecture: Decimal
    county: Decimal

    @property
    def total(self) -> Decimal:
        return self.province + self.prefecture + self.county


def _check_money(name: str, value) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"{name} must be a finite Decimal, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


def subsidy_amount(
    rule: SubsidyRuleValue,
    *,
    owed: Decimal,
    tier1_contribution: Decimal | None,
    full_base: str = FullBase.OWN,
    higher_tier: bool = False,
) -> Decimal:
    """The subsidy one rule gives a person who owes `owed` (their scheme tier's individual contribution).

    `tier1_contribution` is the tier-1 individual contribution of the plan year (the base of percent rules, and of
    full rules when `full_base` is ``tier1``); `higher_tier` says the person chose a tier above tier 1.
    """
    _check_money("owed", owed)
    if tier1_contribution is not None:
        _check_money("tier1_contribution", tier1_contribution)
    if full_base not in set(FullBase):
        raise ValueError(f"unknown full-subsidy base {full_base!r}")

    def tier1() -> Decimal:
        if tier1_contribution is None:
            raise ValueError(f"a {rule.kind} rule needs the tier-1 contribution")
        return tier1_contribution

    kind = rule.kind
    if kind in (Kind.FULL, Kind.PERCENT) and full_base == FullBase.TIER1 and higher_tier:
        raw = tier1()
    elif kind == Kind.FULL:
        raw = tier1() if full_base == FullBase.TIER1 else owed
    elif kind == Kind.PERCENT:
        raw = tier1() * rule.value / HUNDRED
    elif kind == Kind.FIXED:
        raw = rule.value
    else:
        raw = ZERO
    return min(to_fen(raw), to_fen(owed))


def rules_for_plan_year(rules: Iterable[SubsidyRuleValue], plan_year: int) -> dict[str, SubsidyRuleValue]:
    """The rule of each category for `plan_year`: a rule for that very year wins over an every-year rule."""
    chosen: dict[str, SubsidyRuleValue] = {}
    for rule in rules:
        if rule.plan_year is not None and rule.plan_year != plan_year:
            continue
        current = chosen.get(rule.category)
        if current is None or (current.plan_year is None and rule.plan_year is not None):
            chosen[rule.category] = rule
    return chosen


def subsidy_candidates(
    rules: Iterable[SubsidyRuleValue],
    *,
    owed: Decimal,
    tier1_contribution: Decimal | None,
    full_base: str = FullBase.OWN,
    higher_tier: bool = False,
) -> list[SubsidyCandidate]:
    """One candidate per rule (the rules of the categories a person holds)."""
    return [
        SubsidyCandidate(
            rule,
            subsidy_amount(
                rule, owed=owed, tier1_contribution=tier1_contribution, full_base=full_base, higher_tier=higher_tier),
        )
        for rule in rules
    ]


def best_subsidy(candidates: Iterable[SubsidyCandidate]) -> SubsidyCandidate | None:
    """就高: the single candidate paying the most (ties: lowest category sort order, then code); None if none pays."""
    paying = [c for c in candidates if c.amount > 0]
    if not paying:
        return None
    return min(paying, key=lambda c: (-c.amount, c.rule.sort_order, c.rule.category))


def split_subsidy(
    amount: Decimal, *, province_share: Decimal, prefecture_share: Decimal, county_share: Decimal
) -> GovernmentShares:
    """Split a subsidy between province, prefecture and county in the given proportions (Qiannan §二(三)).

    Shares are rounded to the fen and always add up to `amount` (largest remainder, `enrollment.money`).
    """
    province, prefecture, county = split_by_shares(amount, [province_share, prefecture_share, county_share])
    return GovernmentShares(province, prefecture, county)
