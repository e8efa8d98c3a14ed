"""The settlement service through the real database: rule resolution, payment lines, year-to-date, corrections."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from claims.models import BenefitPolicy, Claim, PaymentLine, Settlement
from claims.models.choices import DeductibleBasis, HospitalLevel, Layer, Referral, VisitType
from claims.models.claims import ClaimStatus
from claims.rules.settlement import (
    AssistanceRule,
    BasicLayerRule,
    ClaimInput,
    CriticalIllnessRule,
    SettlementResult,
    YearToDate,
    settle_best,
)
from claims.selectors import year_to_date, years_to_date
from claims.services import correct_claim, preview_settlement, reverse_settlement, settle_claim
from enrollment.models import SubsidyRule
from enrollment.models.choices import FundingSource
from enrollment.models.ledger import EnrollmentStatus
from enrollment.models.policy import SubsidyKind
from tests.factories import category, make_identity, make_person, make_policy, make_region, make_region_year

from .factories import (
    grant_region,
    make_assistance_rule,
    make_basic_rule,
    make_benefits,
    make_claim,
    make_clerk,
    make_enrollment,
    make_hospital,
    make_patient,
    make_segments,
    make_special_disease,
    make_tilt,
    spec_example_policy,
)

D = Decimal
ZERO = D("0.00")
MONEY_LAYERS = ("basic", "critical", "assistance", "hospital", "patient")


def lines_by_layer(settlement, *, reversal=False) -> dict[str, Decimal]:
    return {
        line.layer: line.amount for line in PaymentLine.objects.filter(settlement=settlement, is_reversal=reversal)
    }


def assert_balanced(settlement: Settlement) -> None:
    """The invariant, on the settlement row and on its money lines, to the fen."""
    claim = settlement.claim
    parts = (settlement.basic, settlement.critical, settlement.assistance, settlement.hospital_borne,
             settlement.patient_pays)
    assert all(part >= 0 for part in parts)
    assert sum(parts) == claim.total_cost
    lines = lines_by_layer(settlement)
    assert sum(lines[layer] for layer in MONEY_LAYERS) == claim.total_cost
    assert (lines["basic"], lines["critical"], lines["assistance"], lines["hospital"], lines["patient"]) == parts


@pytest.fixture
def clerk(db):
    return make_clerk("settler")


@pytest.fixture
def county_hospital(regions):
    return make_hospital(regions["a"], level=HospitalLevel.COUNTY)


@pytest.fixture
def example_policy(regions):
    """The worked example's policy, kept on the prefecture: county A inherits it from its nearest ancestor."""
    return spec_example_policy(regions["prefecture"], date(2024, 1, 1))


@pytest.fixture
def dibao_patient(regions):
    return make_patient(regions["a"], codes=("dibao",), years=(2024,))


# ---------------------------------------------------------------------------------------------------------------
# SPEC §4.2 worked example, end to end
# ---------------------------------------------------------------------------------------------------------------


def test_spec_worked_example_end_to_end(example_policy, dibao_patient, county_hospital, clerk):
    claim = make_claim(dibao_patient, county_hospital, referral=Referral.REFERRED)

    settlement = settle_claim(claim=claim, by=clerk)

    assert (settlement.basic, settlement.critical, settlement.assistance, settlement.hospital_borne,
            settlement.patient_pays) == (D("38625.00"), D("3818.75"), D("6689.38"), D("2000.00"), D("8866.87"))
    lines = {
        line.layer: (line.amount, line.funding_source)
        for line in PaymentLine.objects.filter(settlement=settlement)
    }
    assert lines == {
        Layer.BASIC: (D("38625.00"), FundingSource.BASIC_FUND),
        Layer.CRITICAL: (D("3818.75"), FundingSource.CRITICAL_ILLNESS),
        Layer.ASSISTANCE: (D("6689.38"), FundingSource.MEDICAL_ASSISTANCE),
        Layer.HOSPITAL: (D("2000.00"), FundingSource.HOSPITAL),
        Layer.PATIENT: (D("8866.87"), ""),
        Layer.CRITICAL_BASE: (D("13375.00"), ""),  # the year's cumulative critical-illness base
        Layer.BASIC_DEDUCTIBLE: (D("500.00"), ""),  # the year's inpatient deductible level (起付线连续计算)
    }
    assert all(line.person_id == dibao_patient.pk and line.year == 2024 and not line.is_reversal
               for line in PaymentLine.objects.filter(settlement=settlement))
    assert_balanced(settlement)

    dibao_identity = dibao_patient.identities.get()
    assert settlement.policy == example_policy
    assert settlement.year == 2024
    assert settlement.basic_category is None  # the example has no basic tilt
    assert settlement.critical_category == category("dibao")
    assert settlement.assistance_category == category("dibao")
    assert settlement.identity == dibao_identity
    assert settlement.created_by == clerk
    assert settlement.steps == [
        ["目录外费用控制", "8000.00 − 10% × 60000.00 = 2000.00 由医院承担"],
        ["基本医保", "(52000.00 − 500.00) × 75% = 38625.00"],
        ["大病保险", "[低保对象倾斜] (13375.00 − 7500.00) × 65% = 3818.75"],
        ["医疗救助", "[低保对象] (13375.00 − 3818.75) × 70% = 6689.375 → 6689.38"],
        ["个人自付", "60000.00 − 38625.00 − 3818.75 − 6689.38 − 2000.00 = 8866.87"],
    ]
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SETTLED
    assert claim.history.first().history_user == clerk


