"""Every seed figure of SPEC §3.3 / §3.4, end to end: the shipped policy files (enrollment/policies/*.yaml) are
loaded with `manage.py load_policy --all`, people get identities, and the ledger services compute the subsidy.

Figures come from the four documents in seeds/: Chongqing 渝乡振发〔2022〕15号, Qiannan 黔南医保发〔2019〕36号,
Jin'an 金医保发〔2022〕18号, Guangdong 粤医保发〔2021〕33号.
"""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command

from enrollment import roles
from enrollment.models import Enrollment, PolicyVersion, Region
from enrollment.models.choices import FundingSource, Scheme
from enrollment.models.ledger import EnrollmentStatus
from enrollment.selectors import policy_for_plan_year
from enrollment.services.ledger import build_ledger, enrol_person, record_payment
from tests.factories import make_identity, make_person, make_region, make_region_year, make_user

D = Decimal
SEVENTY_PERCENT = ("dibao_edge", "returned_poverty", "unstable_lifted", "edge_vulnerable", "sudden_hardship")
MONITORED = ("unstable_lifted", "edge_vulnerable", "sudden_hardship")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def seeded(db):
    call_command("load_policy", "--all", stdout=io.StringIO())
    versions = {version.code: version for version in PolicyVersion.objects.all()}
    assert {"chongqing-2021", "chongqing-2022", "qiannan-2019", "jinan-2022", "guangdong-2021"} <= set(versions)
    return versions


@pytest.fixture
def clerk(seeded):
    # The ledger services check the clerk's region: a clerk of every province the seeds' policies cover.
    return make_user("seed_clerk", roles=(roles.CLERK,), regions=tuple(Region.objects.filter(parent=None)))


def person_with(region, *codes, valid_from=date(2021, 6, 1), **extra):
    person = make_person(region, **extra)
    for code in codes:
        make_identity(person, code, valid_from)
    return person


def subsidy_of(row):
    return row.subsidy_amount, (row.subsidy_category.code if row.subsidy_category else None)


def shares_of(row):
    return row.subsidy_province, row.subsidy_prefecture, row.subsidy_county


# ---------------------------------------------------------------------------------------------------------------
# Chongqing 2022 (渝乡振发〔2022〕15号, 问题一、问题二)
# ---------------------------------------------------------------------------------------------------------------


