"""The `benefits:` sections of the five shipped policy files: every document figure is a row, local values are
labelled, a broken section rejects the file whole with line and field, and the loaded rules settle claims.

The format itself (every field, every validation) is tested in ``test_policy_benefits_file.py``; this module is
about the seed content in ``enrollment/policies/``.
"""

import re
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from claims.models import (
    AssistanceBenefitRule,
    BasicBenefitRule,
    BenefitPolicy,
    CategoryTilt,
    CriticalSegment,
    PaymentLine,
    SpecialDisease,
)
from claims.models.choices import DeductibleBasis, HospitalLevel, Layer, Referral
from claims.services.settlement import settle_claim
from enrollment.management.commands.load_policy import SHIPPED_DIR, shipped_policy_files
from enrollment.models import PolicyVersion, Region
from enrollment.models.choices import FundingSource, Scheme
from enrollment.policyfile import PolicyFileError
from enrollment.services.policy import load_policy_document
from tests.factories import make_region

from .factories import make_claim, make_clerk, make_enrollment, make_hospital, make_patient

D = Decimal
LOCAL = "地方取值（文件未规定）"
SEVEN = ("tekun", "dibao", "dibao_edge", "returned_poverty", "unstable_lifted", "edge_vulnerable", "sudden_hardship")


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def load_all(*args) -> str:
    out = StringIO()
    call_command("load_policy", "--all", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def shipped_text(code: str) -> str:
    return (SHIPPED_DIR / f"{code}.yaml").read_text(encoding="utf-8")


def line_of(text: str, fragment: str) -> int:
    """1-based line of the only line holding `fragment`."""
    hits = [number for number, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(hits) == 1, (fragment, hits)
    return hits[0]


def tilts(code: str, layer: str) -> dict[str, tuple]:
    return {
        tilt.category.code: (tilt.deductible_reduction, tilt.ratio_plus, tilt.ratio_floor, tilt.cap_removed)
        for tilt in CategoryTilt.objects.filter(policy__code=code, layer=layer).select_related("category")
    }


def assistance(code: str) -> dict[str, tuple]:
    return {
        rule.category.code: (rule.ratio, rule.covers_inpatient, rule.covers_outpatient, rule.covers_chronic)
        for rule in AssistanceBenefitRule.objects.filter(policy__code=code).select_related("category")
    }


def segments(code: str) -> list[tuple]:
    return list(CriticalSegment.objects.filter(policy__code=code).values_list("upper_bound", "ratio"))


def no_deposit(code: str) -> set[str]:
    return set(BenefitPolicy.objects.get(policy__code=code).no_deposit_categories.values_list("code", flat=True))


def benefit_snapshot() -> dict:
    """Every benefit row of every version as comparable values (primary keys left out: replace recreates rows)."""
    return {
        "settings": sorted(
            (b.policy.code, b.basic_annual_cap, b.critical_deductible_basis, b.critical_deductible,
             b.critical_annual_cap, b.out_of_catalog_limit, b.tilt_requires_referral, b.funding_basic,
             b.funding_critical, b.advance_ratio, b.advance_working_days, b.final_working_days,
             b.manual_working_days, tuple(sorted(c.code for c in b.no_deposit_categories.all())))
            for b in BenefitPolicy.objects.select_related("policy")),
        "basic": sorted(BasicBenefitRule.objects.values_list(
            "policy__code", "visit_type", "hospital_level", "deductible", "ratio", "unreferred_ratio")),
        "segments": sorted(CriticalSegment.objects.values_list("policy__code", "upper_bound", "ratio"),
                           key=lambda row: (row[0], row[1] is None, row[1] or 0)),
        "tilts": sorted(CategoryTilt.objects.values_list(
            "policy__code", "category__code", "layer", "deductible_reduction", "ratio_plus", "ratio_floor",
            "cap_removed")),
        "assistance": sorted(AssistanceBenefitRule.objects.values_list(
            "policy__code", "category__code", "ratio", "deductible", "annual_limit", "covers_inpatient",
            "covers_outpatient", "covers_chronic", "funding_source")),
        "diseases": sorted(SpecialDisease.objects.values_list("policy__code", "code", "name", "icd10_prefixes",
                                                              "quota")),
    }


# ---------------------------------------------------------------------------------------------- shipped content

@pytest.mark.django_db
def test_every_shipped_file_loads_with_its_benefits():
    output = load_all()
    assert "Loaded 5 policy file(s)." in output
    codes = set(PolicyVersion.objects.values_list("code", flat=True))
    assert len(codes) == 5
    assert set(BenefitPolicy.objects.values_list("policy__code", flat=True)) == codes
    for code in codes:
        # Every version can settle every visit type at every hospital level it lists, and has a critical layer.
        rules = BasicBenefitRule.objects.filter(policy__code=code)
        assert set(rules.filter(visit_type="inpatient").values_list("hospital_level", flat=True)) == set(
            HospitalLevel.values), code
        assert segments(code)[-1][0] is None, code
        settings = BenefitPolicy.objects.get(policy__code=code)
        assert (settings.advance_ratio, settings.advance_working_days, settings.final_working_days,
                settings.manual_working_days) == (D("0.70"), 10, 15, 25), code


def test_every_benefits_section_labels_its_local_values():
    for path in shipped_policy_files():
        text = path.read_text(encoding="utf-8")
        section = text[text.index("\nbenefits:"):]
        assert LOCAL in section, path.name


@pytest.mark.django_db
def test_qiannan_2019_benefits():
    load_all()
    code = "qiannan-2019"
    settings = BenefitPolicy.objects.get(policy__code=code)
    # 二（四）1 fund cap ≥ 25 万; 二（六）out-of-catalog ≤ 10 %; 二（七）no tilt without referral; 二（五）SLA.
    assert (settings.basic_annual_cap, settings.out_of_catalog_limit, settings.tilt_requires_referral) == (
        D("250000"), D("0.10"), True)
    assert BasicBenefitRule.objects.get(policy__code=code, visit_type="inpatient", hospital_level="county").ratio \
        == D("0.75")
    assert not tilts(code, Layer.BASIC)
    # 二（四）2: deductible −50 %, +5 points; the cap is removed for registered poor people only.
    assert tilts(code, Layer.CRITICAL) == {
        "registered_poor": (D("0.5"), D("0.05"), None, True),
        "tekun": (D("0.5"), D("0.05"), None, False),
    }
    # 二（四）3: 70 % / 100 % of inpatient costs.
    assert assistance(code) == {
        "registered_poor": (D("0.70"), True, False, False),
        "tekun": (D("1"), True, False, False),
        # Local value (SPEC §4.2, 国办发〔2021〕42号): the apply-to-receive category, inpatient and chronic.
        "illness_poor": (D("0.60"), True, False, True),
    }
    assert no_deposit(code) == {"registered_poor", "tekun"}


@pytest.mark.django_db
def test_qiannan_special_treatment_diseases():
    load_all()
    diseases = {d.name: d for d in SpecialDisease.objects.filter(policy__code="qiannan-2019")}
    # 21 diseases in 二（四）4; neuroblastoma has no ICD-10 category of its own and waits for the local code list.
    assert len(diseases) == 20
    assert "神经母细胞瘤" not in diseases
    assert "神经母细胞瘤" in shipped_text("qiannan-2019")
    for name in ("儿童先天性心脏病", "儿童白血病", "白内障", "终末期肾病", "食管癌", "胃癌", "结肠癌", "直肠癌", "肺癌",
                 "肝癌", "乳腺癌", "宫颈癌", "急性心肌梗死", "尘肺", "儿童淋巴瘤", "骨肉瘤", "血友病", "地中海贫血",
                 "唇腭裂", "尿道下裂"):
        assert diseases[name].icd10_prefixes, name
        assert diseases[name].quota is None, name  # the document gives no quota
    assert diseases["乳腺癌"].matches("C50.9")
    assert diseases["宫颈癌"].matches("c53.0")
    assert diseases["儿童白血病"].matches("C92.4") and not diseases["儿童白血病"].matches("C92.0")
    assert diseases["儿童先天性心脏病"].matches("Q21.3")
    assert not any(d.matches("C61") for d in diseases.values())  # prostate cancer is not on the list


@pytest.mark.django_db
def test_chongqing_2021_old_rules():
    load_all()
    code = "chongqing-2021"
    lifted = ("registered_poor", "stable_lifted", "unstable_lifted", "returned_poverty")
    # 问题三 "两升两降": basic +10 points / −50 % deductible, critical −50 % / +5 points / no cap.
    assert tilts(code, Layer.BASIC) == {c: (D("0.5"), D("0.10"), None, False) for c in lifted}
    assert tilts(code, Layer.CRITICAL) == {c: (D("0.5"), D("0.05"), None, True) for c in lifted}
    assert no_deposit(code) == set(lifted)
    # "区域内区县级医院基本医保住院": the basic tilt is limited to county-level hospitals and inpatient care.
    limits = CategoryTilt.objects.filter(policy__code=code, layer=Layer.BASIC).values_list(
        "hospital_levels", "visit_types", "schemes")
    assert {(tuple(h), tuple(v), tuple(s)) for h, v, s in limits} == {(("county",), ("inpatient",), ())}
    assert all(tilt.hospital_levels == tilt.visit_types == tilt.schemes == []
               for tilt in CategoryTilt.objects.filter(policy__code=code, layer=Layer.CRITICAL))


@pytest.mark.django_db
def test_chongqing_2022_transition_rules():
    load_all()
    code = "chongqing-2022"
    # 问题三 "一升一降一取消": the basic tilt is gone, the critical tilt stays for the seven categories.
    assert not tilts(code, Layer.BASIC)
    assert tilts(code, Layer.CRITICAL) == {c: (D("0.5"), D("0.05"), None, True) for c in SEVEN}
    # 问题七: key groups at least 70 %, the others at least 60 %; 问题六: inpatient and chronic outpatient.
    ratios = {c: row[0] for c, row in assistance(code).items()}
    assert ratios == {"tekun": D("0.70"), "dibao": D("0.70"), "returned_poverty": D("0.70"),
                      "dibao_edge": D("0.60"), "unstable_lifted": D("0.60"), "edge_vulnerable": D("0.60"),
                      "sudden_hardship": D("0.60"), "illness_poor": D("0.60")}
    assert all(row[1:] == (True, False, True) for row in assistance(code).values())
    # 问题九: no deposit for dibao, tekun, the monitored and returned poverty — not for plain lifted people.
    assert no_deposit(code) == {"dibao", "tekun", "unstable_lifted", "edge_vulnerable", "sudden_hardship",
                                "returned_poverty"}
    assert BenefitPolicy.objects.get(policy__code=code).out_of_catalog_limit is None


@pytest.mark.django_db
def test_jinan_2022_benefits():
    load_all()
    code = "jinan-2022"
    assert not tilts(code, Layer.BASIC)
    # 二（二）: 职工医保 80 %, 居民医保 70 % inpatient (county level).
    county = dict(BasicBenefitRule.objects.filter(policy__code=code, visit_type="inpatient", hospital_level="county")
                  .values_list("scheme", "ratio"))
    assert county == {"": D("0.70"), "employee": D("0.80")}
    assert set(BasicBenefitRule.objects.filter(policy__code=code, visit_type="outpatient")
               .values_list("ratio", flat=True)) == {D("0.50")}
    # 三（三）2: at least 60 %, tilt −50 % / +5 points / no cap for tekun, dibao, returned poverty.
    assert min(ratio for _bound, ratio in segments(code)) == D("0.60")
    assert tilts(code, Layer.CRITICAL) == {
        c: (D("0.5"), D("0.05"), None, True) for c in ("tekun", "dibao", "returned_poverty")}
    # 二（五）: tekun 90 %, dibao 75 %.
    assert assistance(code)["tekun"][0] == D("0.90")
    assert assistance(code)["dibao"][0] == D("0.75")


@pytest.mark.django_db
def test_guangdong_2021_benefits():
    load_all()
    code = "guangdong-2021"
    settings = BenefitPolicy.objects.get(policy__code=code)
    # 二（二）6: deductible 50 % of per-capita disposable income, ratio 60 %.
    assert (settings.critical_deductible_basis, settings.critical_deductible) == (DeductibleBasis.INCOME_ALL, D("0.5"))
    assert segments(code) == [(None, D("0.60"))]
    assert tilts(code, Layer.CRITICAL) == {
        "dibao": (D("0.7"), D("0"), D("0.70"), True),
        "returned_poverty": (D("0.7"), D("0"), D("0.70"), True),
        "tekun": (D("0.8"), D("0"), D("0.80"), True),
        "orphan": (D("0.8"), D("0"), D("0.80"), True),
        "unsupported_child": (D("0.8"), D("0"), D("0.80"), True),
    }
    # 二（二）7: ≥ 80 % / 100 %, inpatient, general outpatient and special outpatient alike.
    rows = assistance(code)
    assert {c: rows[c][0] for c in ("dibao", "returned_poverty", "dibao_edge")} == dict.fromkeys(
        ("dibao", "returned_poverty", "dibao_edge"), D("0.80"))
    assert {c: rows[c][0] for c in ("tekun", "orphan", "unsupported_child")} == dict.fromkeys(
        ("tekun", "orphan", "unsupported_child"), D("1"))
    assert all(row[1:] == (True, True, True) for row in rows.values())
    # 二（三）12: the rural low-income categories count the inpatient deductible continuously.
    assert set(settings.continuous_deductible_categories.values_list("code", flat=True)) == {
        "tekun", "orphan", "unsupported_child", "dibao", "returned_poverty", "dibao_edge", "unstable_lifted",
        "edge_vulnerable", "sudden_hardship", "illness_poor"}


# ------------------------------------------------------------------------------------------- broken seed files

@pytest.mark.parametrize(
    ("code", "old", "new", "path", "message"),
    [
        ("qiannan-2019", "{category: registered_poor, ratio: 70,", "{category: registered_poor, ratio: 170,",
         "benefits.assistance[1].ratio", "needs a number between 0 and 100"),
        ("qiannan-2019", "- {visit_type: chronic, hospital_level: city, deductible: 0, ratio: 60}",
         "- {visit_type: chronic, hospital_level: county, deductible: 0, ratio: 60}",
         "benefits.basic.rules[9]", "there is already a rule for chronic at county hospitals"),
        ("chongqing-2022", "- {category: sudden_hardship, deductible_reduction: 50",
         "- {category: sudden_hardship, deductible_reductoin: 50",
         "benefits.critical.tilts[7].deductible_reductoin", "did you mean 'deductible_reduction'?"),
        ("chongqing-2022", "no_deposit_categories: [dibao, tekun,", "no_deposit_categories: [dibao, tekum,",
         "benefits.no_deposit_categories[2]", "unknown identity category 'tekum'"),
        ("jinan-2022", "- {up_to: 150000, ratio: 65}", "- {up_to: 40000, ratio: 65}",
         "benefits.critical.segments[2].up_to", "segment bounds must increase"),
        ("guangdong-2021", "deductible_share: {of: income_all, percent: 50}",
         "deductible_share: {of: income_national, percent: 50}",
         "benefits.critical.deductible_share.of", "'income_national' is not one of"),
        ("guangdong-2021", "- {category: orphan, ratio: 100, annual_limit: 100000, deductible: 0,",
         "- {category: orphan, ratio: 100, annual_limit: 100000, deductible: 0, funding_source: charity,",
         "benefits.assistance[5].funding_source", "'charity' is not one of"),
    ],
)
@pytest.mark.django_db
def test_a_broken_benefits_section_rejects_the_shipped_file_whole(code, old, new, path, message):
    text = shipped_text(code)
    assert text.count(old) == 1
    broken = text.replace(old, new)
    with pytest.raises(PolicyFileError) as caught:
        load_policy_document(document=broken, source_name=f"{code}.yaml")
    expected = f"{code}.yaml line {line_of(broken, new)} {path}: "
    assert [m for m in caught.value.messages if m.startswith(expected) and message in m], caught.value.messages
    assert not PolicyVersion.objects.exists()
    assert not Region.objects.exists()
    assert not BenefitPolicy.objects.exists()


@pytest.mark.django_db
def test_one_broken_file_stops_the_whole_run(tmp_path):
    good = [tmp_path / path.name for path in shipped_policy_files()]
    for target, path in zip(good, shipped_policy_files(), strict=True):
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    broken = tmp_path / "jinan-2022.yaml"
    broken.write_text(broken.read_text(encoding="utf-8").replace("ratio: 90,", "ratio: 0.9x,"), encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError, match=r"1 problem\(s\) found; nothing was written"):
        call_command("load_policy", *map(str, good), stdout=StringIO(), stderr=err)
    assert re.search(r"jinan-2022\.yaml line \d+ benefits\.assistance\[1\]\.ratio: needs a number", err.getvalue())
    assert not PolicyVersion.objects.exists()
    assert not BenefitPolicy.objects.exists()


# ------------------------------------------------------------------------------------------------------ replace

@pytest.mark.django_db
def test_reloading_the_shipped_files_with_replace_rebuilds_the_same_benefits():
    load_all()
    before = benefit_snapshot()
    assert len(before["assistance"]) > 20
    load_all("--replace")
    assert benefit_snapshot() == before
    # One live settings row per version: replace deleted the old rows (with history) and wrote new ones.
    assert BenefitPolicy.objects.count() == 5
    deleted = BenefitPolicy.history.filter(history_type="-", policy__code="qiannan-2019")
    assert deleted.count() == 1
    assert "qiannan-2019.yaml" in deleted.get().history_change_reason


@pytest.mark.django_db
def test_replace_with_an_edited_shipped_file_updates_its_benefits():
    load_all()
    policy = PolicyVersion.objects.get(code="qiannan-2019")
    edited = shipped_text("qiannan-2019").replace(
        "- {category: registered_poor, ratio: 70,", "- {category: registered_poor, ratio: 75,").replace(
        "  out_of_catalog_limit: 10\n", "  out_of_catalog_limit: 8\n")
    again = load_policy_document(document=edited, source_name="qiannan-2019.yaml", replace=True)
    assert again.pk == policy.pk
    assert assistance("qiannan-2019")["registered_poor"][0] == D("0.75")
    assert BenefitPolicy.objects.get(policy=policy).out_of_catalog_limit == D("0.08")
    # The other versions are untouched.
    assert assistance("jinan-2022")["tekun"][0] == D("0.90")


# -------------------------------------------------------------------------------------- settling under seeds

def settle_one(region: Region, codes: tuple[str, ...], year: int, discharged: date, **claim):
    person = make_patient(region, codes=codes, years=(year,), identity_from=date(year - 1, 1, 1))
    hospital = make_hospital(region, level=HospitalLevel.COUNTY)
    made = make_claim(person, hospital, admitted_on=discharged.replace(day=1), discharged_on=discharged, **claim)
    settlement = settle_claim(claim=made, by=make_clerk())
    parts = (settlement.basic, settlement.critical, settlement.assistance, settlement.hospital_borne,
             settlement.patient_pays)
    assert sum(parts) == made.total_cost  # the invariant, to the fen
    return settlement, parts


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        # basic (52 000 − 500) × 75 % = 38 625; critical (13 375 − 7 000 × 50 %) × 65 % = 6 418.75;
        # assistance (13 375 − 6 418.75) × 70 % = 4 869.375 → 4 869.38; hospital 8 000 − 10 % × 60 000 = 2 000.
        ("registered_poor", ("38625.00", "6418.75", "4869.38", "2000.00", "8086.87")),
        # tekun: the same critical tilt (the cap stays but is not reached), assistance 100 % of 6 956.25; the
        # patient pays only the 10 % out-of-catalog share the hospital may charge.
        ("tekun", ("38625.00", "6418.75", "6956.25", "2000.00", "6000.00")),
    ],
)
@pytest.mark.django_db
def test_a_qiannan_inpatient_claim_settles_under_the_loaded_seed(identity, expected):
    call_command("load_policy", str(SHIPPED_DIR / "qiannan-2019.yaml"), stdout=StringIO())
    duyun = Region.objects.get(code="522701")  # 都匀市, created by the file

    settlement, parts = settle_one(duyun, (identity,), 2019, date(2019, 7, 10))

    assert settlement.policy.code == "qiannan-2019"
    assert parts == tuple(D(v) for v in expected)
    funding = dict(PaymentLine.objects.filter(settlement=settlement).values_list("layer", "funding_source"))
    assert (funding[Layer.BASIC], funding[Layer.CRITICAL], funding[Layer.ASSISTANCE], funding[Layer.HOSPITAL]) == (
        FundingSource.BASIC_FUND, FundingSource.CRITICAL_ILLNESS, FundingSource.MEDICAL_ASSISTANCE,
        FundingSource.HOSPITAL)