def test_preview_writes_nothing_and_explains(example_policy, dibao_patient, county_hospital):
    claim = make_claim(dibao_patient, county_hospital)

    preview = preview_settlement(claim=claim)

    assert (preview.result.basic, preview.result.critical, preview.result.assistance,
            preview.result.hospital_borne, preview.result.patient_pays) == (
        D("38625.00"), D("3818.75"), D("6689.38"), D("2000.00"), D("8866.87"))
    assert preview.policy == example_policy
    assert preview.enrolled and preview.is_poverty_target
    assert preview.critical_category == category("dibao") and preview.assistance_category == category("dibao")
    assert preview.identity == dibao_patient.identities.get()
    assert preview.funding[Layer.ASSISTANCE] == FundingSource.MEDICAL_ASSISTANCE
    assert not Settlement.objects.exists() and not PaymentLine.objects.exists()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REGISTERED


def test_settle_uses_stored_claim_not_unsaved_edits(example_policy, dibao_patient, county_hospital, clerk):
    claim = make_claim(dibao_patient, county_hospital)
    claim.total_cost = D("1.00")  # not saved: the service settles what the database holds

    settlement = settle_claim(claim=claim, by=clerk)

    assert settlement.total == D("60000.00")
    assert claim.status == ClaimStatus.SETTLED


# ---------------------------------------------------------------------------------------------------------------
# Year to date
# ---------------------------------------------------------------------------------------------------------------


def test_second_claim_uses_the_remaining_caps(regions, dibao_patient, county_hospital, clerk):
    policy = spec_example_policy(regions["prefecture"], basic_annual_cap="50000.00")
    policy.assistance_rules.update(annual_limit=D("10000.00"))
    first = settle_claim(claim=make_claim(dibao_patient, county_hospital), by=clerk)
    second = settle_claim(
        claim=make_claim(dibao_patient, county_hospital, admitted_on=date(2024, 5, 1)), by=clerk)

    assert (first.basic, first.critical, first.assistance) == (D("38625.00"), D("3818.75"), D("6689.38"))
    # basic: 50 000 − 38 625 left; critical: cumulative 13 375 → 54 000 above the tilted deductible 7 500;
    # assistance: (40 625 − 26 406.25) × 70 % = 9 953.13, limited to 10 000 − 6 689.38.
    assert (second.basic, second.critical, second.assistance, second.hospital_borne, second.patient_pays) == (
        D("11375.00"), D("26406.25"), D("3310.62"), D("2000.00"), D("16908.13"))
    assert "年度封顶 50000.00" in second.steps[1][1]
    assert "年度救助限额" in second.steps[3][1]
    assert_balanced(first)
    assert_balanced(second)
    assert year_to_date(dibao_patient.pk, 2024) == YearToDate(
        basic_paid=D("50000.00"), critical_base_cumulative=D("54000.00"), critical_paid=D("30225.00"),
        assistance_paid=D("10000.00"), assistance_deductible_used=ZERO,
        basic_deductible_level=D("500.00"))  # both stays at the county hospital: its 500 deductible, once
    assert year_to_date(dibao_patient.pk, 2023) == YearToDate()


def test_assistance_deductible_is_consumed_across_claims(regions, dibao_patient, county_hospital, clerk):
    policy = spec_example_policy(regions["prefecture"])
    policy.assistance_rules.update(deductible=D("10000.00"))
    first = settle_claim(claim=make_claim(dibao_patient, county_hospital), by=clerk)
    second = settle_claim(claim=make_claim(dibao_patient, county_hospital, admitted_on=date(2024, 6, 1)), by=clerk)

    # First claim: base 13 375 − 3 818.75 = 9 556.25, all of it eats the deductible; second: 443.75 left of it.
    assert first.assistance == ZERO
    assert lines_by_layer(first)[Layer.ASSISTANCE_DEDUCTIBLE] == D("9556.25")
    assert lines_by_layer(second)[Layer.ASSISTANCE_DEDUCTIBLE] == D("443.75")
    assert year_to_date(dibao_patient.pk, 2024).assistance_deductible_used == D("10000.00")


def test_years_to_date_in_bulk(example_policy, dibao_patient, county_hospital, clerk, regions):
    other = make_patient(regions["a"], name="李四")
    settle_claim(claim=make_claim(dibao_patient, county_hospital), by=clerk)

    bulk = years_to_date([dibao_patient.pk, other.pk], 2024)

    assert bulk[dibao_patient.pk] == year_to_date(dibao_patient.pk, 2024)
    assert bulk[other.pk] == YearToDate()


