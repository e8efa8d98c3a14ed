"""The `benefits:` section of policy files: parsed with line and field, loaded, and settled through."""

from decimal import Decimal

import pytest

from claims.models import (
    AssistanceBenefitRule,
    BasicBenefitRule,
    BenefitPolicy,
    CategoryTilt,
    CriticalSegment,
    SpecialDisease,
)
from claims.models.choices import DeductibleBasis, Layer
from claims.services import settle_claim
from enrollment.models import PolicyVersion
from enrollment.models.choices import FundingSource
from enrollment.policyfile import PolicyFileError
from enrollment.services.policy import load_policy_document
from tests.factories import category, make_region

from .factories import make_claim, make_clerk, make_hospital, make_patient

D = Decimal

# The SPEC §4.2 worked example's policy as a file. Line numbers matter to the error tests below.
EXAMPLE = """\
format: 1
code: example-2024
name: 示例政策
effective_from: 2024-01-01
region: {code: "522700", name: 黔南州, level: prefecture, parents: [{code: "520000", name: 贵州省, level: province}]}
benefits:
  basic:
    annual_cap: 250000
    rules:
      - {visit_type: inpatient, hospital_level: county, deductible: 500, ratio: 75, unreferred_ratio: 65}
      - {visit_type: chronic, hospital_level: township, deductible: 0, ratio: 80}
    tilts:
      - {category: tekun, deductible_reduction: 100, ratio_plus: 5}
  critical:
    deductible: 15000
    annual_cap: 400000
    segments:
      - {up_to: 100000, ratio: 60}
      - {ratio: 70}
    tilts:
      - {category: dibao, deductible_reduction: 50, ratio_plus: 5, cap_removed: true}
      - {category: tekun, ratio_floor: 80}
  assistance:
    - {category: dibao, ratio: 70, annual_limit: 30000}
    - {category: tekun, ratio: 100, annual_limit: 50000, deductible: 0, covers: [inpatient, outpatient, chronic],
       funding_source: fiscal}
  out_of_catalog_limit: 10
  special_diseases:
    - {code: breast_cancer, name: 乳腺癌, icd10: [C50, d05], quota: 20000}
  no_deposit_categories: [dibao, tekun]
  settlement_deadlines: {advance_ratio: 70, advance_working_days: 10, final_working_days: 15, manual_working_days: 25}
"""


def load(text: str = EXAMPLE, **kwargs) -> PolicyVersion:
    return load_policy_document(document=text, source_name="example.yaml", **kwargs)


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyFileError) as caught:
        load(text)
    return caught.value.messages


