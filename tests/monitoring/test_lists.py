"""Each list's rule at its thresholds: one fen below, exactly at, one fen above."""

from datetime import date
from decimal import Decimal

import pytest

from claims.models import HospitalBatch
from enrollment.models import SubsidyRule
from enrollment.models.ledger import EnrollmentStatus
from monitoring import lists
from monitoring.models import Reason
from tests.claims.factories import make_enrollment, make_hospital
from tests.factories import category, make_household, make_identity, make_person, make_region_year

from .factories import manual_case, monitored_policy, settled

D = Decimal
NIGHT = date(2024, 6, 28)  # a Friday


def reasons(result):
    return sorted((c.reason, c.subject_key) for c in result.candidates)


@pytest.fixture
def policy(regions):
    return monitored_policy(regions["prefecture"])


@pytest.mark.django_db
@pytest.mark.parametrize(("oop", "listed"), [("9999.99", False), ("10000.00", False), ("10000.01", True)])
def test_high_cost_relapse_person_threshold(regions, policy, oop, listed):
    person = make_person(regions["a"])
    make_identity(person, "unstable_lifted", date(2020, 1, 1))
    settled(person, policy=policy, total=oop, scope=oop)
    result = lists.high_cost(regions["a"], NIGHT)
    expected = [(Reason.RELAPSE_PERSON, f"p:{person.pk}")] if listed else []
    assert [r for r in reasons(result) if r[1].startswith("p:")] == expected
    if listed:
        assert result.candidates[0].figures == {"out_of_pocket": oop, "threshold": "10000.00", "year": 2024}


@pytest.mark.django_db
@pytest.mark.parametrize(("oop", "listed"), [("25999.99", False), ("26000.00", False), ("26000.01", True)])
def test_high_cost_other_rural_resident_threshold(regions, policy, oop, listed):
    person = make_person(regions["a"])
    # Two claims: the list sums the year, not one bill.
    settled(person, policy=policy, total="6000.00", scope="6000.00")
    rest = str(D(oop) - D("6000.00"))
    settled(person, policy=policy, total=rest, scope=rest)
    result = lists.high_cost(regions["a"], NIGHT)
    assert reasons(result) == ([(Reason.POVERTY_PERSON, f"p:{person.pk}")] if listed else [])


@pytest.mark.django_db
def test_high_cost_household_sums_its_members_and_ignores_other_years(regions, policy):
    household = make_household(regions["a"])
    first, second = make_person(regions["a"], household=household), make_person(regions["a"], household=household)
    make_identity(second, "returned_poverty", date(2020, 1, 1))
    settled(first, policy=policy, total="6000.00", scope="6000.00")
    settled(second, policy=policy, total="4000.01", scope="4000.01")
    settled(second, policy=policy, total="50000.00", scope="50000.00", year=2023)
    result = lists.high_cost(regions["a"], NIGHT)
    assert reasons(result) == [(Reason.RELAPSE_HOUSEHOLD, f"h:{household.pk}")]
    assert result.candidates[0].figures["out_of_pocket"] == "10000.01"


@pytest.mark.django_db
@pytest.mark.parametrize(("oop", "listed"), [("7499.99", False), ("7500.00", False), ("7500.01", True)])
def test_high_cost_share_of_last_years_rural_income(regions, oop, listed):
    policy = monitored_policy(regions["prefecture"], relapse=("rural_income_share", "0.5"),
                              poverty=("rural_income_share", "1"))
    make_region_year(regions["province"], 2023, income_rural=D("15000.00"))
    person = make_person(regions["a"])
    make_identity(person, "stable_lifted", date(2020, 1, 1))
    settled(person, policy=policy, total=oop, scope=oop)
    assert bool(lists.high_cost(regions["a"], NIGHT).candidates) is listed


@pytest.mark.django_db
def test_high_cost_without_income_statistic_says_what_is_missing(regions):
    monitored_policy(regions["prefecture"], relapse=("rural_income_share", "0.5"))
    with pytest.raises(lists.MissingPolicyData, match="rural per-capita disposable income for 2023"):
        lists.high_cost(regions["a"], NIGHT)


@pytest.mark.django_db
def test_insurance_gaps(regions, policy):
    SubsidyRule.objects.create(policy=policy, category=category("dibao"), kind="full")
    uninsured = make_person(regions["a"], name="未参保")
    make_identity(uninsured, "dibao", date(2020, 1, 1))
    make_enrollment(uninsured, 2024, status=EnrollmentStatus.NOT_INSURED)
    insured = make_person(regions["a"], name="已参保")
    make_identity(insured, "dibao", date(2020, 1, 1))
    make_enrollment(insured, 2024, contribution_due=D("380.00"), subsidy_amount=D("380.00"))
    no_subsidy = make_person(regions["a"], name="未资助")
    make_identity(no_subsidy, "dibao", date(2020, 1, 1))
    make_enrollment(no_subsidy, 2024, contribution_due=D("380.00"))
    ended = make_person(regions["a"], name="身份已终止")
    make_identity(ended, "dibao", date(2020, 1, 1), date(2023, 12, 31))
    make_enrollment(ended, 2024, contribution_due=D("380.00"), subsidy_amount=D("380.00"),
                    subsidy_category=category("dibao"))
    no_identity = make_person(regions["a"], name="无身份")  # not an identity holder: never listed
    assert no_identity.pk
    result = lists.insurance_gaps(regions["a"], NIGHT)
    assert reasons(result) == sorted([
        (Reason.NOT_INSURED, f"p:{uninsured.pk}"),
        (Reason.SUBSIDY_MISSING, f"p:{no_subsidy.pk}"),
        (Reason.SUBSIDY_AFTER_IDENTITY, f"p:{ended.pk}"),
    ])