# ---------------------------------------------------------------------------------------------------------------
# Reversal and correction
# ---------------------------------------------------------------------------------------------------------------


def test_reversal_writes_negative_lines_and_frees_the_year(example_policy, dibao_patient, county_hospital, clerk):
    claim = make_claim(dibao_patient, county_hospital)
    settlement = settle_claim(claim=claim, by=clerk)
    originals = lines_by_layer(settlement)

    reverse_settlement(settlement=settlement, by=clerk, reason="重复录入")

    settlement.refresh_from_db()
    assert settlement.reversed_at is not None and settlement.reversed_by == clerk
    assert settlement.reversal_reason == "重复录入"
    assert lines_by_layer(settlement, reversal=True) == {layer: -amount for layer, amount in originals.items()}
    assert year_to_date(dibao_patient.pk, 2024) == YearToDate()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REGISTERED
    with pytest.raises(ValidationError, match="already reversed"):
        reverse_settlement(settlement=settlement, by=clerk, reason="again")
    again = settle_claim(claim=claim, by=clerk)
    assert again.total == claim.total_cost and again.pk != settlement.pk


def test_reversal_needs_a_reason(example_policy, dibao_patient, county_hospital, clerk):
    settlement = settle_claim(claim=make_claim(dibao_patient, county_hospital), by=clerk)
    with pytest.raises(ValidationError, match="reason"):
        reverse_settlement(settlement=settlement, by=clerk, reason="  ")
    settlement.refresh_from_db()
    assert settlement.reversed_at is None
    assert not PaymentLine.objects.filter(is_reversal=True).exists()


def test_correction_reverses_and_resettles_with_exact_year_to_date(
        example_policy, dibao_patient, county_hospital, clerk):
    first_claim = make_claim(dibao_patient, county_hospital)
    old = settle_claim(claim=first_claim, by=clerk)
    second_claim = make_claim(dibao_patient, county_hospital, admitted_on=date(2024, 4, 1))
    later = settle_claim(claim=second_claim, by=clerk)

    new = correct_claim(
        claim=first_claim, by=clerk, reason="费用清单更正", total_cost=D("50000.00"), policy_scope_cost=D("45000.00"))

    old.refresh_from_db()
    assert old.reversed_at is not None and old.reversal_reason == "费用清单更正"
    assert lines_by_layer(old, reversal=True) == {layer: -amount for layer, amount in lines_by_layer(old).items()}
    assert new.claim_id == first_claim.pk and new.reversed_at is None
    assert first_claim.total_cost == D("50000.00") and first_claim.status == ClaimStatus.SETTLED
    assert_balanced(new)
    # The year now holds exactly the two live settlements.
    live = Settlement.objects.filter(reversed_at__isnull=True)
    assert set(live) == {later, new}
    ytd = year_to_date(dibao_patient.pk, 2024)
    assert ytd.basic_paid == later.basic + new.basic
    assert ytd.critical_paid == later.critical + new.critical
    assert ytd.assistance_paid == later.assistance + new.assistance
    assert ytd.critical_base_cumulative == sum(
        lines_by_layer(s)[Layer.CRITICAL_BASE] for s in (later, new))
    # The corrected claim was settled against the other claim's year-to-date, as a preview now also shows.
    assert preview_settlement(claim=first_claim).result.assistance == new.assistance
    # The change is in the claim's history with its reason and author.
    record = Claim.history.filter(id=first_claim.pk, total_cost=D("50000.00")).earliest("history_date")
    assert record.history_change_reason == "费用清单更正" and record.history_user == clerk


def test_correction_can_move_the_claim_to_another_year(regions, dibao_patient, county_hospital, clerk):
    spec_example_policy(regions["prefecture"], date(2023, 1, 1))
    make_enrollment(dibao_patient, 2025)
    claim = make_claim(dibao_patient, county_hospital, admitted_on=date(2024, 12, 20))
    settle_claim(claim=claim, by=clerk)

    new = correct_claim(claim=claim, by=clerk, reason="出院日期更正", discharged_on=date(2025, 1, 3))

    assert new.year == 2025
    assert year_to_date(dibao_patient.pk, 2024) == YearToDate()
    assert year_to_date(dibao_patient.pk, 2025).basic_paid == new.basic


