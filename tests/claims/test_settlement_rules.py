"""Tests of the pure three-layer settlement arithmetic (claims.rules.settlement). No Django, no database."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claims.rules.settlement import (
    AssistanceRule,
    BasicLayerRule,
    ClaimInput,
    CriticalIllnessRule,
    SettlementResult,
    TiltScope,
    YearToDate,
    best_assistance_rule,
    best_basic_rule,
    best_critical_rule,
    best_of,
    round_fen,
    settle,
    settle_best,
    tilt_withheld,
)

D = Decimal
NOTHING_PAID = YearToDate()

# SPEC §4.2 worked example (illustrative policy): inpatient, county hospital, referred, category dibao.
EXAMPLE_BASIC = BasicLayerRule(deductible=D("500.00"), ratio=D("0.75"), annual_cap=D("250000.00"))
EXAMPLE_CRITICAL_GENERAL = CriticalIllnessRule(
    deductible=D("15000.00"),
    segments=((D("100000.00"), D("0.60")), (None, D("0.70"))),
    annual_cap=D("400000.00"),
)
EXAMPLE_CRITICAL_DIBAO = CriticalIllnessRule(
    deductible=D("15000.00"),
    segments=((D("100000.00"), D("0.60")), (None, D("0.70"))),
    annual_cap=D("400000.00"),
    deductible_reduction=D("0.5"),
    ratio_plus_pp=D("0.05"),
    cap_removed=True,
    label="低保倾斜",
)
EXAMPLE_ASSISTANCE = AssistanceRule(ratio=D("0.70"), annual_limit=D("30000.00"))
EXAMPLE_CLAIM = ClaimInput(total_cost=D("60000.00"), policy_scope_cost=D("52000.00"), is_poverty_target=True)


def applied_critical(rule: CriticalIllnessRule, claim: ClaimInput) -> CriticalIllnessRule:
    """The rule the engine works the claim out with: the tilt, or the general rule when the tilt is withheld."""
    return rule if tilt_withheld(rule, claim) is None else rule.untilted()


def settle_only(claim, *, basic=None, critical=None, assistance=None, limit=None, ytd=NOTHING_PAID):
    return settle(claim, basic=basic, critical=critical, assistance=assistance, out_of_catalog_limit=limit, ytd=ytd)


def scope_claim(amount: str) -> ClaimInput:
    """A claim that is all policy scope, for layer-by-layer tables."""
    return ClaimInput(total_cost=D(amount), policy_scope_cost=D(amount))


def assert_balanced(result: SettlementResult) -> None:
    parts = [result.basic, result.critical, result.assistance, result.hospital_borne, result.patient_pays]
    assert sum(parts) == result.total_cost
    assert all(part >= 0 for part in parts)


# ---------------------------------------------------------------------------------------------------------------
# SPEC worked example
# ---------------------------------------------------------------------------------------------------------------


def test_spec_worked_example_amounts():
    result = settle(
        EXAMPLE_CLAIM,
        basic=EXAMPLE_BASIC,
        critical=EXAMPLE_CRITICAL_DIBAO,
        assistance=EXAMPLE_ASSISTANCE,
        out_of_catalog_limit=D("0.10"),
        ytd=NOTHING_PAID,
    )
    assert result.basic == D("38625.00")
    assert result.critical == D("3818.75")
    assert result.assistance == D("6689.38")
    assert result.hospital_borne == D("2000.00")
    assert result.hospital_borne_out_of_catalog == D("2000.00")
    assert result.hospital_borne_quota == D("0.00")
    assert result.patient_pays == D("8866.87")
    assert result.critical_base_contribution == D("13375.00")
    assert result.assistance_deductible_consumed == D("0.00")
    assert_balanced(result)


def test_spec_worked_example_slip_steps():
    result = settle(
        EXAMPLE_CLAIM,
        basic=EXAMPLE_BASIC,
        critical=EXAMPLE_CRITICAL_DIBAO,
        assistance=EXAMPLE_ASSISTANCE,
        out_of_catalog_limit=D("0.10"),
        ytd=NOTHING_PAID,
    )
    assert result.steps == (
        ("目录外费用控制", "8000.00 − 10% × 60000.00 = 2000.00 由医院承担"),
        ("基本医保", "(52000.00 − 500.00) × 75% = 38625.00"),
        ("大病保险", "[低保倾斜] (13375.00 − 7500.00) × 65% = 3818.75"),
        ("医疗救助", "(13375.00 − 3818.75) × 70% = 6689.375 → 6689.38"),
        ("个人自付", "60000.00 − 38625.00 − 3818.75 − 6689.38 − 2000.00 = 8866.87"),
    )


def test_spec_worked_example_through_best_of_picks_dibao_tilt():
    result = settle_best(
        EXAMPLE_CLAIM,
        basic_options=[EXAMPLE_BASIC],
        critical_options=[EXAMPLE_CRITICAL_GENERAL, EXAMPLE_CRITICAL_DIBAO],
        assistance_options=[EXAMPLE_ASSISTANCE],
        out_of_catalog_limit=D("0.10"),
        ytd=NOTHING_PAID,
    )
    assert (result.basic, result.critical, result.assistance, result.patient_pays) == (
        D("38625.00"),
        D("3818.75"),
        D("6689.38"),
        D("8866.87"),
    )


def test_effective_critical_rule_applies_tilt():
    effective = EXAMPLE_CRITICAL_DIBAO.effective()
    assert effective.deductible == D("7500.00")
    assert effective.segments == ((D("100000.00"), D("0.65")), (None, D("0.75")))
    assert effective.annual_cap is None


# ---------------------------------------------------------------------------------------------------------------
# Basic layer (基本医保)
# ---------------------------------------------------------------------------------------------------------------

TILTED_BASIC = BasicLayerRule(
    deductible=D("500.00"),
    ratio=D("0.75"),
    annual_cap=D("250000.00"),
    unreferred_ratio=D("0.60"),
    deductible_delta=D("-250.00"),
    ratio_delta_pp=D("0.05"),
)


@pytest.mark.parametrize(
    ("rule", "scope", "referred", "basic_paid", "expected"),
    [
        pytest.param(EXAMPLE_BASIC, "300.00", True, "0", "0.00", id="deductible-larger-than-scope"),
        pytest.param(EXAMPLE_BASIC, "500.00", True, "0", "0.00", id="scope-equals-deductible"),
        pytest.param(EXAMPLE_BASIC, "10500.00", True, "249000.00", "1000.00", id="annual-cap-partially-used"),
        pytest.param(EXAMPLE_BASIC, "10500.00", True, "250000.00", "0.00", id="annual-cap-used-up"),
        pytest.param(EXAMPLE_BASIC, "10500.00", True, "240000.00", "7500.00", id="annual-cap-not-reached"),
        pytest.param(TILTED_BASIC, "10000.00", True, "0", "7800.00", id="referred-gets-tilt"),
        pytest.param(TILTED_BASIC, "10000.00", False, "0", "5700.00", id="unreferred-loses-tilt-lower-ratio"),
        pytest.param(
            BasicLayerRule(
                deductible=D("500.00"),
                ratio=D("0.75"),
                annual_cap=D("250000.00"),
                deductible_delta=D("-250.00"),
                ratio_delta_pp=D("0.05"),
            ),
            "10000.00",
            False,
            "0",
            "7125.00",
            id="unreferred-no-unreferred-ratio-keeps-base-ratio",
        ),
    ],
)
def test_basic_layer(rule, scope, referred, basic_paid, expected):
    claim = ClaimInput(total_cost=D(scope), policy_scope_cost=D(scope), properly_referred=referred)
    result = settle_only(claim, basic=rule, ytd=YearToDate(basic_paid=D(basic_paid)))
    assert result.basic == D(expected)
    assert result.critical_base_contribution == D(scope) - D(expected)
    assert_balanced(result)


def test_basic_tilt_never_makes_deductible_negative_or_ratio_above_one():
    rule = BasicLayerRule(
        deductible=D("100.00"),
        ratio=D("0.90"),
        annual_cap=D("1000000.00"),
        deductible_delta=D("-500.00"),
        ratio_delta_pp=D("0.50"),
    )
    assert rule.terms(properly_referred=True) == (D("0.00"), D("1"))
    assert settle_only(scope_claim("1000.00"), basic=rule).basic == D("1000.00")


# ---------------------------------------------------------------------------------------------------------------
# Critical-illness layer (大病保险)
# ---------------------------------------------------------------------------------------------------------------

TWO_BANDS = ((D("100000.00"), D("0.60")), (None, D("0.70")))


def critical(deductible="10000.00", cap="400000.00", **tilt) -> CriticalIllnessRule:
    return CriticalIllnessRule(
        deductible=D(deductible), segments=TWO_BANDS, annual_cap=None if cap is None else D(cap), **tilt
    )


def test_critical_crossing_band_boundary_over_two_claims():
    """Bounds are on the amount above the deductible: the 70 % band starts at a cumulative base of 110 000."""
    rule = critical()
    first = settle_only(scope_claim("80000.00"), critical=rule)
    assert first.critical == D("42000.00")  # (80 000 − 10 000) × 60 %
    ytd = NOTHING_PAID.plus(first)
    assert ytd.critical_base_cumulative == D("80000.00")

    second = settle_only(scope_claim("50000.00"), critical=rule, ytd=ytd)
    # f(130 000) − f(80 000) = (100 000 × 60 % + 20 000 × 70 %) − 42 000 = 74 000 − 42 000
    assert second.critical == D("32000.00")
    assert second.steps[1] == (
        "大病保险",
        "年度累计 80000.00 → 130000.00，起付线 10000.00：30000.00 × 60% + 20000.00 × 70% = 32000.00",
    )
    one_shot = settle_only(scope_claim("130000.00"), critical=rule)
    assert first.critical + second.critical == one_shot.critical == D("74000.00")


def test_critical_base_below_deductible_accumulates_for_later_claims():
    rule = critical()
    first = settle_only(scope_claim("6000.00"), critical=rule)
    assert first.critical == D("0.00")
    second = settle_only(scope_claim("6000.00"), critical=rule, ytd=NOTHING_PAID.plus(first))
    assert second.critical == D("1200.00")  # (12 000 − 10 000) × 60 %
    assert second.steps[1] == ("大病保险", "(12000.00 − 10000.00) × 60% = 1200.00")


def test_critical_base_is_what_is_borne_after_basic():
    result = settle_only(scope_claim("52000.00"), basic=EXAMPLE_BASIC, critical=critical(deductible="0.00"))
    assert result.critical_base_contribution == D("13375.00")
    assert result.critical == D("8025.00")  # 13 375 × 60 %


@pytest.mark.parametrize(
    ("rule", "base_before", "paid_before", "contribution", "expected"),
    [
        pytest.param(critical("0.00", cap="10000.00"), "0", "0", "100000.00", "10000.00", id="cap-applied"),
        pytest.param(
            critical("0.00", cap="10000.00", cap_removed=True), "0", "0", "100000.00", "60000.00", id="cap-removed"
        ),
        pytest.param(critical("0.00", cap="10000.00"), "15000.00", "9000.00", "10000.00", "1000.00", id="cap-rest"),
        pytest.param(critical("0.00", cap="10000.00"), "20000.00", "10000.00", "5000.00", "0.00", id="cap-used-up"),
        pytest.param(critical("0.00", cap=None), "0", "0", "100000.00", "60000.00", id="no-cap-in-policy"),
    ],
)
def test_critical_cap(rule, base_before, paid_before, contribution, expected):
    ytd = YearToDate(critical_base_cumulative=D(base_before), critical_paid=D(paid_before))
    result = settle_only(scope_claim(contribution), critical=rule, ytd=ytd)
    assert result.critical == D(expected)
    assert_balanced(result)


def test_critical_cap_on_the_slip_shows_band_arithmetic_then_the_cap():
    rule = critical("0.00", cap="10000.00")
    ytd = YearToDate(critical_base_cumulative=D("15000.00"), critical_paid=D("9000.00"))
    result = settle_only(scope_claim("10000.00"), critical=rule, ytd=ytd)
    assert result.steps[1] == (
        "大病保险",
        "(25000.00 − 15000.00) × 60% = 6000.00；年度封顶 10000.00，已付 9000.00，本次限 1000.00",
    )


def test_critical_cap_also_guards_against_ytd_paid_beyond_formula():
    """A mid-year category change can leave more paid than f(before) of today's rule: the cap still holds."""
    rule = critical("0.00", cap="10000.00")
    ytd = YearToDate(critical_base_cumulative=D("1000.00"), critical_paid=D("9900.00"))
    assert settle_only(scope_claim("5000.00"), critical=rule, ytd=ytd).critical == D("100.00")