@pytest.mark.django_db
def test_a_guangdong_claim_uses_half_of_last_years_income_as_deductible():
    call_command("load_policy", str(SHIPPED_DIR / "guangdong-2021.yaml"), stdout=StringIO())
    county = make_region("440103", "荔湾区", parent=make_region(
        "440100", "广州市", parent=Region.objects.get(code="440000")))

    settlement, parts = settle_one(county, ("dibao",), 2021, date(2021, 9, 20))

    # Deductible 41 029 (2020, the file's statistics) × 50 % = 20 514.50, dibao −70 % → 6 154.35, ratio ≥ 70 %:
    # basic (52 000 − 500) × 70 % = 36 050; critical (15 950 − 6 154.35) × 70 % = 6 856.955 → 6 856.96;
    # assistance (15 950 − 6 856.96) × 80 % = 7 274.432 → 7 274.43; no out-of-catalog control in Guangdong.
    assert parts == (D("36050.00"), D("6856.96"), D("7274.43"), D("0.00"), D("9818.61"))
    assert settlement.critical_category.code == "dibao"


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        # Monitored: critical (15 810 − 7 500) × 65 % = 5 401.50; assistance (15 810 − 5 401.50 − 3 000) × 60 %.
        ("unstable_lifted", ("36190.00", "5401.50", "4445.10", "0.00", "13963.40")),
        # Plain lifted people lost every tilt in 2022 and have no assistance rule: (15 810 − 15 000) × 60 % = 486.
        ("stable_lifted", ("36190.00", "486.00", "0.00", "0.00", "23324.00")),
    ],
)
@pytest.mark.django_db
def test_chongqing_2022_tilts_the_monitored_but_not_the_plainly_lifted(identity, expected):
    call_command("load_policy", str(SHIPPED_DIR / "chongqing-2022.yaml"), stdout=StringIO())
    county = make_region("500101", "万州区", parent=Region.objects.get(code="500000"), level="county")

    _settlement, parts = settle_one(county, (identity,), 2022, date(2022, 5, 10))

    assert parts == tuple(D(v) for v in expected)


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        # 两升两降 at the county hospital: basic (52 000 − 150) × 80 % = 41 480; critical (10 520 − 7 500) × 65 % =
        # 1 963; assistance (10 520 − 1 963) × 70 % = 5 989.90; hospital 8 000 − 10 % × 60 000 = 2 000.
        (HospitalLevel.COUNTY, ("41480.00", "1963.00", "5989.90", "2000.00", "8567.10")),
        # a city hospital: no basic tilt, (52 000 − 800) × 55 % = 28 160; critical (23 840 − 7 500) × 65 % = 10 621;
        # assistance (23 840 − 10 621) × 70 % = 9 253.30.
        (HospitalLevel.CITY, ("28160.00", "10621.00", "9253.30", "2000.00", "9965.70")),
    ],
)
@pytest.mark.django_db
def test_chongqing_2021_basic_tilt_only_at_county_hospitals(level, expected):
    call_command("load_policy", str(SHIPPED_DIR / "chongqing-2021.yaml"), stdout=StringIO())
    county = make_region("500101", "万州区", parent=Region.objects.get(code="500000"), level="county")
    person = make_patient(county, codes=("registered_poor",), years=(2021,), identity_from=date(2020, 1, 1))
    claim = make_claim(person, make_hospital(county, level=level), admitted_on=date(2021, 7, 1),
                       discharged_on=date(2021, 7, 10))

    settlement = settle_claim(claim=claim, by=make_clerk())

    assert (settlement.basic, settlement.critical, settlement.assistance, settlement.hospital_borne,
            settlement.patient_pays) == tuple(D(v) for v in expected)