@pytest.mark.django_db
@pytest.mark.parametrize(("due", "listed"), [
    (date(2024, 7, 3), True),    # Wednesday: 3 working days left — due soon
    (date(2024, 7, 4), False),   # 4 working days left
    (date(2024, 6, 27), True),   # overdue
])
def test_deadlines_of_manual_reimbursements(regions, due, listed):
    person = make_person(regions["a"])
    case = manual_case(person, received_on=date(2024, 6, 1), due_on=due)
    result = lists.deadlines(regions["a"], NIGHT)
    assert reasons(result) == ([(Reason.MANUAL_CLAIM, f"case:{case.pk}")] if listed else [])
    if listed:
        assert result.candidates[0].figures["state"] == ("overdue" if due < NIGHT else "due_soon")


@pytest.mark.django_db
def test_deadlines_of_batches_and_closed_cases(regions):
    person = make_person(regions["a"])
    manual_case(person, received_on=date(2024, 5, 1), due_on=date(2024, 6, 1), state="paid")
    hospital = make_hospital(regions["a"])
    batch = HospitalBatch.objects.create(
        hospital=hospital, region=regions["a"], number="B1", period_start=date(2024, 5, 1),
        period_end=date(2024, 5, 31), received_on=date(2024, 6, 14), advance_ratio=D("0.7"),
        advance_working_days=10, advance_due_on=date(2024, 6, 28), final_working_days=15)
    assert reasons(lists.deadlines(regions["a"], NIGHT)) == [(Reason.BATCH_ADVANCE, f"batch:{batch.pk}")]


@pytest.mark.django_db
@pytest.mark.parametrize(("scope", "listed"), [("900.01", False), ("900.00", False), ("899.99", True)])
def test_out_of_catalog_share_above_ten_percent(regions, policy, scope, listed):
    person = make_person(regions["a"])
    identity = make_identity(person, "dibao", date(2020, 1, 1))
    hospital = make_hospital(regions["a"])
    claim = settled(person, policy=policy, hospital=hospital, total="1000.00", scope=scope, identity=identity)
    settled(make_person(regions["a"]), policy=policy, hospital=hospital, total="1000.00", scope="500.00")  # no target
    result = lists.out_of_catalog(regions["a"], NIGHT)
    assert reasons(result) == ([(Reason.OUT_OF_CATALOG, f"hospital:{hospital.pk}:{regions['a'].pk}")]
                               if listed else [])
    if listed:
        assert result.candidates[0].figures["claim_numbers"] == [claim.number]
        assert result.candidates[0].figures["excess"] == "0.01"


@pytest.mark.django_db
@pytest.mark.parametrize(("code", "assistance", "listed"), [
    ("dibao", "6999.99", True), ("dibao", "7000.00", False), ("dibao", "7000.01", False),
    ("dibao_edge", "5999.99", True), ("dibao_edge", "6000.00", False),
    ("stable_lifted", "0.00", False),  # neither a key group nor another low-income group
])
def test_assistance_floor(regions, policy, code, assistance, listed):
    person = make_person(regions["a"])
    make_identity(person, code, date(2020, 1, 1))
    # Policy-scope cost 30 000, of which basic and critical paid 20 000: the person still bore 10 000.
    settled(person, policy=policy, total="30000.00", scope="30000.00", basic="15000.00", critical="5000.00",
            assistance=assistance)
    result = lists.assistance_floor(regions["a"], NIGHT)
    assert bool(result.candidates) is listed
    if listed:
        assert result.candidates[0].reason == (Reason.KEY_BELOW_FLOOR if code == "dibao" else Reason.OTHER_BELOW_FLOOR)


@pytest.mark.django_db
def test_assistance_floor_not_listed_once_the_annual_limit_is_reached(regions, policy):
    person = make_person(regions["a"])
    make_identity(person, "dibao", date(2020, 1, 1))  # the policy's dibao assistance limit is 30 000
    settled(person, policy=policy, total="200000.00", scope="200000.00", basic="100000.00", critical="10000.00",
            assistance="30000.00")
    assert lists.assistance_floor(regions["a"], NIGHT).candidates == []


@pytest.mark.django_db
def test_lists_stay_in_their_county(regions, policy):
    person = make_person(regions["b"])
    settled(person, policy=policy, total="30000.00", scope="30000.00")
    assert lists.high_cost(regions["a"], NIGHT).candidates == []
    assert len(lists.high_cost(regions["b"], NIGHT).candidates) == 1