def test_correction_refuses_identity_fields_and_unsettled_claims(example_policy, dibao_patient, county_hospital,
                                                                 clerk, regions):
    claim = make_claim(dibao_patient, county_hospital)
    with pytest.raises(ValidationError, match="no settlement to correct"):
        correct_claim(claim=claim, by=clerk, reason="x", total_cost=D("1.00"))
    settlement = settle_claim(claim=claim, by=clerk)
    with pytest.raises(ValidationError, match="cannot be corrected: person"):
        correct_claim(claim=claim, by=clerk, reason="x", person=make_person(regions["a"]))
    with pytest.raises(ValidationError):
        correct_claim(claim=claim, by=clerk, reason="x", policy_scope_cost=D("70000.00"))  # above the total
    settlement.refresh_from_db()
    assert settlement.reversed_at is None  # a refused correction changes nothing
    assert not PaymentLine.objects.filter(is_reversal=True).exists()


# ---------------------------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------------------------


def test_refuses_an_already_settled_claim(example_policy, dibao_patient, county_hospital, clerk):
    claim = make_claim(dibao_patient, county_hospital)
    settle_claim(claim=claim, by=clerk)
    stale = Claim.objects.get(pk=claim.pk)
    stale.status = ClaimStatus.REGISTERED  # even a stale copy cannot settle twice
    with pytest.raises(ValidationError, match="already settled"):
        settle_claim(claim=stale, by=clerk)
    assert Settlement.objects.count() == 1


def test_refuses_a_rejected_claim(example_policy, dibao_patient, county_hospital, clerk):
    claim = make_claim(dibao_patient, county_hospital, status=ClaimStatus.REJECTED)
    with pytest.raises(ValidationError, match="rejected"):
        settle_claim(claim=claim, by=clerk)


def test_refuses_without_a_policy_in_force(regions, dibao_patient, county_hospital, clerk):
    spec_example_policy(regions["prefecture"], date(2024, 6, 1))
    claim = make_claim(dibao_patient, county_hospital, admitted_on=date(2024, 5, 1))
    with pytest.raises(ValidationError, match="No policy version is in force"):
        settle_claim(claim=claim, by=clerk)
    with pytest.raises(ValidationError, match="No policy version is in force"):
        preview_settlement(claim=claim)
    assert not Settlement.objects.exists()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REGISTERED


def test_refuses_a_policy_without_benefit_settings(regions, dibao_patient, county_hospital, clerk):
    make_policy(regions["province"], date(2024, 1, 1))
    claim = make_claim(dibao_patient, county_hospital)
    with pytest.raises(ValidationError, match="no benefit settings"):
        settle_claim(claim=claim, by=clerk)
    assert not PaymentLine.objects.exists()


def test_inconsistent_rules_are_a_validation_error(regions, dibao_patient, county_hospital, clerk):
    policy = spec_example_policy(regions["prefecture"])
    policy.critical_segments.filter(upper_bound__isnull=True).update(upper_bound=D("900000.00"))
    with pytest.raises(ValidationError, match="cannot be applied: the last segment must be open-ended"):
        settle_claim(claim=make_claim(dibao_patient, county_hospital), by=clerk)


# ---------------------------------------------------------------------------------------------------------------
# Eligibility
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "enrolment",
    [
        None,
        {"plan_year": 2023},
        {"plan_year": 2024, "status": EnrollmentStatus.SHOULD_ENROL},
        {"plan_year": 2024, "status": EnrollmentStatus.NOT_INSURED},
        {"plan_year": 2024, "coverage_start": date(2024, 4, 1)},  # green channel: covered from registration
        {"plan_year": 2024, "coverage_end": date(2024, 2, 29)},
    ],
    ids=["no-row", "other-year", "should-enrol", "not-insured", "covered-later", "coverage-ended"],
)
def test_no_benefits_without_valid_enrolment_on_the_date(example_policy, county_hospital, clerk, regions, enrolment):
    person = make_patient(regions["a"], codes=("dibao",), years=())
    if enrolment:
        year = enrolment.pop("plan_year")
        make_enrollment(person, year, **enrolment)

    settlement = settle_claim(claim=make_claim(person, county_hospital), by=clerk)

    assert (settlement.basic, settlement.critical, settlement.assistance, settlement.hospital_borne) == (
        ZERO, ZERO, ZERO, ZERO)
    assert settlement.patient_pays == D("60000.00")
    assert settlement.assistance_category is None and settlement.identity is None
    assert settlement.steps[0] == ["参保资格", "2024-03-10 无有效参保记录，各项待遇不予支付，费用由个人承担"]
    assert_balanced(settlement)
    assert not PaymentLine.objects.filter(layer=Layer.CRITICAL_BASE).exists()


def test_enrolment_covering_the_discharge_date_counts(example_policy, county_hospital, clerk, regions):
    person = make_patient(regions["a"], codes=("dibao",), years=())
    make_enrollment(person, 2024, coverage_start=date(2024, 3, 5))  # admitted 03-01, discharged 03-10
    settlement = settle_claim(claim=make_claim(person, county_hospital), by=clerk)
    assert settlement.basic == D("38625.00")