@pytest.mark.parametrize(
    ("tilt", "expected_ratios"),
    [
        pytest.param({}, (D("0.60"), D("0.70")), id="no-tilt"),
        pytest.param({"ratio_plus_pp": D("0.05")}, (D("0.65"), D("0.75")), id="plus-5pp"),
        pytest.param({"ratio_floor": D("0.70")}, (D("0.70"), D("0.70")), id="floor-70"),
        pytest.param({"ratio_floor": D("0.62"), "ratio_plus_pp": D("0.05")}, (D("0.65"), D("0.75")), id="pp-wins"),
        pytest.param({"ratio_floor": D("0.80"), "ratio_plus_pp": D("0.05")}, (D("0.80"), D("0.80")), id="floor-wins"),
        pytest.param({"ratio_plus_pp": D("0.50")}, (D("1"), D("1")), id="never-above-100"),
    ],
)
def test_critical_ratio_floor_versus_plus_pp(tilt, expected_ratios):
    rule = critical("0.00", cap=None, **tilt)
    assert tuple(ratio for _, ratio in rule.effective().segments) == expected_ratios
    # 100 000 in the first band, 50 000 in the second
    result = settle_only(scope_claim("150000.00"), critical=rule)
    assert result.critical == D("100000.00") * expected_ratios[0] + D("50000.00") * expected_ratios[1]