class TestChongqing:
    @pytest.fixture
    def county(self, seeded):
        chongqing = Region.objects.get(code="500000")
        return make_region("500101", "万州区", parent=chongqing, level="county")

    def enrol(self, person, clerk, year=2022, scheme=Scheme.RESIDENT_TIER1, on_date=date(2022, 2, 15)):
        return enrol_person(person=person, plan_year=year, scheme=scheme, by=clerk, on_date=on_date)

    def test_versions_split_at_the_transition(self, seeded, county):
        assert policy_for_plan_year(county, 2021) == seeded["chongqing-2021"]
        assert policy_for_plan_year(county, 2022) == seeded["chongqing-2022"]
        assert policy_for_plan_year(county, 2024) == seeded["chongqing-2022"]

    def test_tekun_full_tier1_contribution(self, county, clerk):
        row = self.enrol(person_with(county, "tekun"), clerk)
        assert row.contribution_due == D("320.00")
        assert subsidy_of(row) == (D("320.00"), "tekun")
        assert row.person_share == 0
        assert row.subsidy_funding_source == FundingSource.MEDICAL_ASSISTANCE

    def test_dibao_ninety_percent(self, county, clerk):
        row = self.enrol(person_with(county, "dibao"), clerk)
        assert subsidy_of(row) == (D("288.00"), "dibao")
        assert row.subsidy_funding_source == FundingSource.MEDICAL_ASSISTANCE

    @pytest.mark.parametrize("code", SEVENTY_PERCENT)
    def test_five_seventy_percent_categories(self, county, clerk, code):
        row = self.enrol(person_with(county, code), clerk)
        assert subsidy_of(row) == (D("224.00"), code)
        assert row.subsidy_funding_source == FundingSource.MEDICAL_ASSISTANCE

    def test_stable_lifted_phase_out(self, county, clerk):
        # The file gives the 2022 contribution standard only; the later years' standards are recorded here
        # (national standards 380 and 400 yuan) so that the phase-out figures themselves are what is tested.
        chongqing = Region.objects.get(code="500000")
        make_region_year(chongqing, 2023, tier1="380", tier2="665")
        make_region_year(chongqing, 2024, tier1="400", tier2="690")
        person = person_with(county, "stable_lifted", valid_from=date(2020, 1, 1))
        in_2022 = self.enrol(person, clerk, 2022, on_date=date(2022, 2, 15))
        in_2023 = self.enrol(person, clerk, 2023, on_date=date(2022, 12, 1))
        in_2024 = self.enrol(person, clerk, 2024, on_date=date(2023, 12, 1))
        assert subsidy_of(in_2022) == (D("100.00"), "stable_lifted")
        assert subsidy_of(in_2023) == (D("50.00"), "stable_lifted")
        assert subsidy_of(in_2024) == (D("0.00"), None)
        assert in_2024.contribution_due == D("400.00")
        # 衔接资金 / 社会捐赠, not the medical-assistance fund
        assert in_2022.subsidy_funding_source == in_2023.subsidy_funding_source == FundingSource.TRANSITION
        # the others stay on their percentages of the year's tier-1 standard
        dibao = person_with(county, "dibao")
        assert self.enrol(dibao, clerk, 2024, on_date=date(2023, 12, 1)).subsidy_amount == D("360.00")

    @pytest.mark.parametrize("code", ["tekun", "dibao", *SEVENTY_PERCENT])
    def test_tier2_gets_the_tier1_amount(self, county, clerk, code):
        row = self.enrol(person_with(county, code), clerk, scheme=Scheme.RESIDENT_TIER2)
        assert row.contribution_due == D("595.00")
        assert subsidy_of(row) == (D("320.00"), code)
        assert row.person_share == D("275.00")

    def test_stable_lifted_in_tier2_keeps_the_fixed_amount(self, county, clerk):
        row = self.enrol(person_with(county, "stable_lifted"), clerk, scheme=Scheme.RESIDENT_TIER2)
        assert subsidy_of(row) == (D("100.00"), "stable_lifted")

    def test_most_favourable_identity_dibao_and_stable_lifted(self, county, clerk):
        row = self.enrol(person_with(county, "dibao", "stable_lifted"), clerk)
        assert subsidy_of(row) == (D("288.00"), "dibao")  # not 388: never the sum
        assert row.subsidy_funding_source == FundingSource.MEDICAL_ASSISTANCE

    def test_no_top_up_after_a_later_identity_change(self, county, clerk):
        person = person_with(county, "stable_lifted", valid_from=date(2020, 1, 1))
        granted = self.enrol(person, clerk, on_date=date(2022, 1, 20))
        record_payment(enrollment=granted, amount=D("220.00"), paid_on=date(2022, 1, 20), by=clerk)
        make_identity(person, "tekun", date(2022, 4, 1))
        again = self.enrol(person, clerk, on_date=date(2022, 5, 1))
        assert subsidy_of(again) == (D("100.00"), "stable_lifted")
        assert again.subsidy_granted_on == date(2022, 1, 20)
        assert again.status == EnrollmentStatus.INSURED
        # a fresh enrolment with the same identities is computed normally (就高)
        twin = person_with(county, "stable_lifted", valid_from=date(2020, 1, 1))
        make_identity(twin, "tekun", date(2022, 4, 1))
        assert subsidy_of(self.enrol(twin, clerk, on_date=date(2022, 5, 1))) == (D("320.00"), "tekun")

    def test_build_ledger_lists_all_eight_categories(self, county, clerk):
        codes = ("tekun", "dibao", *SEVENTY_PERCENT, "stable_lifted")
        people = {code: person_with(county, code) for code in codes}
        ordinary = make_person(county)
        result = build_ledger(region=Region.objects.get(code="500000"), plan_year=2022, by=clerk,
                              on_date=date(2022, 1, 5))
        assert result.created == len(codes)
        rows = {row.person_id: row for row in Enrollment.objects.filter(plan_year=2022)}
        assert ordinary.pk not in rows
        expected = {"tekun": "320.00", "dibao": "288.00", "stable_lifted": "100.00"}
        for code, person in people.items():
            assert rows[person.pk].subsidy_amount == D(expected.get(code, "224.00")), code