def test_expired_identity_gives_only_the_general_rules(example_policy, county_hospital, clerk, regions):
    person = make_person(regions["a"])
    make_identity(person, "dibao", date(2020, 1, 1), date(2024, 3, 9))  # ended the day before discharge
    make_enrollment(person, 2024)

    settlement = settle_claim(claim=make_claim(person, county_hospital), by=clerk)

    # General critical deductible 15 000 > 13 375 borne; no assistance; not a poverty target → no hospital share.
    assert (settlement.basic, settlement.critical, settlement.assistance, settlement.hospital_borne,
            settlement.patient_pays) == (D("38625.00"), ZERO, ZERO, ZERO, D("21375.00"))
    assert settlement.critical_category is None and settlement.identity is None


@pytest.mark.parametrize(("kind", "target"), [(SubsidyKind.PERCENT, True), (SubsidyKind.NONE, False)])
def test_poverty_target_includes_subsidised_categories(example_policy, county_hospital, clerk, regions, kind, target):
    SubsidyRule.objects.create(
        policy=example_policy, category=category("returned_poverty"), kind=kind,
        value=D("70") if kind == SubsidyKind.PERCENT else None)
    person = make_patient(regions["a"], codes=("returned_poverty",))

    settlement = settle_claim(claim=make_claim(person, county_hospital), by=clerk)

    assert settlement.hospital_borne == (D("2000.00") if target else ZERO)
    assert settlement.assistance == ZERO  # no assistance rule for the category


# ---------------------------------------------------------------------------------------------------------------
# Referral, 就高, special diseases, income-based deductible
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def tilted_basic_policy(regions):
    policy = make_policy(regions["prefecture"], date(2024, 1, 1))
    make_benefits(policy)
    make_basic_rule(policy, unreferred_ratio="0.65")
    make_tilt(policy, "dibao", layer=Layer.BASIC, deductible_reduction="0.5", ratio_plus="0.05")
    return policy


def test_referred_patient_gets_the_basic_tilt(tilted_basic_policy, dibao_patient, county_hospital, clerk):
    settlement = settle_claim(claim=make_claim(dibao_patient, county_hospital, referral=Referral.REFERRED), by=clerk)
    assert settlement.basic == D("41400.00")  # (52 000 − 250) × 80 %
    assert settlement.basic_category == category("dibao")
    assert settlement.identity == dibao_patient.identities.get()  # no assistance or critical category applied


def test_unreferred_patient_loses_the_tilt(tilted_basic_policy, dibao_patient, county_hospital, clerk):
    settlement = settle_claim(claim=make_claim(dibao_patient, county_hospital, referral=Referral.MISSING), by=clerk)
    assert settlement.basic == D("33475.00")  # (52 000 − 500) × 65 %
    assert settlement.basic_category is None
    assert "未按规定转诊，不享受倾斜" in settlement.steps[0][1]
    assert_balanced(settlement)


def test_tilt_without_referral_when_the_policy_allows_it(tilted_basic_policy, dibao_patient, county_hospital, clerk):
    BenefitPolicy.objects.filter(policy=tilted_basic_policy).update(tilt_requires_referral=False)
    settlement = settle_claim(claim=make_claim(dibao_patient, county_hospital, referral=Referral.MISSING), by=clerk)
    assert settlement.basic == D("36225.00")  # (52 000 − 250) × (65 % + 5 pp)
    assert settlement.basic_category == category("dibao")
    assert "未按规定转诊" in settlement.steps[0][1]


def test_most_favourable_category_per_layer(example_policy, county_hospital, clerk, regions):
    make_tilt(example_policy, "tekun", ratio_floor="0.60")  # worse than dibao's tilt on this claim
    make_assistance_rule(example_policy, "tekun", ratio="1.00", annual_limit="20000.00",
                         funding_source=FundingSource.FISCAL)
    person = make_patient(regions["a"], codes=("dibao", "tekun"))

    settlement = settle_claim(claim=make_claim(person, county_hospital), by=clerk)

    assert settlement.critical == D("3818.75") and settlement.critical_category == category("dibao")
    # Assistance: tekun's 100 % beats dibao's 70 % — one rule, never both.
    assert settlement.assistance == D("9556.25") and settlement.assistance_category == category("tekun")
    assert settlement.identity == person.identities.get(category__code="tekun")
    assert PaymentLine.objects.filter(settlement=settlement, layer=Layer.ASSISTANCE).get().funding_source == (
        FundingSource.FISCAL)
    assert settlement.patient_pays == D("6000.00")
    assert_balanced(settlement)


def test_assistance_rule_must_cover_the_visit_type(example_policy, dibao_patient, clerk, regions):
    township = make_hospital(regions["a"], level=HospitalLevel.TOWNSHIP)
    make_basic_rule(example_policy, visit_type=VisitType.OUTPATIENT, hospital_level=HospitalLevel.TOWNSHIP,
                    deductible="0.00", ratio="0.50")
    claim = make_claim(dibao_patient, township, visit_type=VisitType.OUTPATIENT, total_cost="300.00",
                       policy_scope_cost="300.00", admitted_on=date(2024, 3, 3))

    settlement = settle_claim(claim=claim, by=clerk)

    assert settlement.basic == D("150.00")
    assert settlement.assistance == ZERO and settlement.assistance_category is None  # dibao rule: no outpatient
    assert settlement.steps[-2] == ["医疗救助", "不适用 → 0.00"]