@pytest.mark.parametrize(
    ("reduction", "expected_deductible"),
    [("0.5", "7500.00"), ("0.7", "4500.00"), ("0.8", "3000.00"), ("0", "15000.00"), ("1", "0.00")],
)
def test_critical_deductible_reduction(reduction, expected_deductible):
    rule = critical("15000.00", deductible_reduction=D(reduction))
    assert rule.effective().deductible == D(expected_deductible)


# ---------------------------------------------------------------------------------------------------------------
# Medical assistance (医疗救助)
# ---------------------------------------------------------------------------------------------------------------


def test_assistance_limit_shared_between_claims():
    rule = AssistanceRule(ratio=D("1"), annual_limit=D("30000.00"))
    ytd = NOTHING_PAID
    paid = []
    for amount in ("20000.00", "20000.00", "5000.00"):  # e.g. inpatient, inpatient, outpatient: one limit
        result = settle_only(scope_claim(amount), assistance=rule, ytd=ytd)
        assert_balanced(result)
        paid.append(result.assistance)
        ytd = ytd.plus(result)
    assert paid == [D("20000.00"), D("10000.00"), D("0.00")]
    assert ytd.assistance_paid == D("30000.00")


def test_assistance_deductible_consumed_over_two_claims():
    rule = AssistanceRule(ratio=D("0.70"), annual_limit=D("30000.00"), deductible=D("1000.00"))
    first = settle_only(scope_claim("600.00"), assistance=rule)
    assert (first.assistance, first.assistance_deductible_consumed) == (D("0.00"), D("600.00"))
    ytd = NOTHING_PAID.plus(first)

    second = settle_only(scope_claim("2000.00"), assistance=rule, ytd=ytd)
    assert (second.assistance, second.assistance_deductible_consumed) == (D("1120.00"), D("400.00"))
    assert second.steps[-2] == ("医疗救助", "(2000.00 − 400.00) × 70% = 1120.00（扣除救助起付线 400.00）")
    ytd = ytd.plus(second)
    assert ytd.assistance_deductible_used == D("1000.00")

    third = settle_only(scope_claim("1000.00"), assistance=rule, ytd=ytd)
    assert (third.assistance, third.assistance_deductible_consumed) == (D("700.00"), D("0.00"))