# ---------------------------------------------------------------------------------------------------------------
# Qiannan 2019 (黔南医保发〔2019〕36号 二(二)、二(三))
# ---------------------------------------------------------------------------------------------------------------


class TestQiannan:
    def region(self, code):
        return Region.objects.get(code=code)

    def enrol(self, person, clerk, on_date=date(2019, 3, 1)):
        return enrol_person(person=person, plan_year=2019, by=clerk, on_date=on_date)

    def test_tekun_full(self, seeded, clerk):
        row = self.enrol(person_with(self.region("522725"), "tekun", valid_from=date(2018, 1, 1)), clerk)
        assert row.contribution_due == D("250.00")
        assert subsidy_of(row) == (D("250.00"), "tekun")
        assert row.subsidy_funding_source == FundingSource.MEDICAL_ASSISTANCE
        assert shares_of(row) == (0, 0, 0)  # only the registered-poor subsidy is shared between levels

    @pytest.mark.parametrize(
        ("county", "shares"),
        [
            ("522725", ("50.00", "20.00", "30.00")),  # 瓮安县, class 2: 5 : 2 : 3
            ("522723", ("50.00", "20.00", "30.00")),  # 贵定县, class 2
            ("522732", ("100.00", "0.00", "0.00")),  # 三都县, class 1: the province
            ("522728", ("100.00", "0.00", "0.00")),  # 罗甸县, class 1
            ("522701", ("0.00", "0.00", "100.00")),  # 都匀市, class 3: the county
            ("522702", ("0.00", "0.00", "100.00")),  # 福泉市, class 3
        ],
    )
    def test_registered_poor_hundred_yuan_split_by_county_class(self, seeded, clerk, county, shares):
        row = self.enrol(person_with(self.region(county), "registered_poor", valid_from=date(2018, 1, 1)), clerk)
        assert subsidy_of(row) == (D("100.00"), "registered_poor")
        assert shares_of(row) == tuple(D(s) for s in shares)
        assert row.person_share == D("150.00")

    def test_most_favourable_of_tekun_and_registered_poor(self, seeded, clerk):
        row = self.enrol(person_with(self.region("522725"), "registered_poor", "tekun", valid_from=date(2018, 1, 1)),
                         clerk)
        assert subsidy_of(row) == (D("250.00"), "tekun")
        assert shares_of(row) == (0, 0, 0)

    def test_august_31_rule(self, seeded, clerk):
        county = self.region("522701")
        on_time = person_with(county, "registered_poor", valid_from=date(2019, 8, 31))
        late = person_with(county, "registered_poor", valid_from=date(2019, 9, 1))
        result = build_ledger(region=self.region("522700"), plan_year=2019, by=clerk, on_date=date(2019, 10, 1))
        assert result.created == 1
        assert Enrollment.objects.get(plan_year=2019).person == on_time
        assert subsidy_of(self.enrol(late, clerk, on_date=date(2019, 10, 1))) == (D("0.00"), None)


# ---------------------------------------------------------------------------------------------------------------
# Jin'an 2022 (金医保发〔2022〕18号 三(二))
# ---------------------------------------------------------------------------------------------------------------


