"""assistance.selectors.household_burden: the household figures of the 60 % test, one household or a region."""

from datetime import date
from decimal import Decimal

import pytest

from assistance.models import Application
from assistance.rules import FAILS, MISSING_INCOME, PASSES, UNDECIDED
from assistance.selectors import household_burden, households_with_open_application
from claims.models import PaymentLine
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


def _per_statement() -> int:
    """Statements of one region's figures statement: on PostgreSQL its settings are set before it and set back
    after."""
    from django.db import connection

    return 3 if connection.vendor == "postgresql" else 1


def test_households_under_two_policies_each_get_their_own_period_and_share(world, regions,
                                                                            django_assert_max_num_queries):
    # County B's own version: calendar-year look-back and a 50 % share; county A keeps the prefecture's.
    assistance_policy(regions["b"], look_back="calendar_year", income_share=D("0.50"))
    in_b = make_household(regions["b"], annual_income=D("80000.00"), assets_value=D("0"))
    in_b_member = member(in_b, regions["b"])
    for person in (world["a"], in_b_member):
        settled_claim(person, admitted_on=date(2023, 11, 1))
    b_march = settled_claim(in_b_member, admitted_on=date(2024, 3, 1))
    settled_claim(world["a"], admitted_on=date(2024, 3, 1))
    # Admitted in December, discharged in January: its date of service (and plan year) is 2024.
    b_january = settled_claim(in_b_member, admitted_on=date(2023, 12, 28), discharged_on=date(2024, 1, 3))
    b_counted = PaymentLine.objects.filter(claim__in=[b_march, b_january], layer__in=["patient", "assistance"])
    assert {line.year for line in b_counted} == {2024}
    with django_assert_max_num_queries(3 + 2 * _per_statement()):
        rows = household_burden(on=ON, region=regions["prefecture"])
    assert [row.household_id for row in rows] == sorted([world["household"].pk, in_b.pk])
    by_id = {row.household_id: row for row in rows}
    a, b = by_id[world["household"].pk], by_id[in_b.pk]
    assert (a.period_start, a.claims_cost, a.threshold) == (date(2023, 6, 16), 2 * ONE_CLAIM, D("48000.00"))
    assert b.period_start == date(2024, 1, 1) and b.threshold == D("40000.00")
    assert b.claims_cost == sum(line.amount for line in b_counted)  # not the November claim
    assert b.policy_id != a.policy_id


def test_an_empty_selection_reads_nothing_more(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        assert household_burden(on=ON, households=[]) == []


def test_one_household_takes_four_queries(world, django_assert_max_num_queries):
    # Its region, the policies, their settings, the figures (no statement settings for a few households).
    settled_claim(world["a"], admitted_on=date(2024, 3, 1))
    with django_assert_max_num_queries(4):
        assert burden(world["household"]).claims_cost == ONE_CLAIM


def test_statement_settings_hold_for_a_regions_statement_only(world, regions):
    from django.db import connection

    from assistance.selectors import STATEMENT_SETTINGS

    if connection.vendor != "postgresql":
        pytest.skip("statement settings are PostgreSQL's")
    settled_claim(world["a"], admitted_on=date(2024, 3, 1))
    names = sorted(STATEMENT_SETTINGS)

    def current(cursor):
        cursor.execute("SELECT " + ", ".join(f"current_setting('{name}')" for name in names))
        return dict(zip(names, cursor.fetchone(), strict=True))

    seen = []

    def wrapper(execute, sql, params, many, context):
        if sql.startswith("SELECT h.id"):  # the figures statement: read its session's settings first
            seen.append(current(context["cursor"].cursor))
        return execute(sql, params, many, context)

    with connection.cursor() as cursor:
        before = current(cursor)
    with connection.execute_wrapper(wrapper):
        (row,) = household_burden(on=ON, region=regions["a"])
        assert row.claims_cost == ONE_CLAIM
        assert burden(world["household"]).claims_cost == ONE_CLAIM  # one household: the session's own settings
    assert seen == [{name: STATEMENT_SETTINGS[name] for name in names}, before]
    with connection.cursor() as cursor:
        assert current(cursor) == before