def test_assistance_base_is_after_basic_and_critical():
    result = settle_only(
        scope_claim("52000.00"), basic=EXAMPLE_BASIC, critical=EXAMPLE_CRITICAL_DIBAO, assistance=EXAMPLE_ASSISTANCE
    )
    assert result.assistance == round_fen((D("13375.00") - D("3818.75")) * D("0.70"))


# ---------------------------------------------------------------------------------------------------------------
# Out-of-catalog control (目录外费用控制) and special-disease quota (按病种定额)
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "scope", "poverty", "limit", "expected"),
    [
        pytest.param("60000.00", "52000.00", True, "0.10", "2000.00", id="spec-example"),
        pytest.param("60000.00", "54000.00", True, "0.10", "0.00", id="exactly-at-limit"),
        pytest.param("60000.00", "52000.00", False, "0.10", "0.00", id="not-a-poverty-target"),
        pytest.param("60000.00", "0.00", True, "0.10", "54000.00", id="all-out-of-catalog"),
        pytest.param("60000.00", "52000.00", True, None, "0.00", id="no-limit-in-policy"),
    ],
)
def test_out_of_catalog_control(total, scope, poverty, limit, expected):
    claim = ClaimInput(total_cost=D(total), policy_scope_cost=D(scope), is_poverty_target=poverty)
    result = settle_only(claim, limit=None if limit is None else D(limit))
    assert result.hospital_borne_out_of_catalog == D(expected)
    assert result.patient_pays == D(total) - D(scope) - D(expected) + D(scope)  # no layers here
    assert_balanced(result)


