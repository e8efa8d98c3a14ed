"""assistance.selectors.household_burden: the household figures of the 60 % test, one household or a region."""

from datetime import date
from decimal import Decimal

import pytest

from assistance.models import Application
from assistance.rules import FAILS, MISSING_INCOME, PASSES, UNDECIDED
from assistance.selectors import household_burden, households_with_open_application
from claims.services.settlement import reverse_settlement
from tests.claims.factories import make_clerk
from tests.factories import make_household, make_user

from .factories import (
    EXAMPLE_ASSISTANCE,
    EXAMPLE_PATIENT,
    assistance_policy,
    member,
    outside_cost,
    paid_special_aid,
    settled_claim,
)

pytestmark = pytest.mark.django_db
D = Decimal
ON = date(2024, 6, 15)  # look-back: 2023-06-16 … 2024-06-15
ONE_CLAIM = EXAMPLE_PATIENT + EXAMPLE_ASSISTANCE


@pytest.fixture
def world(regions):
    policy = assistance_policy(regions["prefecture"])
    household = make_household(regions["a"], annual_income=D("80000.00"), assets_value=D("10000.00"))
    # One member insured in county A, one in county B of the same prefecture: both count.
    a = member(household, regions["a"], name="甲")
    b = member(household, regions["b"], name="乙")
    return {"policy": policy, "household": household, "a": a, "b": b}


def burden(household, **kwargs):
    (row,) = household_burden(on=ON, households=[household], **kwargs)
    return row


def test_claims_of_every_member_across_two_plan_years_outside_items_and_special_aid(world):
    household, a, b = world["household"], world["a"], world["b"]
    settled_claim(a, admitted_on=date(2023, 11, 1))    # plan year 2023, inside the period
    settled_claim(a, admitted_on=date(2024, 3, 1))     # plan year 2024
    settled_claim(b, admitted_on=date(2024, 4, 1))     # the member insured in another county
    settled_claim(a, admitted_on=date(2023, 5, 1))     # discharged 2023-05-10: before the period
    reversed_claim = settled_claim(b, admitted_on=date(2024, 5, 1))
    reverse_settlement(settlement=reversed_claim.settlements.get(), by=make_clerk(), reason="录入错误")
    outside_cost(household, a, on=date(2024, 1, 5))                   # 5 000 − 2 000 insurance
    outside_cost(household, a, on=date(2024, 1, 6), verified=False)   # not verified: not counted
    outside_cost(household, a, on=date(2023, 6, 15))                  # the day before the period
    paid_special_aid(household, b, world["policy"], paid_on=date(2024, 5, 20))

    row = burden(household)
    assert (row.period_start, row.period_end) == (date(2023, 6, 16), ON)
    assert row.claims_cost == 3 * ONE_CLAIM == D("46668.75")
    assert (row.outside_cost, row.special_aid_paid) == (D("3000.00"), D("1000.00"))
    assert row.eligible_cost == D("48668.75")
    assert (row.annual_income, row.threshold, row.test.asset_cap) == (D("80000.00"), D("48000.00"), D("200000.00"))
    assert row.outcome == PASSES and row.test.share_of_income == D("0.6084")
    assert row.policy_id == world["policy"].pk and row.household_id == household.pk


def test_special_aid_can_tip_the_household_below_the_threshold(world):
    household, a = world["household"], world["a"]
    settled_claim(a, admitted_on=date(2024, 3, 1))
    settled_claim(world["b"], admitted_on=date(2024, 4, 1))
    household.annual_income = D("50000.00")  # threshold 30 000; costs 31 112.50
    household.save()
    assert burden(household).outcome == PASSES
    paid_special_aid(household, a, world["policy"], paid_on=date(2024, 5, 1), amount="1112.51")
    row = burden(household)
    assert (row.eligible_cost, row.outcome) == (D("29999.99"), FAILS)


def test_after_assistance_counts_the_patient_part_only(world):
    world["policy"].assistance_settings.cost_basis = "after_assistance"
    world["policy"].assistance_settings.save()
    settled_claim(world["a"], admitted_on=date(2024, 3, 1))
    assert burden(world["household"]).claims_cost == EXAMPLE_PATIENT


def test_calendar_year_look_back(world):
    world["policy"].assistance_settings.look_back = "calendar_year"
    world["policy"].assistance_settings.save()
    settled_claim(world["a"], admitted_on=date(2023, 11, 1))
    settled_claim(world["a"], admitted_on=date(2024, 3, 1))
    row = burden(world["household"])
    assert (row.period_start, row.claims_cost) == (date(2024, 1, 1), ONE_CLAIM)


def test_unknown_income_is_undecided_and_declared_figures_override(world):
    household = world["household"]
    household.annual_income = None
    household.save()
    settled_claim(world["a"], admitted_on=date(2024, 3, 1))
    row = burden(household)
    assert (row.outcome, row.test.missing, row.threshold) == (UNDECIDED, (MISSING_INCOME,), None)
    declared = burden(household, figures={household.pk: (D("0.00"), D("0.00"))})
    assert declared.outcome == PASSES and "zero_income" in declared.test.notes


def test_a_region_without_assistance_settings_is_undecided(world, regions):
    world["policy"].assistance_settings.delete()
    row = burden(world["household"])
    assert row.outcome == UNDECIDED and row.period_start is None and row.claims_cost == D("0.00")


def test_region_mode_is_set_based(world, regions, django_assert_max_num_queries):
    settled_claim(world["a"], admitted_on=date(2024, 3, 1))
    others = [make_household(regions["b"], annual_income=D("1000.00"), assets_value=D("0")) for _ in range(5)]
    for household in others[:2]:
        settled_claim(member(household, regions["b"]), admitted_on=date(2024, 2, 1))
    with django_assert_max_num_queries(8):
        rows = household_burden(on=ON, region=regions["prefecture"])
    assert [row.household_id for row in rows] == sorted([world["household"].pk, *(h.pk for h in others)])
    by_id = {row.household_id: row for row in rows}
    assert by_id[others[0].pk].claims_cost == ONE_CLAIM and by_id[others[0].pk].outcome == PASSES
    assert by_id[others[4].pk].claims_cost == D("0.00") and by_id[others[4].pk].outcome == FAILS
    county_b = household_burden(on=ON, region=regions["b"])
    assert {row.household_id for row in county_b} == {h.pk for h in others}


def test_households_with_open_application(world, regions):
    clerk = make_user()
    application = Application.objects.create(
        number="YSQ1", household=world["household"], region=regions["a"], applicant=world["a"], applied_on=ON,
        policy=world["policy"], step_started_on=ON, step_working_days=5, registered_by=clerk)
    assert list(households_with_open_application(regions["prefecture"])) == [world["household"]]
    assert not households_with_open_application(regions["b"]).exists()
    Application.objects.filter(pk=application.pk).update(state="refused")
    assert not households_with_open_application().exists()
