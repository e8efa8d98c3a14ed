"""The seeds' rules in the pure engine, with figures worked by hand to the fen (issue 7 §6):

- 黔南医保发〔2019〕36号 二（七）: no tilt of any layer for a patient not referred as required;
- 渝乡振发〔2022〕15号 问题三 (Chongqing 2021 "两升两降"): the basic tilt only for county-level hospital inpatient care;
- 金医保发〔2022〕18号 (Jin'an): a tilt limited to an insurance scheme;
- 粤医保发〔2021〕33号 二（三）12 (Guangdong): the inpatient deductible counted continuously for referred admissions.
"""

from decimal import Decimal

import pytest

from claims.rules.settlement import (
    BasicLayerRule,
    ClaimInput,
    CriticalIllnessRule,
    TiltScope,
    YearToDate,
    settle,
    settle_best,
)

D = Decimal
NOTHING_PAID = YearToDate()
BANDS = ((D("100000.00"), D("0.60")), (None, D("0.70")))
GENERAL_CRITICAL = CriticalIllnessRule(deductible=D("15000.00"), segments=BANDS, annual_cap=D("400000.00"))
DIBAO_CRITICAL = CriticalIllnessRule(
    deductible=D("15000.00"), segments=BANDS, annual_cap=D("400000.00"), deductible_reduction=D("0.5"),
    ratio_plus_pp=D("0.05"), cap_removed=True, label="低保对象倾斜")
COUNTY_BASIC = BasicLayerRule(deductible=D("500.00"), ratio=D("0.75"), annual_cap=D("250000.00"))


def inpatient(scope: str, **flags) -> ClaimInput:
    return ClaimInput(total_cost=D(scope), policy_scope_cost=D(scope), visit_type="inpatient", **flags)


def basic_step(result) -> str:
    return dict(result.steps)["基本医保"]


def critical_step(result) -> str:
    return dict(result.steps)["大病保险"]


# ------------------------------------------------------------------------------------ 黔南 二（七）: every layer


@pytest.mark.parametrize(("referred", "critical", "note"), [
    # borne after basic: 100 000 − (100 000 − 500) × 75 % = 25 375.00
    # tilted: (25 375 − 7 500) × 65 % = 11 618.75; general: (25 375 − 15 000) × 60 % = 6 225.00
    pytest.param(True, "11618.75", None, id="referred-gets-critical-tilt"),
    pytest.param(False, "6225.00", "（未按规定转诊，不享受倾斜：低保对象倾斜）", id="unreferred-loses-critical-tilt"),
])
def test_critical_tilt_needs_referral(referred, critical, note):
    result = settle_best(
        inpatient("100000.00", properly_referred=referred), basic_options=[COUNTY_BASIC],
        critical_options=[GENERAL_CRITICAL, DIBAO_CRITICAL], out_of_catalog_limit=None, ytd=NOTHING_PAID)
    assert (result.basic, result.critical) == (D("74625.00"), D(critical))
    assert result.patient_pays == D("100000.00") - D("74625.00") - D(critical)
    if note:
        assert critical_step(result) == f"(25375.00 − 15000.00) × 60% = 6225.00{note}"
        assert "未按规定转诊，不享受倾斜" in basic_step(result)
    else:
        assert critical_step(result) == "[低保对象倾斜] (25375.00 − 7500.00) × 65% = 11618.75"


def test_a_withheld_tilt_chosen_directly_is_not_applied():
    # Settling with the tilted rule itself (no 就高) still works the claim out without the tilt.
    result = settle(inpatient("100000.00", properly_referred=False), basic=COUNTY_BASIC, critical=DIBAO_CRITICAL,
                    assistance=None, out_of_catalog_limit=None, ytd=NOTHING_PAID)
    assert result.critical == D("6225.00")
    assert critical_step(result).endswith("（未按规定转诊，不享受倾斜：低保对象倾斜）")