def test_quota_takes_out_of_catalog_first_then_policy_scope():
    claim = ClaimInput(
        total_cost=D("30000.00"),
        policy_scope_cost=D("26000.00"),
        is_poverty_target=True,
        special_disease_quota=D("20000.00"),
    )
    result = settle_only(claim, basic=EXAMPLE_BASIC, limit=D("0.10"))
    assert result.hospital_borne_quota == D("10000.00")  # 4 000 out-of-catalog + 6 000 policy scope
    assert result.hospital_borne_out_of_catalog == D("0.00")  # nothing out-of-catalog is left
    assert result.basic == D("14625.00")  # (26 000 − 6 000 − 500) × 75 %
    assert result.patient_pays == D("5375.00")
    assert result.steps[0] == (
        "按病种定额",
        "30000.00 − 定额 20000.00 = 10000.00 由医院承担（目录外 4000.00，政策范围内 6000.00）",
    )
    assert_balanced(result)


@pytest.mark.parametrize(
    ("scope", "expected_catalog_excess"),
    [
        pytest.param("18000.00", "0.00", id="remaining-out-of-catalog-at-10pct-of-quota"),
        pytest.param("15000.00", "3000.00", id="limit-applied-to-remaining-total"),
    ],
)
def test_quota_then_out_of_catalog_limit_on_what_remains(scope, expected_catalog_excess):
    claim = ClaimInput(
        total_cost=D("30000.00"),
        policy_scope_cost=D(scope),
        is_poverty_target=True,
        special_disease_quota=D("20000.00"),
    )
    result = settle_only(claim, limit=D("0.10"))
    assert result.hospital_borne_quota == D("10000.00")  # all of it from out-of-catalog
    assert result.hospital_borne_out_of_catalog == D(expected_catalog_excess)
    assert result.patient_pays == D("20000.00") - D(expected_catalog_excess)


def test_quota_not_reached_changes_nothing():
    claim = ClaimInput(total_cost=D("15000.00"), policy_scope_cost=D("15000.00"), special_disease_quota=D("20000.00"))
    result = settle_only(claim, basic=EXAMPLE_BASIC)
    assert result.hospital_borne_quota == D("0.00")
    assert result.basic == D("10875.00")


# ---------------------------------------------------------------------------------------------------------------
# Rounding half-up at each layer
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "claim", "rule", "expected"),
    [
        pytest.param(
            "basic",
            scope_claim("100.01"),
            BasicLayerRule(deductible=D("0.00"), ratio=D("0.5"), annual_cap=D("1000.00")),
            "50.01",  # 50.005, half-even would give 50.00
            id="basic-50.005",
        ),
        pytest.param(
            "basic",
            scope_claim("0.03"),
            BasicLayerRule(deductible=D("0.00"), ratio=D("0.5"), annual_cap=D("1000.00")),
            "0.02",  # 0.015
            id="basic-0.015",
        ),
        pytest.param(
            "critical",
            scope_claim("0.10"),
            CriticalIllnessRule(deductible=D("0.00"), segments=((None, D("0.65")),)),
            "0.07",  # 0.065
            id="critical-0.065",
        ),
        pytest.param(
            "assistance",
            scope_claim("9556.25"),
            AssistanceRule(ratio=D("0.70"), annual_limit=D("30000.00")),
            "6689.38",  # 6689.375
            id="assistance-6689.375",
        ),
        pytest.param(
            "hospital_borne_out_of_catalog",
            ClaimInput(total_cost=D("10.05"), policy_scope_cost=D("9.04"), is_poverty_target=True),
            None,
            "0.01",  # 1.01 − 1.005 = 0.005
            id="out-of-catalog-0.005",
        ),
    ],
)
def test_rounding_half_up(layer, claim, rule, expected):
    rules = {"basic": None, "critical": None, "assistance": None}
    if rule is not None:
        rules[layer] = rule
    result = settle(claim, **rules, out_of_catalog_limit=D("0.10"), ytd=NOTHING_PAID)
    assert getattr(result, layer) == D(expected)
    assert_balanced(result)


