"""Contribution subsidy rules, 就高 and cost sharing (enrollment.rules.subsidy). Pure: no database."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrollment.rules.subsidy import (
    FullBase,
    GovernmentShares,
    Kind,
    SubsidyCandidate,
    SubsidyRuleValue,
    best_subsidy,
    rules_for_plan_year,
    split_subsidy,
    subsidy_amount,
    subsidy_candidates,
)

D = Decimal
TIER1 = D("320.00")
TIER2 = D("595.00")


def rule(category="dibao", kind=Kind.PERCENT, value=None, *, sort_order=4, plan_year=None, **extra):
    return SubsidyRuleValue(category=category, kind=kind, value=None if value is None else D(value),
                            sort_order=sort_order, plan_year=plan_year, **extra)


@pytest.mark.parametrize(
    ("the_rule", "owed", "full_base", "higher_tier", "expected"),
    [
        # full: the person's own tier, or the tier-1 contribution where the policy says so
        (rule("tekun", Kind.FULL), TIER1, FullBase.OWN, False, "320.00"),
        (rule("tekun", Kind.FULL), TIER2, FullBase.OWN, True, "595.00"),
        (rule("tekun", Kind.FULL), TIER2, FullBase.TIER1, True, "320.00"),
        # percent: always of the tier-1 contribution
        (rule("dibao", Kind.PERCENT, "90"), TIER1, FullBase.OWN, False, "288.00"),
        (rule("dibao_edge", Kind.PERCENT, "70"), TIER1, FullBase.OWN, False, "224.00"),
        (rule("dibao", Kind.PERCENT, "90"), TIER2, FullBase.OWN, True, "288.00"),
        # Chongqing, tier 2: every share-of-contribution rule pays 100 % of tier 1 (渝乡振发〔2022〕15号 Q1)
        (rule("dibao", Kind.PERCENT, "90"), TIER2, FullBase.TIER1, True, "320.00"),
        (rule("dibao_edge", Kind.PERCENT, "70"), TIER2, FullBase.TIER1, True, "320.00"),
        (rule("dibao", Kind.PERCENT, "90"), TIER1, FullBase.TIER1, False, "288.00"),
        # fixed amounts stay fixed in either tier, and never above what is owed
        (rule("stable_lifted", Kind.FIXED, "100"), TIER2, FullBase.TIER1, True, "100.00"),
        (rule("registered_poor", Kind.FIXED, "100"), TIER1, FullBase.OWN, False, "100.00"),
        (rule("tekun", Kind.FIXED, "400"), TIER1, FullBase.OWN, False, "320.00"),
        (rule("tekun", Kind.FIXED, "0"), TIER1, FullBase.OWN, False, "0.00"),
        # none
        (rule("stable_lifted", Kind.NONE), TIER1, FullBase.OWN, False, "0.00"),
        # owing nothing (e.g. the employee scheme): nothing to subsidise
        (rule("tekun", Kind.FULL), D("0"), FullBase.OWN, False, "0.00"),
        (rule("dibao", Kind.PERCENT, "90"), D("0"), FullBase.TIER1, False, "0.00"),
    ],
)
def test_subsidy_amount(the_rule, owed, full_base, higher_tier, expected):
    assert subsidy_amount(the_rule, owed=owed, tier1_contribution=TIER1, full_base=full_base,
                          higher_tier=higher_tier) == D(expected)


def test_percent_rounds_half_up_to_the_fen():
    assert subsidy_amount(rule(value="70"), owed=D("250.35"), tier1_contribution=D("250.35")) == D("175.25")
    assert subsidy_amount(rule(value="90"), owed=D("250.35"), tier1_contribution=D("250.35")) == D("225.32")


def test_percent_needs_the_tier1_contribution():
    with pytest.raises(ValueError):
        subsidy_amount(rule(value="90"), owed=TIER1, tier1_contribution=None)
    # a fixed rule does not
    assert subsidy_amount(rule(kind=Kind.FIXED, value="50"), owed=TIER1, tier1_contribution=None) == D("50.00")


def test_money_must_be_decimal():
    with pytest.raises(TypeError):
        subsidy_amount(rule(value="90"), owed=320.0, tier1_contribution=TIER1)
    with pytest.raises(ValueError):
        subsidy_amount(rule(value="90"), owed=D("-1"), tier1_contribution=TIER1)


@pytest.mark.parametrize(
    ("kind", "value"),
    [(Kind.PERCENT, None), (Kind.PERCENT, D("100.01")), (Kind.FIXED, None), (Kind.FIXED, D("-1")), ("half", None)],
)
def test_malformed_rules_are_refused(kind, value):
    with pytest.raises(ValueError):
        SubsidyRuleValue(category="dibao", kind=kind, value=value)


def test_a_rule_for_the_year_beats_an_every_year_rule():
    every_year = rule("stable_lifted", Kind.FIXED, "100")
    in_2023 = rule("stable_lifted", Kind.FIXED, "50", plan_year=2023)
    in_2024 = rule("stable_lifted", Kind.NONE, plan_year=2024)
    dibao = rule("dibao", Kind.PERCENT, "90")
    for order in ([every_year, in_2023, in_2024, dibao], [in_2024, in_2023, dibao, every_year]):
        assert rules_for_plan_year(order, 2022) == {"stable_lifted": every_year, "dibao": dibao}
        assert rules_for_plan_year(order, 2023) == {"stable_lifted": in_2023, "dibao": dibao}
        assert rules_for_plan_year(order, 2024) == {"stable_lifted": in_2024, "dibao": dibao}


class TestMostFavourable:
    """就高: one rule, the one paying the most; never the sum."""

    def test_dibao_and_stable_lifted(self):
        candidates = subsidy_candidates(
            [rule("stable_lifted", Kind.FIXED, "100", sort_order=11), rule("dibao", Kind.PERCENT, "90", sort_order=4)],
            owed=TIER1, tier1_contribution=TIER1)
        best = best_subsidy(candidates)
        assert best.rule.category == "dibao"
        assert best.amount == D("288.00")

    def test_tie_goes_to_the_lower_sort_order_whatever_the_input_order(self):
        tekun = rule("tekun", Kind.FULL, sort_order=1, funding_source="medical_assistance")
        orphan = rule("orphan", Kind.FULL, sort_order=2, funding_source="fiscal")
        for rules in ([tekun, orphan], [orphan, tekun]):
            best = best_subsidy(subsidy_candidates(rules, owed=TIER1, tier1_contribution=TIER1))
            assert best.rule is tekun

    def test_nothing_paying_gives_none(self):
        assert best_subsidy([]) is None
        assert best_subsidy(subsidy_candidates(
            [rule("stable_lifted", Kind.NONE)], owed=TIER1, tier1_contribution=TIER1)) is None


class TestCostSharing:
    """Qiannan: class 1 province 100 %, class 2 5:2:3, class 3 county 100 %; shares add up to the subsidy."""

    @pytest.mark.parametrize(
        ("shares", "expected"),
        [
            (("1", "0", "0"), ("100.00", "0.00", "0.00")),
            (("5", "2", "3"), ("50.00", "20.00", "30.00")),
            (("0.5", "0.2", "0.3"), ("50.00", "20.00", "30.00")),
            (("0", "0", "1"), ("0.00", "0.00", "100.00")),
        ],
    )
    def test_hundred_yuan(self, shares, expected):
        province, prefecture, county = (D(s) for s in shares)
        result = split_subsidy(D("100"), province_share=province, prefecture_share=prefecture, county_share=county)
        assert result == GovernmentShares(*(D(e) for e in expected))

    def test_uneven_amount_adds_up(self):
        result = split_subsidy(D("33.33"), province_share=D(5), prefecture_share=D(2), county_share=D(3))
        assert result.total == D("33.33")
        # largest remainders: 1666.5 / 666.6 / 999.9 fen → the two fen left go to county and prefecture
        assert result == GovernmentShares(D("16.66"), D("6.67"), D("10.00"))


money = st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False)
rules_strategy = st.one_of(
    st.builds(lambda: rule(kind=Kind.FULL)),
    st.builds(lambda: rule(kind=Kind.NONE)),
    st.decimals(min_value=0, max_value=100, places=2).map(lambda v: rule(kind=Kind.PERCENT, value=str(v))),
    money.map(lambda v: rule(kind=Kind.FIXED, value=str(v))),
)


@given(rules_strategy, money, money, st.sampled_from(list(FullBase)), st.booleans())
def test_subsidy_never_exceeds_what_is_owed(the_rule, owed, tier1, full_base, higher_tier):
    amount = subsidy_amount(the_rule, owed=owed, tier1_contribution=tier1, full_base=full_base,
                            higher_tier=higher_tier)
    assert D(0) <= amount <= owed
    assert amount == amount.quantize(D("0.01"))


@given(st.lists(rules_strategy, max_size=6), money, money)
def test_best_is_the_single_largest_never_the_sum(rules, owed, tier1):
    candidates = subsidy_candidates(rules, owed=owed, tier1_contribution=tier1, full_base=FullBase.OWN)
    best = best_subsidy(candidates)
    paying = [c.amount for c in candidates if c.amount > 0]
    if not paying:
        assert best is None
    else:
        assert best.amount == max(paying) <= owed
        assert isinstance(best, SubsidyCandidate)


@given(money, st.tuples(st.integers(0, 10), st.integers(0, 10), st.integers(0, 10)).filter(lambda s: sum(s) > 0))
def test_cost_shares_always_add_up(amount, shares):
    result = split_subsidy(amount, province_share=D(shares[0]), prefecture_share=D(shares[1]),
                           county_share=D(shares[2]))
    assert result.total == amount
    assert min(result.province, result.prefecture, result.county) >= 0