@pytest.mark.django_db
def test_jinan_2022_employee_scheme_inpatient_ratio():
    call_command("load_policy", str(SHIPPED_DIR / "jinan-2022.yaml"), stdout=StringIO())
    jinan = Region.objects.get(code="341502")
    employee = make_patient(jinan, codes=(), years=())
    make_enrollment(employee, 2022, scheme=Scheme.EMPLOYEE)
    resident = make_patient(jinan, codes=(), years=(2022,))
    hospital = make_hospital(jinan, level=HospitalLevel.COUNTY)

    paid = [settle_claim(claim=make_claim(person, hospital, admitted_on=date(2022, 6, 1)), by=make_clerk()).basic
            for person in (employee, resident)]

    # (52 000 − 500) × 80 % = 41 200 for the employee scheme, × 70 % = 36 050 for the resident scheme
    assert paid == [D("41200.00"), D("36050.00")]


@pytest.mark.django_db
def test_guangdong_2021_referred_admission_pays_only_the_deductible_difference():
    call_command("load_policy", str(SHIPPED_DIR / "guangdong-2021.yaml"), stdout=StringIO())
    county = make_region("440103", "荔湾区", parent=make_region(
        "440100", "广州市", parent=Region.objects.get(code="440000")))
    person = make_patient(county, codes=("dibao",), years=(2021,))
    first = make_claim(person, make_hospital(county, level=HospitalLevel.COUNTY), admitted_on=date(2021, 3, 1),
                       referral=Referral.NOT_REQUIRED, total_cost="3000.00", policy_scope_cost="3000.00")
    second = make_claim(person, make_hospital(county, level=HospitalLevel.CITY), admitted_on=date(2021, 5, 1),
                        referral=Referral.REFERRED, total_cost="6000.00", policy_scope_cost="6000.00")
    clerk = make_clerk()

    # county (3 000 − 500) × 70 % = 1 750; referred to the city: (6 000 − (800 − 500)) × 65 % = 3 705
    assert settle_claim(claim=first, by=clerk).basic == D("1750.00")
    assert settle_claim(claim=second, by=clerk).basic == D("3705.00")