# ---------------------------------------------------------------------------------------------------------------
# 就高: most favourable variant, never the sum
# ---------------------------------------------------------------------------------------------------------------


def test_best_of_takes_max_and_keeps_first_on_ties():
    assert best_of(["a", "bb", "cc", "d"], lambda s: D(len(s))) == "bb"
    assert best_of([], lambda s: D(0)) is None


@pytest.mark.parametrize(("scope", "expected_index"), [("2000.00", 0), ("10000.00", 1)])
def test_best_basic_rule_depends_on_the_claim(scope, expected_index):
    low_deductible = BasicLayerRule(deductible=D("0.00"), ratio=D("0.50"), annual_cap=D("100000.00"))
    high_ratio = BasicLayerRule(deductible=D("1000.00"), ratio=D("0.90"), annual_cap=D("100000.00"))
    options = [low_deductible, high_ratio]
    assert best_basic_rule(scope_claim(scope), options, ytd=NOTHING_PAID) is options[expected_index]


def test_best_critical_rule_uses_cap_removal_when_the_cap_binds():
    capped_high_ratio = critical("0.00", cap="10000.00", ratio_floor=D("0.90"))
    uncapped = critical("0.00", cap="10000.00", cap_removed=True)
    chosen = best_critical_rule(scope_claim("50000.00"), [capped_high_ratio, uncapped], basic=None, ytd=NOTHING_PAID)
    assert chosen is uncapped
    chosen = best_critical_rule(scope_claim("5000.00"), [capped_high_ratio, uncapped], basic=None, ytd=NOTHING_PAID)
    assert chosen is capped_high_ratio


def test_best_assistance_rule_never_sums():
    dibao = AssistanceRule(ratio=D("0.75"), annual_limit=D("30000.00"))
    tekun = AssistanceRule(ratio=D("0.90"), annual_limit=D("30000.00"))
    claim = scope_claim("10000.00")
    assert best_assistance_rule(claim, [dibao, tekun], basic=None, critical=None, ytd=NOTHING_PAID) is tekun
    result = settle_best(claim, assistance_options=[dibao, tekun], out_of_catalog_limit=None, ytd=NOTHING_PAID)
    assert result.assistance == D("9000.00")


def test_settle_best_with_no_options_pays_no_layer():
    result = settle_best(EXAMPLE_CLAIM, out_of_catalog_limit=D("0.10"), ytd=NOTHING_PAID)
    assert (result.basic, result.critical, result.assistance) == (D("0.00"), D("0.00"), D("0.00"))
    assert result.patient_pays == D("58000.00")


# ---------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"total_cost": D("100.00"), "policy_scope_cost": D("100.01")}, ValueError),
        ({"total_cost": D("-1.00"), "policy_scope_cost": D("0.00")}, ValueError),
        ({"total_cost": D("1.005"), "policy_scope_cost": D("0.00")}, ValueError),
        ({"total_cost": 100.0, "policy_scope_cost": D("0.00")}, TypeError),
        ({"total_cost": D("NaN"), "policy_scope_cost": D("0.00")}, TypeError),
        ({"total_cost": D("1.00"), "policy_scope_cost": D("0.00"), "special_disease_quota": D("-5")}, ValueError),
    ],
)
def test_claim_input_validation(kwargs, error):
    with pytest.raises(error):
        ClaimInput(**kwargs)