class TestJinan:
    @pytest.mark.parametrize(
        ("code", "amount"),
        [("tekun", "320.00"), ("dibao", "288.00"), ("returned_poverty", "256.00"),
         *((code, "160.00") for code in MONITORED)],
    )
    def test_fixed_subsidies(self, seeded, clerk, code, amount):
        jinan = Region.objects.get(code="341502")
        row = enrol_person(person=person_with(jinan, code), plan_year=2022, by=clerk, on_date=date(2021, 12, 1))
        assert row.contribution_due == D("320.00")
        assert subsidy_of(row) == (D(amount), code)
        assert row.subsidy_funding_source == FundingSource.MEDICAL_ASSISTANCE

    def test_most_favourable_of_dibao_and_monitored(self, seeded, clerk):
        jinan = Region.objects.get(code="341502")
        row = enrol_person(person=person_with(jinan, "unstable_lifted", "dibao"), plan_year=2022, by=clerk,
                           on_date=date(2021, 12, 1))
        assert subsidy_of(row) == (D("288.00"), "dibao")

    def test_newborn_within_three_months_covered_from_birth(self, seeded, clerk):
        jinan = Region.objects.get(code="341502")
        baby = make_person(jinan, birth=date(2022, 4, 10))
        row = enrol_person(person=baby, plan_year=2022, by=clerk, on_date=date(2022, 7, 10))
        assert row.coverage_start == date(2022, 4, 10)
        late = make_person(jinan, birth=date(2022, 4, 10))
        assert enrol_person(person=late, plan_year=2022, by=clerk, on_date=date(2022, 7, 11)).coverage_start == date(
            2022, 1, 1)


# ---------------------------------------------------------------------------------------------------------------
# Guangdong 2021 (粤医保发〔2021〕33号 二(一)1、2)
# ---------------------------------------------------------------------------------------------------------------


class TestGuangdong:
    @pytest.fixture
    def district(self, seeded):
        guangdong = Region.objects.get(code="440000")
        city = make_region("440100", "广州市", parent=guangdong, level="prefecture")
        return make_region("440103", "荔湾区", parent=city, level="county")

    @pytest.mark.parametrize("code", ["tekun", "orphan", "unsupported_child", "dibao", "returned_poverty",
                                      "dibao_edge"])
    def test_six_categories_full(self, district, clerk, code):
        row = enrol_person(person=person_with(district, code), plan_year=2021, by=clerk, on_date=date(2021, 7, 20))
        assert row.contribution_due == D("320.00")
        assert subsidy_of(row) == (D("320.00"), code)
        assert row.subsidy_funding_source == FundingSource.MEDICAL_ASSISTANCE

    @pytest.mark.parametrize("code", MONITORED)
    def test_monitored_fixed_local_amount(self, district, clerk, code):
        row = enrol_person(person=person_with(district, code), plan_year=2021, by=clerk, on_date=date(2021, 7, 20))
        assert subsidy_of(row) == (D("160.00"), code)

    def test_stable_lifted_none(self, district, clerk):
        person = person_with(district, "stable_lifted")
        row = enrol_person(person=person, plan_year=2021, by=clerk, on_date=date(2021, 7, 20))
        assert subsidy_of(row) == (D("0.00"), None)
        assert row.person_share == D("320.00")

    def test_stable_lifted_is_not_listed_by_the_ledger_build(self, district, clerk):
        person_with(district, "stable_lifted")
        dibao = person_with(district, "dibao", "stable_lifted")
        result = build_ledger(region=district, plan_year=2021, by=clerk, on_date=date(2021, 7, 20))
        assert (result.created, result.not_subsidised) == (1, 1)
        assert subsidy_of(Enrollment.objects.get(person=dibao)) == (D("320.00"), "dibao")

    def test_green_channel_mid_year_after_the_cutoff(self, district, clerk):
        person = person_with(district, "dibao", valid_from=date(2021, 10, 10))
        row = enrol_person(person=person, plan_year=2021, by=clerk, on_date=date(2021, 10, 20))
        assert row.coverage_start == date(2021, 10, 20)
        assert subsidy_of(row) == (D("320.00"), "dibao")