def test_critical_tilt_withheld_below_the_general_deductible():
    # borne after basic 13 375.00 (SPEC example) is above the tilted 7 500 but below the general 15 000
    claim = ClaimInput(total_cost=D("52000.00"), policy_scope_cost=D("52000.00"), properly_referred=False)
    result = settle_best(claim, basic_options=[COUNTY_BASIC], critical_options=[GENERAL_CRITICAL, DIBAO_CRITICAL],
                         out_of_catalog_limit=None, ytd=NOTHING_PAID)
    assert result.critical == D("0.00")
    assert critical_step(result) == (
        "年度累计 13375.00 未超过起付线 15000.00 → 0.00（未按规定转诊，不享受倾斜：低保对象倾斜）")
    # the year's base still grows by what the person bore
    assert result.critical_base_contribution == D("13375.00")


# ---------------------------------------------------------------- 重庆 2021 两升两降: hospital level and visit type

CQ_SCOPE = TiltScope(visit_types=frozenset({"inpatient"}), hospital_levels=frozenset({"county"}),
                     description="县级医院·住院")


def cq_rule(deductible: str, ratio: str) -> tuple[BasicLayerRule, BasicLayerRule]:
    """The general rule and the registered-poor tilt (起付线降低 50 %, 比例提高 10 个百分点) of one level."""
    general = BasicLayerRule(deductible=D(deductible), ratio=D(ratio), annual_cap=D("250000.00"))
    tilted = BasicLayerRule(
        deductible=D(deductible), ratio=D(ratio), annual_cap=D("250000.00"),
        deductible_delta=-(D(deductible) / 2).quantize(D("0.01")), ratio_delta_pp=D("0.10"),
        label="建档立卡贫困人口倾斜", scope=CQ_SCOPE)
    return general, tilted


@pytest.mark.parametrize(("visit", "level", "rule", "basic", "shown"), [
    # county inpatient: (10 000 − 150) × 80 % = 7 880.00
    pytest.param("inpatient", "county", ("300.00", "0.70"), "7880.00",
                 "[建档立卡贫困人口倾斜] (10000.00 − 150.00) × 80% = 7880.00（倾斜限县级医院·住院，本次适用）",
                 id="county-inpatient-tilted"),
    # city inpatient: (10 000 − 800) × 55 % = 5 060.00 (the tilt would give (10 000 − 400) × 65 % = 6 240.00)
    pytest.param("inpatient", "city", ("800.00", "0.55"), "5060.00",
                 "(10000.00 − 800.00) × 55% = 5060.00（倾斜限县级医院·住院，本次不适用：建档立卡贫困人口倾斜）",
                 id="city-inpatient-not-tilted"),
    # county outpatient: 10 000 × 50 % = 5 000.00
    pytest.param("outpatient", "county", ("0.00", "0.50"), "5000.00",
                 "(10000.00 − 0.00) × 50% = 5000.00（倾斜限县级医院·住院，本次不适用：建档立卡贫困人口倾斜）",
                 id="county-outpatient-not-tilted"),
])
def test_chongqing_2021_basic_tilt_only_for_county_inpatient(visit, level, rule, basic, shown):
    claim = ClaimInput(total_cost=D("10000.00"), policy_scope_cost=D("10000.00"), visit_type=visit,
                       hospital_level=level)
    result = settle_best(claim, basic_options=cq_rule(*rule), out_of_catalog_limit=None, ytd=NOTHING_PAID)
    assert result.basic == D(basic)
    assert basic_step(result) == shown


def test_scope_and_referral_both_named_referral_first():
    claim = ClaimInput(total_cost=D("10000.00"), policy_scope_cost=D("10000.00"), visit_type="inpatient",
                       hospital_level="city", properly_referred=False)
    result = settle_best(claim, basic_options=cq_rule("800.00", "0.55"), out_of_catalog_limit=None,
                         ytd=NOTHING_PAID)
    assert result.basic == D("5060.00")
    assert basic_step(result).endswith("（未按规定转诊，不享受倾斜：建档立卡贫困人口倾斜）")


# -------------------------------------------------------------------------------- scheme (金安 职工 / 居民)