def test_visit_type_and_level_without_a_basic_rule_pay_no_basic(example_policy, dibao_patient, clerk, regions):
    city = make_hospital(regions["a"], level=HospitalLevel.CITY)
    settlement = settle_claim(claim=make_claim(dibao_patient, city), by=clerk)
    assert settlement.basic == ZERO
    # Layer 2 then works on the whole policy scope: (52 000 − 7 500) × 65 %.
    assert settlement.critical == D("28925.00")
    assert_balanced(settlement)


def test_special_disease_quota(example_policy, dibao_patient, county_hospital, clerk):
    make_special_disease(example_policy, icd10_prefixes="C50", quota="40000.00")
    make_special_disease(example_policy, code="breast_c509", icd10_prefixes="C50.9", quota="45000.00")
    flagged = make_claim(dibao_patient, county_hospital, is_special_disease=True, diagnosis_code="C50.901")
    plain = make_claim(dibao_patient, county_hospital, is_special_disease=False, diagnosis_code="C50.901",
                       admitted_on=date(2024, 2, 1))

    # Most specific match wins: C50.9 → quota 45 000; the 15 000 above it: 8 000 out-of-catalog, 7 000 scope.
    preview = preview_settlement(claim=flagged)
    assert preview.special_disease.code == "breast_c509"
    assert preview.result.hospital_borne_quota == D("15000.00")
    assert preview.result.basic == D("33375.00")  # (45 000 − 500) × 75 %
    assert preview_settlement(claim=plain).result.hospital_borne_quota == ZERO
    settlement = settle_claim(claim=flagged, by=clerk)
    assert settlement.hospital_borne == D("15000.00")
    assert_balanced(settlement)


def test_critical_deductible_from_last_years_income(clerk):
    province = make_region("440000", "广东省")
    city = make_region("440100", "广州市", parent=province)
    county = make_region("440103", "荔湾区", parent=city)
    grant_region(clerk, province)
    make_region_year(province, 2023, income_all=D("40000.00"))
    make_region_year(county, 2024, income_all=D("99999.00"))  # this year's figure is not the one used
    policy = make_policy(province, date(2024, 1, 1))
    make_benefits(policy, critical_deductible_basis=DeductibleBasis.INCOME_ALL, critical_deductible="0.5")
    make_basic_rule(policy)
    make_segments(policy)
    person = make_patient(county, codes=(), years=(2024,))
    hospital = make_hospital(county)
    claim = make_claim(person, hospital, total_cost="200000.00", policy_scope_cost="200000.00")

    settlement = settle_claim(claim=claim, by=clerk)

    # basic (200 000 − 500) × 75 % = 149 625; borne 50 375; deductible 50 % × 40 000 = 20 000.
    assert settlement.critical == D("18225.00")
    assert "(50375.00 − 20000.00) × 60%" in settlement.steps[1][1]


def test_missing_income_statistic_is_refused(clerk):
    province = make_region("440000", "广东省")
    grant_region(clerk, province)
    policy = make_policy(province, date(2024, 1, 1))
    make_benefits(policy, critical_deductible_basis=DeductibleBasis.INCOME_RURAL, critical_deductible="0.5")
    make_segments(policy)
    person = make_patient(province, codes=(), years=(2024,))
    with pytest.raises(ValidationError, match="2023 per-capita disposable income"):
        settle_claim(claim=make_claim(person, make_hospital(province)), by=clerk)


# ---------------------------------------------------------------------------------------------------------------
# Version by date of service (Chongqing's 2021/2022 transition)
# ---------------------------------------------------------------------------------------------------------------


def test_version_in_force_on_the_date_of_service(clerk):
    chongqing = make_region("500000", "重庆市")
    districts = make_region("500100", "市辖区", parent=chongqing)
    wanzhou = make_region("500101", "万州区", parent=districts)
    grant_region(clerk, chongqing)
    old = spec_example_policy(chongqing, date(2021, 1, 1), date(2021, 12, 31))
    new = make_policy(chongqing, date(2022, 1, 1))
    make_benefits(new)
    make_basic_rule(new, ratio="0.70")
    make_segments(new)
    make_assistance_rule(new, "dibao", funding_source=FundingSource.TRANSITION)
    person = make_patient(wanzhou, codes=("dibao",), years=(2021, 2022))
    hospital = make_hospital(wanzhou)

    last_old = settle_claim(
        claim=make_claim(person, hospital, admitted_on=date(2021, 12, 20), discharged_on=date(2021, 12, 31)), by=clerk)
    first_new = settle_claim(
        claim=make_claim(person, hospital, admitted_on=date(2021, 12, 28), discharged_on=date(2022, 1, 5)), by=clerk)

    assert last_old.policy == old and last_old.year == 2021
    assert first_new.policy == new and first_new.year == 2022
    assert last_old.basic == D("38625.00")
    assert first_new.basic == D("36050.00")  # (52 000 − 500) × 70 %
    assert PaymentLine.objects.get(settlement=first_new, layer=Layer.ASSISTANCE).funding_source == (
        FundingSource.TRANSITION)
    # Each year keeps its own sums: the 2022 claim started from nothing.
    assert year_to_date(person.pk, 2022).basic_paid == first_new.basic


