"""The seeds' rules through settle_claim and the batch (issue 7 §6), figures worked by hand to the fen.

The pure arithmetic is table-tested in test_settlement_seed_rules.py; these tests pin what the service decides from
the database: the referral, the hospital's level and province, the enrolment's scheme, the version's categories.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from claims.models import BenefitPolicy, CategoryTilt, Claim, PaymentLine, Settlement
from claims.models.choices import HospitalLevel, Layer, Referral, VisitType
from claims.selectors import year_to_date
from claims.services import reverse_settlement, settle_claim
from claims.services.batch_settlement import settle_claims
from enrollment.models.choices import Scheme
from tests.factories import category, make_policy, make_region

from .factories import (
    make_basic_rule,
    make_benefits,
    make_claim,
    make_clerk,
    make_enrollment,
    make_hospital,
    make_patient,
    make_person,
    make_tilt,
    spec_example_policy,
)

D = Decimal
ZERO = D("0.00")


@pytest.fixture
def clerk(db):
    return make_clerk()


def amounts(settlement):
    return (settlement.basic, settlement.critical, settlement.assistance, settlement.hospital_borne,
            settlement.patient_pays)


def step(settlement, layer: str) -> str:
    return dict(map(tuple, settlement.steps))[layer]


# ------------------------------------------------------------------------------------ 黔南 二（七）: every layer


@pytest.fixture
def example_policy(regions):
    return spec_example_policy(regions["prefecture"])


def test_unreferred_patient_loses_the_critical_illness_tilt(example_policy, regions, clerk):
    patient = make_patient(regions["a"], codes=("dibao",))
    hospital = make_hospital(regions["a"])

    settlement = settle_claim(claim=make_claim(patient, hospital, referral=Referral.MISSING), by=clerk)

    # basic (52 000 − 500) × 75 % = 38 625.00; borne 13 375.00 stays below the general deductible 15 000 (the dibao
    # tilt's 7 500 is withheld); assistance 13 375.00 × 70 % = 9 362.50; hospital 8 000 − 10 % × 60 000 = 2 000.00
    assert amounts(settlement) == (D("38625.00"), ZERO, D("9362.50"), D("2000.00"), D("10012.50"))
    assert settlement.critical_category is None
    assert step(settlement, "大病保险") == (
        "年度累计 13375.00 未超过起付线 15000.00 → 0.00（未按规定转诊，不享受倾斜：低保对象倾斜）")


def test_critical_tilt_without_referral_when_the_policy_allows_it(example_policy, regions, clerk):
    BenefitPolicy.objects.filter(policy=example_policy).update(tilt_requires_referral=False)
    patient = make_patient(regions["a"], codes=("dibao",))

    settlement = settle_claim(claim=make_claim(patient, make_hospital(regions["a"]), referral=Referral.MISSING),
                              by=clerk)

    # the SPEC worked example's figures: (13 375 − 7 500) × 65 % = 3 818.75
    assert amounts(settlement) == (D("38625.00"), D("3818.75"), D("6689.38"), D("2000.00"), D("8866.87"))
    assert settlement.critical_category == category("dibao")


# ---------------------------------------------------------------- 重庆 2021 两升两降: hospital level and visit type


@pytest.fixture
def chongqing_2021(regions):
    policy = make_policy(regions["prefecture"], date(2024, 1, 1))
    make_benefits(policy, out_of_catalog_limit=None)
    make_basic_rule(policy, deductible="300.00", ratio="0.70")
    make_basic_rule(policy, hospital_level=HospitalLevel.CITY, deductible="800.00", ratio="0.55")
    make_basic_rule(policy, visit_type=VisitType.CHRONIC, deductible="0.00", ratio="0.65")
    tilt = make_tilt(policy, "registered_poor", layer=Layer.BASIC, deductible_reduction="0.5", ratio_plus="0.10")
    tilt.hospital_levels, tilt.visit_types = [HospitalLevel.COUNTY], [VisitType.INPATIENT]
    tilt.full_clean()
    tilt.save()
    return policy


@pytest.mark.parametrize(("level", "visit", "basic", "tilted", "shown"), [
    # (10 000 − 150) × 80 % = 7 880.00
    (HospitalLevel.COUNTY, VisitType.INPATIENT, "7880.00", True,
     "[建档立卡贫困人口倾斜] (10000.00 − 150.00) × 80% = 7880.00（倾斜限县级/二级医院·住院，本次适用）"),
    # (10 000 − 800) × 55 % = 5 060.00
    (HospitalLevel.CITY, VisitType.INPATIENT, "5060.00", False,
     "(10000.00 − 800.00) × 55% = 5060.00（倾斜限县级/二级医院·住院，本次不适用：建档立卡贫困人口倾斜）"),
    # 10 000 × 65 % = 6 500.00
    (HospitalLevel.COUNTY, VisitType.CHRONIC, "6500.00", False,
     "(10000.00 − 0.00) × 65% = 6500.00（倾斜限县级/二级医院·住院，本次不适用：建档立卡贫困人口倾斜）"),
])
def test_chongqing_basic_tilt_only_at_county_hospitals_for_inpatients(
        chongqing_2021, regions, clerk, level, visit, basic, tilted, shown):
    patient = make_patient(regions["a"], codes=("registered_poor",))
    claim = make_claim(patient, make_hospital(regions["a"], level=level), visit_type=visit,
                          total_cost="10000.00", policy_scope_cost="10000.00")

    settlement = settle_claim(claim=claim, by=clerk)

    assert settlement.basic == D(basic)
    assert settlement.patient_pays == D("10000.00") - D(basic)
    assert settlement.basic_category == (category("registered_poor") if tilted else None)
    assert step(settlement, "基本医保") == shown


def test_tilt_limits_are_validated():
    tilt = CategoryTilt(hospital_levels=["county", "moon"], visit_types="inpatient", schemes=["employee"] * 2)
    with pytest.raises(ValidationError) as caught:
        tilt.clean()
    assert caught.value.message_dict == {
        "hospital_levels": ["Unknown codes: moon."], "visit_types": ["Give a list of codes."],
        "schemes": ["A code is listed twice."]}


# -------------------------------------------------------------------------------- 金安: 职工医保 80 %, 居民医保 70 %


@pytest.fixture
def jinan_2022(regions):
    policy = make_policy(regions["prefecture"], date(2024, 1, 1))
    make_benefits(policy, out_of_catalog_limit=None)
    make_basic_rule(policy, ratio="0.70")
    make_basic_rule(policy, ratio="0.80", scheme=Scheme.EMPLOYEE)
    return policy


@pytest.mark.parametrize(("scheme", "basic", "shown"), [
    # (20 000 − 500) × 80 % = 15 600.00
    (Scheme.EMPLOYEE, "15600.00", "[职工医保] (20000.00 − 500.00) × 80% = 15600.00"),
    # (20 000 − 500) × 70 % = 13 650.00: both resident tiers take the rule without a scheme
    (Scheme.RESIDENT_TIER1, "13650.00", "(20000.00 − 500.00) × 70% = 13650.00"),
    (Scheme.RESIDENT_TIER2, "13650.00", "(20000.00 − 500.00) × 70% = 13650.00"),
])
def test_basic_rule_by_insurance_scheme(jinan_2022, regions, clerk, scheme, basic, shown):
    person = make_person(regions["a"])
    make_enrollment(person, 2024, scheme=scheme)
    claim = make_claim(person, make_hospital(regions["a"]), total_cost="20000.00", policy_scope_cost="20000.00")

    settlement = settle_claim(claim=claim, by=clerk)

    assert settlement.basic == D(basic)
    assert step(settlement, "基本医保") == shown


# ------------------------------------------------------------------------ 广东 二（三）12: 起付线连续计算


@pytest.fixture
def guangdong(regions):
    policy = make_policy(regions["prefecture"], date(2024, 1, 1))
    benefits = make_benefits(policy, out_of_catalog_limit=None)
    benefits.continuous_deductible_categories.set([category("dibao")])
    make_basic_rule(policy, deductible="500.00", ratio="0.70")
    make_basic_rule(policy, hospital_level=HospitalLevel.CITY, deductible="800.00", ratio="0.65")
    return policy


def admissions(person, county, city, *, referral=Referral.REFERRED):
    """A county stay that needs no referral, then a referred (or not) stay at a city hospital."""
    first = make_claim(person, county, admitted_on=date(2024, 3, 1), referral=Referral.NOT_REQUIRED,
                          total_cost="3000.00", policy_scope_cost="3000.00")
    second = make_claim(person, city, admitted_on=date(2024, 5, 1), referral=referral,
                           total_cost="6000.00", policy_scope_cost="6000.00")
    return first, second


@pytest.mark.parametrize(("codes", "referral", "city_region", "basic", "note"), [
    # (6 000 − (800 − 500)) × 65 % = 3 705.00
    pytest.param(("dibao",), Referral.REFERRED, "a", "3705.00",
                 "起付线连续计算：800.00 − 本年已付起付线 500.00 → 300.00；(6000.00 − 300.00) × 65% = 3705.00",
                 id="referred-within-the-province"),
    # not one of the version's categories: (6 000 − 800) × 65 % = 3 380.00
    pytest.param(("registered_poor",), Referral.REFERRED, "a", "3380.00", "(6000.00 − 800.00) × 65% = 3380.00",
                 id="other-category"),
    pytest.param(("dibao",), Referral.MISSING, "a", "3380.00",
                 "(6000.00 − 800.00) × 65% = 3380.00（未按规定转诊，不享受倾斜）（起付线连续计算不适用：未按规定转诊）",
                 id="unreferred"),
    pytest.param(("dibao",), Referral.NOT_REQUIRED, "a", "3380.00",
                 "(6000.00 − 800.00) × 65% = 3380.00（起付线连续计算不适用：未按规定转诊）", id="no-referral"),
    pytest.param(("dibao",), Referral.REFERRED, "elsewhere", "3380.00",
                 "(6000.00 − 800.00) × 65% = 3380.00（起付线连续计算不适用：省外就医）", id="outside-the-province"),
])
def test_continuous_inpatient_deductible(guangdong, regions, clerk, codes, referral, city_region, basic, note):
    elsewhere = make_region("440000", "广东省")
    person = make_patient(regions["a"], codes=codes)
    county = make_hospital(regions["a"])
    city = make_hospital(elsewhere if city_region == "elsewhere" else regions["a"], level=HospitalLevel.CITY)
    first, second = admissions(person, county, city, referral=referral)

    assert settle_claim(claim=first, by=clerk).basic == D("1750.00")  # (3 000 − 500) × 70 %
    settlement = settle_claim(claim=second, by=clerk)

    assert settlement.basic == D(basic)
    assert step(settlement, "基本医保") == note
    # the year's level: 800 whichever way the second stay was charged
    assert year_to_date(person.pk, 2024).basic_deductible_level == D("800.00")


def test_reversal_takes_the_deductible_level_back(guangdong, regions, clerk):
    person = make_patient(regions["a"], codes=("dibao",))
    first, second = admissions(person, make_hospital(regions["a"]),
                               make_hospital(regions["a"], level=HospitalLevel.CITY))
    first_settlement = settle_claim(claim=first, by=clerk)
    settle_claim(claim=second, by=clerk)
    lines = PaymentLine.objects.filter(layer=Layer.BASIC_DEDUCTIBLE, is_reversal=False)
    assert sorted(lines.values_list("amount", flat=True)) == [D("300.00"), D("500.00")]

    reverse_settlement(settlement=first_settlement, by=clerk, reason="重复登记")
    assert year_to_date(person.pk, 2024).basic_deductible_level == D("300.00")


def test_batch_counts_the_deductible_continuously_like_one_by_one(guangdong, regions, clerk):
    people = [make_patient(regions["a"], codes=codes) for codes in (("dibao",), ("registered_poor",), ("dibao",))]
    county, city = make_hospital(regions["a"]), make_hospital(regions["a"], level=HospitalLevel.CITY)
    claims = [claim for person in people for claim in admissions(person, county, city)]
    ids = [claim.pk for claim in claims]

    with transaction.atomic():
        result = settle_claims(claims=Claim.objects.filter(pk__in=ids), by=clerk)
        batch = {s.claim_id: (s.basic, s.steps) for s in Settlement.objects.filter(pk__in=result.settlement_ids)}
        transaction.set_rollback(True)
    one_by_one = {}
    for claim in claims:
        settlement = settle_claim(claim=claim, by=clerk)
        one_by_one[claim.pk] = (settlement.basic, settlement.steps)

    assert batch == one_by_one
    assert [one_by_one[claim.pk][0] for claim in claims] == [
        D("1750.00"), D("3705.00"), D("1750.00"), D("3380.00"), D("1750.00"), D("3705.00")]