@pytest.mark.parametrize(("scheme", "basic"), [
    # resident: (20 000 − 500) × (70 % + 5 pp) = 14 625.00; employee: (20 000 − 500) × 70 % = 13 650.00
    ("resident_tier1", "14625.00"),
    ("employee", "13650.00"),
])
def test_tilt_limited_to_a_scheme(scheme, basic):
    tilted = BasicLayerRule(
        deductible=D("500.00"), ratio=D("0.70"), annual_cap=D("300000.00"), ratio_delta_pp=D("0.05"),
        label="特困人员倾斜", scope=TiltScope(schemes=frozenset({"resident_tier1", "resident_tier2"}),
                                         description="城乡居民医保"))
    claim = inpatient("20000.00", scheme=scheme, hospital_level="county")
    result = settle(claim, basic=tilted, critical=None, assistance=None, out_of_catalog_limit=None,
                    ytd=NOTHING_PAID)
    assert result.basic == D(basic)
    assert ("本次不适用" in basic_step(result)) is (scheme == "employee")


# ------------------------------------------------------------------------ 广东 二（三）12: 起付线连续计算

GD_COUNTY = BasicLayerRule(deductible=D("500.00"), ratio=D("0.70"), annual_cap=D("300000.00"))
GD_CITY = BasicLayerRule(deductible=D("800.00"), ratio=D("0.65"), annual_cap=D("300000.00"))
GD_PROVINCE = BasicLayerRule(deductible=D("1000.00"), ratio=D("0.55"), annual_cap=D("300000.00"))


@pytest.mark.parametrize(("rule", "scope", "continuous", "level", "basic", "contribution", "shown"), [
    # first admission of the year: the full deductible, which becomes the level
    pytest.param(GD_COUNTY, "3000.00", False, "0.00", "1750.00", "500.00",
                 "(3000.00 − 500.00) × 70% = 1750.00", id="first-admission"),
    # referred to a city hospital: only 800 − 500 = 300; (6 000 − 300) × 65 % = 3 705.00
    pytest.param(GD_CITY, "6000.00", True, "500.00", "3705.00", "300.00",
                 "起付线连续计算：800.00 − 本年已付起付线 500.00 → 300.00；(6000.00 − 300.00) × 65% = 3705.00",
                 id="referred-city-pays-the-difference"),
    # then to the province: 1 000 − 800 = 200; (10 000 − 200) × 55 % = 5 390.00
    pytest.param(GD_PROVINCE, "10000.00", True, "800.00", "5390.00", "200.00",
                 "起付线连续计算：1000.00 − 本年已付起付线 800.00 → 200.00；(10000.00 − 200.00) × 55% = 5390.00",
                 id="referred-province-pays-the-difference"),
    # back down to a county hospital: nothing left to pay; 2 000 × 70 % = 1 400.00
    pytest.param(GD_COUNTY, "2000.00", True, "1000.00", "1400.00", "0.00",
                 "起付线连续计算：500.00 − 本年已付起付线 1000.00 → 0.00；(2000.00 − 0.00) × 70% = 1400.00",
                 id="lower-hospital-after-higher"),
    # not continuous (unreferred, or not a rural low-income person): the full 800; (6 000 − 800) × 65 % = 3 380.00,
    # the level rises from 500 to 800
    pytest.param(GD_CITY, "6000.00", False, "500.00", "3380.00", "300.00",
                 "(6000.00 − 800.00) × 65% = 3380.00", id="not-continuous-full-deductible"),
    # a second admission at the same level, not continuous: the full 500 again, the level stays
    pytest.param(GD_COUNTY, "3000.00", False, "500.00", "1750.00", "0.00",
                 "(3000.00 − 500.00) × 70% = 1750.00", id="not-continuous-same-level"),
    # a small referred bill below the difference: nothing paid, the 200 borne raises the level to 700
    pytest.param(GD_CITY, "200.00", True, "500.00", "0.00", "200.00",
                 "起付线连续计算：800.00 − 本年已付起付线 500.00 → 300.00；"
                 "政策范围内 200.00 未超过起付线 300.00 → 0.00",
                 id="bill-below-the-difference"),
])
def test_continuous_inpatient_deductible(rule, scope, continuous, level, basic, contribution, shown):
    claim = inpatient(scope, accrues_deductible=True, deductible_continuous=continuous)
    result = settle(claim, basic=rule, critical=None, assistance=None, out_of_catalog_limit=None,
                    ytd=YearToDate(basic_deductible_level=D(level)))
    assert result.basic == D(basic)
    assert result.basic_deductible_contribution == D(contribution)
    assert basic_step(result) == shown
    assert result.patient_pays == D(scope) - D(basic)