# ---------------------------------------------------------------------------------------------------------------
# Payment lines are immutable
# ---------------------------------------------------------------------------------------------------------------


def test_payment_lines_cannot_be_updated_or_deleted(example_policy, dibao_patient, county_hospital, clerk):
    settlement = settle_claim(claim=make_claim(dibao_patient, county_hospital), by=clerk)
    line = PaymentLine.objects.filter(settlement=settlement, layer=Layer.BASIC).get()

    line.amount = D("1.00")
    with pytest.raises(ValidationError, match="cannot be changed"):
        line.save()
    with pytest.raises(ValidationError, match="cannot be deleted"):
        line.delete()
    # QuerySet.delete() never calls PaymentLine.delete(); the pre_delete guard stops it. The savepoint is the
    # caller's business: the deletion runs without one of its own, so the error spoils the enclosing transaction.
    with pytest.raises(ValidationError, match="cannot be deleted"), transaction.atomic():
        PaymentLine.objects.filter(settlement=settlement).delete()
    assert PaymentLine.objects.get(pk=line.pk).amount == D("38625.00")
    assert PaymentLine.objects.filter(settlement=settlement).count() == 7


def test_settlement_query_count_is_fixed(example_policy, dibao_patient, county_hospital, clerk,
                                         django_assert_max_num_queries):
    make_tilt(example_policy, "tekun")
    make_tilt(example_policy, "orphan", layer=Layer.BASIC)
    make_assistance_rule(example_policy, "orphan")
    claims = [make_claim(dibao_patient, county_hospital, admitted_on=date(2024, m, 1)) for m in (2, 3)]
    # 21 for the settlement (the policy's continuous-deductible categories are one of them), and 4 for the
    # service's own authorisation: the clerk's permissions (user and groups), hospital link and regions, read once
    # per user instance.
    with django_assert_max_num_queries(25):
        settle_claim(claim=claims[0], by=clerk)
    make_identity(dibao_patient, "tekun", date(2020, 1, 1))
    make_identity(dibao_patient, "orphan", date(2020, 1, 1))
    with django_assert_max_num_queries(25):  # more identities, candidates and lines: same number of queries
        settle_claim(claim=claims[1], by=clerk)


# ---------------------------------------------------------------------------------------------------------------
# Property: any sequence of settlements, corrections and reversals of one person keeps caps and the invariant,
# and matches the pure engine replayed on the live settlements.
# ---------------------------------------------------------------------------------------------------------------

BASIC_CAP = D("60000.00")
ASSIST_LIMIT = D("12000.00")
CRITICAL_CAP = D("30000.00")

ORACLE_BASIC = {
    HospitalLevel.COUNTY: BasicLayerRule(deductible=D("500.00"), ratio=D("0.75"), annual_cap=BASIC_CAP),
    HospitalLevel.CITY: BasicLayerRule(deductible=D("800.00"), ratio=D("0.65"), annual_cap=BASIC_CAP),
}
ORACLE_SEGMENTS = ((D("100000.00"), D("0.60")), (None, D("0.70")))
ORACLE_CRITICAL = (
    CriticalIllnessRule(deductible=D("15000.00"), segments=ORACLE_SEGMENTS, annual_cap=CRITICAL_CAP),
    CriticalIllnessRule(deductible=D("15000.00"), segments=ORACLE_SEGMENTS, annual_cap=CRITICAL_CAP,
                        deductible_reduction=D("0.5"), ratio_plus_pp=D("0.05")),
)
ORACLE_ASSIST = AssistanceRule(ratio=D("0.70"), annual_limit=ASSIST_LIMIT, deductible=D("1000.00"))


def oracle(claim: Claim, ytd: YearToDate):
    bill = ClaimInput(total_cost=claim.total_cost, policy_scope_cost=claim.policy_scope_cost, is_poverty_target=True,
                      visit_type=claim.visit_type, accrues_deductible=claim.visit_type == VisitType.INPATIENT,
                      # dibao is a continuous-deductible category of the world, every stay referred in the province
                      deductible_continuous=claim.visit_type == VisitType.INPATIENT)
    basic = ORACLE_BASIC[claim.hospital.level] if claim.visit_type == VisitType.INPATIENT else None
    return settle_best(
        bill, basic_options=[basic] if basic else [], critical_options=ORACLE_CRITICAL,
        assistance_options=[ORACLE_ASSIST], out_of_catalog_limit=D("0.10"), ytd=ytd)