@pytest.mark.parametrize(
    "segments",
    [
        (),
        ((D("100.00"), D("0.6")),),
        ((None, D("0.6")), (None, D("0.7"))),
        ((D("100.00"), D("0.6")), (D("50.00"), D("0.7")), (None, D("0.8"))),
        ((None, D("1.2")),),
    ],
)
def test_critical_segments_validation(segments):
    with pytest.raises(ValueError, match="segment"):
        CriticalIllnessRule(deductible=D("0.00"), segments=segments)


def test_rule_ratio_validation():
    with pytest.raises(ValueError, match="ratio must lie between"):
        BasicLayerRule(deductible=D("0.00"), ratio=D("1.5"), annual_cap=D("1.00"))
    with pytest.raises(ValueError, match="out_of_catalog_limit"):
        settle_only(EXAMPLE_CLAIM, limit=D("1.5"))


def test_unbalanced_result_cannot_exist():
    with pytest.raises(ArithmeticError):
        SettlementResult(
            total_cost=D("10.00"),
            basic=D("5.00"),
            critical=D("0.00"),
            assistance=D("0.00"),
            hospital_borne_quota=D("0.00"),
            hospital_borne_out_of_catalog=D("0.00"),
            patient_pays=D("4.99"),
            critical_base_contribution=D("5.00"),
            assistance_deductible_consumed=D("0.00"),
        )


# ---------------------------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------------------------------------------


def money(max_yuan: int = 500_000):
    return st.integers(0, max_yuan * 100).map(lambda fen: Decimal(fen).scaleb(-2))


def fraction(lowest: int = 0):
    return st.integers(lowest, 10_000).map(lambda n: Decimal(n).scaleb(-4))


@st.composite
def claims(draw):
    total = draw(money())
    scope = draw(st.integers(0, int(total * 100)).map(lambda fen: Decimal(fen).scaleb(-2)))
    return ClaimInput(
        total_cost=total,
        policy_scope_cost=scope,
        is_poverty_target=draw(st.booleans()),
        special_disease_quota=draw(st.none() | money()),
        properly_referred=draw(st.booleans()),
        visit_type=draw(st.sampled_from(VISITS)),
        hospital_level=draw(st.sampled_from(LEVELS)),
        scheme=draw(st.sampled_from(SCHEMES)),
        accrues_deductible=draw(st.booleans()),
        deductible_continuous=draw(st.booleans()),
    )


VISITS = ("inpatient", "outpatient")
LEVELS = ("township", "county", "city")
SCHEMES = ("resident", "employee")
tilt_scopes = st.none() | st.builds(
    TiltScope,
    visit_types=st.frozensets(st.sampled_from(VISITS)),
    hospital_levels=st.frozensets(st.sampled_from(LEVELS)),
    schemes=st.frozensets(st.sampled_from(SCHEMES)),
    description=st.just("限定"),
)


basic_rules = st.builds(
    BasicLayerRule,
    deductible=money(5_000),
    ratio=fraction(),
    annual_cap=money(),
    unreferred_ratio=st.none() | fraction(),
    deductible_delta=money(5_000).map(lambda amount: -amount) | money(1_000),
    ratio_delta_pp=st.integers(-2_000, 2_000).map(lambda n: Decimal(n).scaleb(-4)),
    scope=tilt_scopes,
)