@pytest.mark.django_db
def test_the_example_loads_every_benefit_row():
    policy = load()

    benefits = BenefitPolicy.objects.get(policy=policy)
    assert (benefits.basic_annual_cap, benefits.critical_deductible_basis, benefits.critical_deductible,
            benefits.critical_annual_cap, benefits.out_of_catalog_limit, benefits.tilt_requires_referral) == (
        D("250000"), DeductibleBasis.AMOUNT, D("15000"), D("400000"), D("0.10"), True)
    assert (benefits.funding_basic, benefits.funding_critical) == (
        FundingSource.BASIC_FUND, FundingSource.CRITICAL_ILLNESS)
    assert set(benefits.no_deposit_categories.values_list("code", flat=True)) == {"dibao", "tekun"}
    assert (benefits.advance_ratio, benefits.advance_working_days, benefits.final_working_days,
            benefits.manual_working_days) == (D("0.70"), 10, 15, 25)
    assert set(BasicBenefitRule.objects.filter(policy=policy).values_list(
        "visit_type", "hospital_level", "deductible", "ratio", "unreferred_ratio")) == {
        ("inpatient", "county", D("500"), D("0.75"), D("0.65")),
        ("chronic", "township", D("0"), D("0.80"), None)}
    assert list(CriticalSegment.objects.filter(policy=policy).values_list("upper_bound", "ratio")) == [
        (D("100000"), D("0.60")), (None, D("0.70"))]
    assert set(CategoryTilt.objects.filter(policy=policy).values_list(
        "category__code", "layer", "deductible_reduction", "ratio_plus", "ratio_floor", "cap_removed")) == {
        ("tekun", Layer.BASIC, D("1"), D("0.05"), None, False),
        ("dibao", Layer.CRITICAL, D("0.5"), D("0.05"), None, True),
        ("tekun", Layer.CRITICAL, D("0"), D("0"), D("0.80"), False)}
    tekun = AssistanceBenefitRule.objects.get(policy=policy, category=category("tekun"))
    assert (tekun.ratio, tekun.annual_limit, tekun.covers_inpatient, tekun.covers_outpatient,
            tekun.covers_chronic, tekun.funding_source) == (D("1"), D("50000"), True, True, True, FundingSource.FISCAL)
    dibao = AssistanceBenefitRule.objects.get(policy=policy, category=category("dibao"))
    assert (dibao.covers_inpatient, dibao.covers_outpatient, dibao.covers_chronic, dibao.funding_source) == (
        True, False, True, FundingSource.MEDICAL_ASSISTANCE)
    disease = SpecialDisease.objects.get(policy=policy)
    assert (disease.icd10_prefixes, disease.quota) == ("C50,D05", D("20000"))
    # History is kept for every row written, with the file named as the reason.
    for model in (BenefitPolicy, BasicBenefitRule, CriticalSegment, CategoryTilt, AssistanceBenefitRule,
                  SpecialDisease):
        records = model.history.filter(policy_id=policy.pk)
        assert records.exists()
        assert all("example.yaml" in record.history_change_reason for record in records)


@pytest.mark.django_db
def test_the_loaded_example_settles_the_worked_example():
    policy = load()
    county = make_region("522701", "都匀市", parent=policy.region)
    person = make_patient(county, codes=("dibao",))
    claim = make_claim(person, make_hospital(county))

    settlement = settle_claim(claim=claim, by=make_clerk())

    assert settlement.policy == policy
    assert (settlement.basic, settlement.critical, settlement.assistance, settlement.hospital_borne,
            settlement.patient_pays) == (D("38625.00"), D("3818.75"), D("6689.38"), D("2000.00"), D("8866.87"))


@pytest.mark.django_db
def test_income_share_deductible():
    text = EXAMPLE.replace("    deductible: 15000\n", "    deductible_share: {of: income_all, percent: 50}\n")
    benefits = BenefitPolicy.objects.get(policy=load(text))
    assert (benefits.critical_deductible_basis, benefits.critical_deductible) == (
        DeductibleBasis.INCOME_ALL, D("0.5"))


@pytest.mark.django_db
def test_a_file_without_benefits_writes_none():
    text = EXAMPLE[: EXAMPLE.index("benefits:")]
    policy = load(text)
    assert not BenefitPolicy.objects.filter(policy=policy).exists()


@pytest.mark.django_db
def test_replace_rebuilds_the_benefits_of_an_unsettled_version():
    policy = load()
    again = load(EXAMPLE.replace("annual_cap: 250000", "annual_cap: 300000").replace(
        "      - {category: tekun, ratio_floor: 80}\n", ""), replace=True)
    assert again.pk == policy.pk
    assert BenefitPolicy.objects.get(policy=policy).basic_annual_cap == D("300000")
    assert CategoryTilt.objects.filter(policy=policy, layer=Layer.CRITICAL).count() == 1
    assert BenefitPolicy.objects.count() == 1