@pytest.fixture
def property_world(regions):
    policy = make_policy(regions["prefecture"], date(2024, 1, 1))
    make_benefits(policy, basic_annual_cap=str(BASIC_CAP), critical_annual_cap=str(CRITICAL_CAP))
    make_basic_rule(policy)
    make_basic_rule(policy, hospital_level=HospitalLevel.CITY, deductible="800.00", ratio="0.65")
    make_segments(policy)
    make_tilt(policy, "dibao", deductible_reduction="0.5", ratio_plus="0.05")  # cap kept, so it can bind
    make_assistance_rule(policy, "dibao", annual_limit=str(ASSIST_LIMIT), deductible="1000.00")
    BenefitPolicy.objects.get(policy=policy).continuous_deductible_categories.set([category("dibao")])
    person = make_patient(regions["a"], codes=("dibao",))
    hospitals = {level: make_hospital(regions["a"], level=level) for level in ORACLE_BASIC}
    return {"person": person, "hospitals": hospitals, "clerk": make_clerk("prop")}


fen_amounts = st.integers(min_value=0, max_value=8_000_000).map(lambda fen: D(fen) / 100)
claim_specs = st.tuples(
    fen_amounts,  # policy-scope cost
    fen_amounts,  # out-of-catalog cost
    st.sampled_from([HospitalLevel.COUNTY, HospitalLevel.CITY]),
    st.sampled_from([VisitType.INPATIENT, VisitType.CHRONIC]),
)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("settle"), claim_specs),
        st.tuples(st.just("correct"), st.integers(min_value=0), claim_specs),
        st.tuples(st.just("reverse"), st.integers(min_value=0)),
    ),
    min_size=1,
    max_size=6,
)


BIG_INPATIENT = (D("80000.00"), D("5000.00"), HospitalLevel.COUNTY, VisitType.INPATIENT)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=actions)
# Always run once with every cap binding, then a correction and a reversal of capped settlements.
@example(steps=[("settle", BIG_INPATIENT)] * 3 + [
    ("correct", 0, (D("20000.00"), D("0.00"), HospitalLevel.CITY, VisitType.CHRONIC)), ("reverse", 1),
    ("settle", BIG_INPATIENT)])
def test_random_claim_sequences_keep_caps_and_match_the_engine(property_world, steps):
    person, clerk = property_world["person"], property_world["clerk"]
    with transaction.atomic():
        # The oracle's own books: claim id → the pure engine's result for its live settlement.
        live: dict[int, SettlementResult] = {}
        settlements: dict[int, Settlement] = {}
        month = 0
        for step in steps:
            if step[0] == "settle" or (step[0] == "correct" and live):
                scope, extra, level, visit = step[-1]
                fields = {"total_cost": scope + extra, "policy_scope_cost": scope, "visit_type": visit,
                          "hospital": property_world["hospitals"][level]}
                if step[0] == "settle":
                    month = month % 11 + 1  # inpatient stays end in the same year
                    claim = make_claim(person, fields.pop("hospital"), admitted_on=date(2024, month, 1),
                                       total_cost=str(fields.pop("total_cost")),
                                       policy_scope_cost=str(fields.pop("policy_scope_cost")), **fields)
                    settlement = settle_claim(claim=claim, by=clerk)
                else:
                    claim = Claim.objects.get(pk=sorted(live)[step[1] % len(live)])
                    live.pop(claim.pk)
                    settlement = correct_claim(claim=claim, by=clerk, reason="更正", **fields)
                want = oracle(claim, _books(live))
                assert (settlement.basic, settlement.critical, settlement.assistance, settlement.hospital_borne,
                        settlement.patient_pays) == (want.basic, want.critical, want.assistance,
                                                     want.hospital_borne, want.patient_pays)
                assert_balanced(settlement)
                live[claim.pk] = want
                settlements[claim.pk] = settlement
            elif step[0] == "reverse" and live:
                claim_id = sorted(live)[step[1] % len(live)]
                live.pop(claim_id)
                reverse_settlement(settlement=settlements.pop(claim_id), by=clerk, reason="撤销")
            ytd = year_to_date(person.pk, 2024)
            assert ytd == _books(live)
            assert ytd.basic_paid <= BASIC_CAP
            assert ytd.assistance_paid <= ASSIST_LIMIT
            assert ytd.critical_paid <= CRITICAL_CAP
            assert ytd.assistance_deductible_used <= ORACLE_ASSIST.deductible
            assert ytd.basic_deductible_level <= max(rule.deductible for rule in ORACLE_BASIC.values())
        transaction.set_rollback(True)


def _books(live: dict[int, SettlementResult]) -> YearToDate:
    """What the oracle's live results add up to for the year."""
    ytd = YearToDate()
    for result in live.values():
        ytd = ytd.plus(result)
    return ytd