@st.composite
def segment_tuples(draw):
    bounds = sorted(draw(st.sets(st.integers(1, 50_000_000), max_size=3)))
    ratios = draw(st.lists(fraction(), min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    uppers = [Decimal(fen).scaleb(-2) for fen in bounds] + [None]
    return tuple(zip(uppers, ratios, strict=True))


critical_rules = st.builds(
    CriticalIllnessRule,
    deductible=money(50_000),
    segments=segment_tuples(),
    annual_cap=st.none() | money(),
    deductible_reduction=fraction(),
    ratio_plus_pp=st.integers(0, 2_000).map(lambda n: Decimal(n).scaleb(-4)),
    ratio_floor=st.none() | fraction(),
    cap_removed=st.booleans(),
    scope=tilt_scopes,
)

assistance_rules = st.builds(AssistanceRule, ratio=fraction(), annual_limit=money(100_000), deductible=money(5_000))

year_to_dates = st.builds(
    YearToDate,
    basic_paid=money(),
    critical_base_cumulative=money(),
    critical_paid=money(),
    assistance_paid=money(100_000),
    assistance_deductible_used=money(5_000),
    basic_deductible_level=money(5_000),
)

limits = st.none() | fraction()


@settings(max_examples=500)
@given(
    claim=claims(),
    basic=st.none() | basic_rules,
    critical_rule=st.none() | critical_rules,
    assistance=st.none() | assistance_rules,
    limit=limits,
    ytd=year_to_dates,
)
def test_invariant_for_any_claim_and_rules(claim, basic, critical_rule, assistance, limit, ytd):
    result = settle(
        claim, basic=basic, critical=critical_rule, assistance=assistance, out_of_catalog_limit=limit, ytd=ytd
    )
    assert_balanced(result)
    for amount in (result.hospital_borne_quota, result.hospital_borne_out_of_catalog, result.patient_pays):
        assert amount == round_fen(amount)
    # layers only ever pay policy-scope cost, the hospital only bears what the SPEC lets it
    assert result.basic + result.critical + result.assistance <= claim.policy_scope_cost
    assert result.hospital_borne_out_of_catalog <= claim.out_of_catalog_cost
    if basic is None:
        assert result.basic == 0
    else:
        assert result.basic <= max(0, basic.annual_cap - ytd.basic_paid)
    if critical_rule is None:
        assert result.critical == 0
    elif (cap := applied_critical(critical_rule, claim).effective().annual_cap) is not None:
        assert result.critical <= max(0, cap - ytd.critical_paid)
    if assistance is None:
        assert result.assistance == 0
    else:
        assert result.assistance <= max(0, assistance.annual_limit - ytd.assistance_paid)
        assert result.assistance_deductible_consumed <= max(0, assistance.deductible - ytd.assistance_deductible_used)
    if not claim.is_poverty_target or limit is None:
        assert result.hospital_borne_out_of_catalog == 0
    if claim.special_disease_quota is None:
        assert result.hospital_borne_quota == 0


@settings(max_examples=300)
@given(
    year=st.lists(claims(), min_size=1, max_size=8),
    basic=st.none() | basic_rules,
    critical_rule=st.none() | critical_rules,
    assistance=st.none() | assistance_rules,
    limit=limits,
)
def test_caps_hold_over_a_year_of_claims(year, basic, critical_rule, assistance, limit):
    ytd = NOTHING_PAID
    critical_total = D("0.00")
    for claim in year:
        result = settle(
            claim, basic=basic, critical=critical_rule, assistance=assistance, out_of_catalog_limit=limit, ytd=ytd
        )
        assert_balanced(result)
        ytd = ytd.plus(result)
        critical_total += result.critical
    if basic is not None:
        assert ytd.basic_paid <= basic.annual_cap
        # 起付线连续计算 never lifts the year's deductible level above the highest deductible in force
        assert ytd.basic_deductible_level <= max(basic.deductible, basic.deductible + basic.deductible_delta)
    else:
        assert ytd.basic_deductible_level == 0
    # A tilt withheld from some claims of the year (referral, scope) changes f between claims: compare only years
    # whose claims all get the same rule.
    applied = {applied_critical(critical_rule, claim) for claim in year} if critical_rule is not None else set()
    if len(applied) == 1:
        effective = applied.pop().effective()
        if effective.annual_cap is not None:
            assert ytd.critical_paid <= effective.annual_cap
        # per-claim rounding drifts at most half a fen per claim from f(year's cumulative base)
        assert abs(critical_total - effective.payable(ytd.critical_base_cumulative)) <= D("0.005") * len(year)
    if assistance is not None:
        assert ytd.assistance_paid <= assistance.annual_limit
        assert ytd.assistance_deductible_used <= assistance.deductible


@given(claim=claims(), options=st.lists(assistance_rules, min_size=1, max_size=4), ytd=year_to_dates)
def test_best_of_pays_the_max_of_the_variants_never_more(claim, options, ytd):
    each = [
        settle(claim, basic=None, critical=None, assistance=o, out_of_catalog_limit=None, ytd=ytd).assistance
        for o in options
    ]
    chosen = settle_best(claim, assistance_options=options, out_of_catalog_limit=None, ytd=ytd)
    assert chosen.assistance == max(each)
