"""List 2 (apply-to-receive candidates) and the assistance applications' deadlines (list 4)."""

from datetime import date
from decimal import Decimal

import pytest

from assistance.models import Application
from monitoring import lists
from monitoring.models import Reason
from tests.assistance.factories import assistance_policy, member, outside_cost
from tests.factories import make_household, make_user

from .factories import make_monitoring

D = Decimal
NIGHT = date(2024, 6, 28)  # a Friday


@pytest.fixture
def world(regions):
    policy = assistance_policy(regions["prefecture"])
    make_monitoring(policy)
    household = make_household(regions["a"], annual_income=D("50000.00"), assets_value=D("10000.00"))
    person = member(household, regions["a"], name="甲")
    return {"policy": policy, "household": household, "person": person, **regions}


@pytest.mark.django_db
@pytest.mark.parametrize(("burden", "listed"), [("29999.99", False), ("30000.00", True), ("30000.01", True)])
def test_households_meeting_the_60_percent_test(world, burden, listed):
    # Income 50 000: the test is met at 30 000 (≥ 60 %).
    outside_cost(world["household"], world["person"], on=date(2024, 3, 1), total=burden, insurance="0.00")
    result = lists.apply_candidates(world["a"], NIGHT)
    assert [(c.reason, c.subject_key) for c in result.candidates] == (
        [(Reason.BURDEN_60, f"h:{world['household'].pk}")] if listed else [])
    if listed:
        assert result.candidates[0].figures["threshold"] == "30000.00"
        assert result.policy == world["policy"]


@pytest.mark.django_db
def test_a_household_with_an_open_application_is_not_suggested_again_but_its_deadline_is_listed(world):
    outside_cost(world["household"], world["person"], on=date(2024, 3, 1), total="40000.00", insurance="0.00")
    application = Application.objects.create(
        number="YSQ1", household=world["household"], region=world["a"], applicant=world["person"],
        applied_on=date(2024, 6, 1), policy=world["policy"], step_started_on=date(2024, 6, 1), step_working_days=20,
        due_on=date(2024, 7, 3), registered_by=make_user())
    assert lists.apply_candidates(world["a"], NIGHT).candidates == []
    deadlines = lists.deadlines(world["a"], NIGHT).candidates
    assert [(c.reason, c.subject_key, c.figures["state"]) for c in deadlines] == [
        (Reason.APPLICATION, f"app:{application.pk}", "due_soon")]
    Application.objects.filter(pk=application.pk).update(due_on=date(2024, 7, 4))  # 4 working days left
    assert lists.deadlines(world["a"], NIGHT).candidates == []