def test_continuous_deductible_over_a_year_of_referrals():
    ytd = NOTHING_PAID
    paid = []
    for rule, scope, continuous in ((GD_COUNTY, "3000.00", False), (GD_CITY, "6000.00", True),
                                    (GD_PROVINCE, "10000.00", True)):
        result = settle(inpatient(scope, accrues_deductible=True, deductible_continuous=continuous), basic=rule,
                        critical=None, assistance=None, out_of_catalog_limit=None, ytd=ytd)
        ytd = ytd.plus(result)
        paid.append(result.basic)
    assert paid == [D("1750.00"), D("3705.00"), D("5390.00")]
    assert ytd.basic_deductible_level == D("1000.00")  # the province's deductible, borne once in all


def test_claims_that_do_not_accrue_leave_the_level_alone():
    # outpatient care: deductible borne, but the inpatient level does not move
    claim = ClaimInput(total_cost=D("3000.00"), policy_scope_cost=D("3000.00"), visit_type="outpatient")
    result = settle(claim, basic=GD_COUNTY, critical=None, assistance=None, out_of_catalog_limit=None,
                    ytd=NOTHING_PAID)
    assert (result.basic, result.basic_deductible_contribution) == (D("1750.00"), D("0.00"))


@pytest.mark.parametrize(("referred", "basic", "shown"), [
    # tilt applies, cap removed: (300 000 − 0) × 80 % = 240 000.00 although only 100 000 − 90 000 is left
    (True, "240000.00", "[低保对象倾斜] (300000.00 − 0.00) × 80% = 240000.00；倾斜不设年度封顶（100000.00）"),
    # unreferred: no tilt, 75 %, and the cap holds: 10 000.00 left
    (False, "10000.00", "[低保对象倾斜] (300000.00 − 0.00) × 75% = 225000.00（未按规定转诊，不享受倾斜：低保对象倾斜）"
                        "；年度封顶 100000.00，已付 90000.00，本次限 10000.00"),
])
def test_basic_cap_removal_is_a_tilt_too(referred, basic, shown):
    rule = BasicLayerRule(deductible=D("0.00"), ratio=D("0.75"), annual_cap=D("100000.00"),
                          ratio_delta_pp=D("0.05"), cap_removed=True, label="低保对象倾斜")
    result = settle(inpatient("300000.00", properly_referred=referred), basic=rule, critical=None, assistance=None,
                    out_of_catalog_limit=None, ytd=YearToDate(basic_paid=D("90000.00")))
    assert result.basic == D(basic)
    assert basic_step(result) == shown


def test_continuity_withheld_is_explained():
    claim = inpatient("6000.00", accrues_deductible=True, continuity_withheld="未在省内按规定转诊")
    result = settle(claim, basic=GD_CITY, critical=None, assistance=None, out_of_catalog_limit=None,
                    ytd=YearToDate(basic_deductible_level=D("500.00")))
    assert result.basic == D("3380.00")  # (6 000 − 800) × 65 %
    assert basic_step(result) == "(6000.00 − 800.00) × 65% = 3380.00（起付线连续计算不适用：未在省内按规定转诊）"


def test_continuous_deductible_applies_after_the_tilt():
    # a tilt halving the 800 deductible: 400 − 300 already borne = 100; (6 000 − 100) × 65 % = 3 835.00
    tilted = BasicLayerRule(deductible=D("800.00"), ratio=D("0.65"), annual_cap=D("300000.00"),
                            deductible_delta=D("-400.00"), label="低保对象倾斜")
    claim = inpatient("6000.00", accrues_deductible=True, deductible_continuous=True)
    result = settle(claim, basic=tilted, critical=None, assistance=None, out_of_catalog_limit=None,
                    ytd=YearToDate(basic_deductible_level=D("300.00")))
    assert (result.basic, result.basic_deductible_contribution) == (D("3835.00"), D("100.00"))