@pytest.mark.django_db
def test_replace_is_refused_once_the_version_settled_claims():
    policy = load()
    county = make_region("522701", "都匀市", parent=policy.region)
    person = make_patient(county)
    settle_claim(claim=make_claim(person, make_hospital(county)), by=make_clerk())

    with pytest.raises(PolicyFileError, match=r"already has settlements.*create a new version"):
        load(EXAMPLE.replace("annual_cap: 250000", "annual_cap: 300000"), replace=True)
    assert BenefitPolicy.objects.get(policy=policy).basic_annual_cap == D("250000")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("ratio: 75,", "ratio: 175,", "line 10 benefits.basic.rules[1].ratio: needs a number between 0 and 100"),
        ("ratio: 80}", "ratio: 80, ceiling: 9}", "line 11 benefits.basic.rules[2].ceiling: unknown field"),
        ("visit_type: chronic, hospital_level: township", "visit_type: inpatient, hospital_level: county",
         "line 11 benefits.basic.rules[2]: there is already a rule for inpatient at county hospitals"),
        ("{category: tekun, deductible_reduction: 100", "{category: tekun_x, deductible_reduction: 100",
         "line 13 benefits.basic.tilts[1].category: unknown identity category 'tekun_x'"),
        ("    deductible: 15000\n", "    deductible: 15000\n    deductible_share: {of: income_all, percent: 50}\n",
         "benefits.critical.deductible: give either a deductible in yuan or a deductible_share"),
        ("    deductible: 15000\n", "    deductible_share: {of: income, percent: 50}\n",
         "line 15 benefits.critical.deductible_share.of: 'income' is not one of"),
        ("      - {ratio: 70}\n", "      - {up_to: 200000, ratio: 70}\n",
         "line 19 benefits.critical.segments[2].up_to: the last segment is open-ended"),
        ("      - {up_to: 100000, ratio: 60}\n", "      - {ratio: 60}\n",
         "line 18 benefits.critical.segments[1].up_to: only the last segment may leave up_to out"),
        ("      - {ratio: 70}\n", "      - {up_to: 50000, ratio: 65}\n      - {ratio: 70}\n",
         "line 19 benefits.critical.segments[2].up_to: segment bounds must increase"),
        ("{category: dibao, ratio: 70, annual_limit: 30000}", "{category: dibao, ratio: 70, annual_limit: 3.005}",
         "line 24 benefits.assistance[1].annual_limit: has more than two decimal places"),
        ("covers: [inpatient, outpatient, chronic]", "covers: [inpatient, inpatient]",
         "benefits.assistance[2].covers: a visit type is listed twice"),
        ("    - {category: dibao, ratio: 70, annual_limit: 30000}\n",
         "    - {category: dibao, ratio: 70, annual_limit: 30000}\n"
         "    - {category: dibao, ratio: 80, annual_limit: 1}\n",
         "line 25 benefits.assistance[2].category: category 'dibao' already has an assistance rule"),
        ("icd10: [C50, d05]", "icd10: []", "benefits.special_diseases[1].icd10: needs at least one ICD-10"),
        ("no_deposit_categories: [dibao, tekun]", "no_deposit_categories: [dibao, dibao]",
         "benefits.no_deposit_categories[2]: category 'dibao' is listed twice"),
        ("manual_working_days: 25", "manual_working_days: 0", "manual_working_days: needs a whole number between"),
        ("  basic:\n    annual_cap: 250000\n", "  basic:\n", "benefits.basic.annual_cap: is required"),
    ],
)
@pytest.mark.django_db
def test_a_malformed_benefits_section_is_rejected_whole_with_line_and_field(old, new, expected):
    assert old in EXAMPLE
    messages = problems(EXAMPLE.replace(old, new, 1))
    assert any(expected in message for message in messages), messages
    assert not PolicyVersion.objects.exists()
    assert not BenefitPolicy.objects.exists()


@pytest.mark.django_db
def test_every_problem_of_the_section_is_reported_at_once():
    text = EXAMPLE.replace("ratio: 75,", "ratio: 175,").replace("annual_limit: 30000", "annual_limit: -1")
    messages = problems(text)
    assert len(messages) == 2
    assert "line 10" in messages[0] and "line 24" in messages[1]


def test_first_error_line_numbers_match_the_example():
    lines = EXAMPLE.splitlines()
    assert lines[9].lstrip().startswith("- {visit_type: inpatient")  # line 10
    assert lines[23].lstrip().startswith("- {category: dibao, ratio: 70")  # line 24
