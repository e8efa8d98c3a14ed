"""Case-by-case special aid services: who may open, deliberate, decide, approve (two departments, neither the
opener), pay; the server's refusals; aid paid lowering the household burden."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from assistance.models import SpecialAidCase
from assistance.selectors import household_burden
from assistance.services import special_aid as service
from enrollment import roles
from tests.factories import make_household, make_identity, make_user

from .factories import EXAMPLE_PATIENT, assistance_policy, member, outside_cost, settled_claim

pytestmark = pytest.mark.django_db
D = Decimal
TODAY = timezone.localdate()
YEARS = (TODAY.year - 1, TODAY.year)


@pytest.fixture
def world(regions):
    policy = assistance_policy(regions["prefecture"], effective_from=dt.date(TODAY.year - 1, 1, 1),
                               special_aid_funding=["donation", "mutual_aid"])
    household = make_household(regions["a"], annual_income=D("20000.00"), assets_value=D("0.00"))
    person = member(household, regions["a"], codes=("dibao",), years=YEARS)
    make_identity(person, "stable_lifted", dt.date(TODAY.year - 1, 1, 1))
    claim = settled_claim(person, admitted_on=TODAY - dt.timedelta(days=50))
    a = regions["a"]
    return {
        "policy": policy, "household": household, "person": person, "claim": claim,
        "township": make_user("township", roles=(roles.CLERK,), regions=(a,)),
        "rural": make_user("rural", roles=(roles.RURAL_DEPT,), regions=(a,)),
        "health": make_user("health", roles=(roles.HEALTH_DEPT,), regions=(a,)),
        "payer": make_user("payer", roles=(roles.APPROVER,), regions=(a,)),
    }


def open_case(world, **kwargs):
    defaults = {"by": world["township"], "person": world["person"], "opened_on": TODAY,
                "opening_unit": "某某镇人民政府", "claims": [world["claim"]]}
    return service.open_case(**{**defaults, **kwargs})


def decided_case(world, amount="3000.00"):
    case = open_case(world)
    service.record_meeting(case=case, by=world["township"], held_on=TODAY, participants="乡村振兴局 王某；卫健委 李某",
                           minutes="同意救助")
    service.decide(case=case, by=world["township"], amount=D(amount), funding_source="donation", payer="县慈善总会")
    return case


def test_from_opening_to_payment_and_the_burden_drops(world):
    before = household_burden(on=TODAY, households=[world["household"]])[0]
    case = open_case(world)
    assert case.trigger_figures["eligible_cost"] == str(before.eligible_cost)
    assert case.named_out_of_pocket == EXAMPLE_PATIENT
    with pytest.raises(ValidationError, match="meeting"):
        service.decide(case=case, by=world["township"], amount=D("100"), funding_source="donation", payer="x")
    service.record_meeting(case=case, by=world["township"], held_on=TODAY, participants="乡村振兴局 王某",
                           minutes="同意")
    service.decide(case=case, by=world["township"], amount=D("3000.00"), funding_source="donation",
                   payer="县慈善总会")
    service.approve_rural(case=case, by=world["rural"])
    assert case.state == "decided"
    service.approve_health(case=case, by=world["health"])
    assert case.state == "approved"
    service.pay_case(case=case, by=world["payer"], paid_on=TODAY, reference="CS-9")
    after = household_burden(on=TODAY, households=[world["household"]])[0]
    assert after.special_aid_paid == D("3000.00")
    assert after.eligible_cost == before.eligible_cost - D("3000.00")
    service.follow_up(case=case, by=world["township"], note="已回访，生活恢复")
    service.close_case(case=case, by=world["township"])
    assert case.state == "closed"
    assert list(case.events.values_list("action", flat=True)) == [
        "open", "record_meeting", "decide", "approve_rural", "approve_health", "pay_case", "follow_up",
        "close_case"]


def test_refuses_a_person_neither_lifted_nor_monitored(world, regions):
    other = member(world["household"], regions["a"], codes=("dibao",), years=YEARS)
    with pytest.raises(ValidationError, match="neither lifted"):
        open_case(world, person=other, claims=[])
    expired = member(world["household"], regions["a"], codes=(), years=YEARS)
    make_identity(expired, "edge_vulnerable", TODAY - dt.timedelta(days=400), TODAY - dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="neither lifted"):
        open_case(world, person=expired, claims=[])
    monitored = member(world["household"], regions["a"], codes=("edge_vulnerable",), years=YEARS)
    assert open_case(world, person=monitored, claims=[]).state == "opened"


def test_refuses_aid_beyond_the_out_of_pocket_cost_of_the_costs_named(world):
    item = outside_cost(world["household"], world["person"], on=TODAY - dt.timedelta(days=10), total="1000.00",
                        insurance="400.00", other="100.00")
    case = open_case(world, outside_costs=[item])
    assert case.named_out_of_pocket == EXAMPLE_PATIENT + D("500.00")
    service.record_meeting(case=case, by=world["township"], held_on=TODAY, participants="p", minutes="m")
    with pytest.raises(ValidationError, match="exceed"):
        service.decide(case=case, by=world["township"], amount=case.named_out_of_pocket + D("0.01"),
                       funding_source="donation", payer="x")
    service.decide(case=case, by=world["township"], amount=D("5000.00"), funding_source="donation", payer="x")
    # A second case for the same claim may only grant what is left.
    second = open_case(world)
    service.record_meeting(case=second, by=world["township"], held_on=TODAY, participants="p", minutes="m")
    left = case.named_out_of_pocket - D("5000.00")
    with pytest.raises(ValidationError, match="exceed"):
        service.decide(case=second, by=world["township"], amount=second.named_out_of_pocket - D("4999.99"),
                       funding_source="donation", payer="x")
    assert left > 0


def test_refuses_a_funding_source_the_policy_does_not_allow(world):
    case = open_case(world)
    service.record_meeting(case=case, by=world["township"], held_on=TODAY, participants="p", minutes="m")
    with pytest.raises(ValidationError, match="funding source"):
        service.decide(case=case, by=world["township"], amount=D("10"), funding_source="social_assistance",
                       payer="x")


def test_two_approvals_by_two_departments_neither_the_opener(world, regions):
    both = make_user("both", roles=(roles.RURAL_DEPT, roles.HEALTH_DEPT), regions=(regions["a"],))
    case = decided_case(world)
    service.approve_rural(case=case, by=both)
    with pytest.raises(PermissionDenied, match="two different people"):
        service.approve_health(case=case, by=both)
    with pytest.raises(ValidationError, match="already approved"):
        service.approve_rural(case=case, by=world["rural"])
    assert case.state == "decided"
    # The opener may hold an approving role, but cannot approve their own case.
    opener = make_user("opener", roles=(roles.HEALTH_DEPT,), regions=(regions["a"],))
    own = service.open_case(by=opener, person=world["person"], opened_on=TODAY, opening_unit="卫健委",
                            claims=[world["claim"]])
    service.record_meeting(case=own, by=world["township"], held_on=TODAY, participants="p", minutes="m")
    service.decide(case=own, by=world["township"], amount=D("10"), funding_source="donation", payer="x")
    with pytest.raises(PermissionDenied, match="opened the case"):
        service.approve_health(case=own, by=opener)
    with pytest.raises(PermissionDenied):
        service.approve_health(case=own, by=world["rural"])  # a 乡村振兴 user cannot give the 卫健 approval


def test_region_isolation(world, regions):
    township_b = make_user("township_b", roles=(roles.CLERK,), regions=(regions["b"],))
    with pytest.raises(PermissionDenied, match="region"):
        open_case(world, by=township_b)
    case = decided_case(world)
    rural_b = make_user("rural_b", roles=(roles.RURAL_DEPT,), regions=(regions["b"],))
    with pytest.raises(PermissionDenied, match="region"):
        service.approve_rural(case=case, by=rural_b)
    assert SpecialAidCase.objects.count() == 1


def test_a_rejected_case_pays_nothing(world):
    case = decided_case(world)
    service.reject_case(case=case, by=world["rural"], reason="已获其他救助")
    assert case.state == "rejected" and case.paid_on is None
    assert household_burden(on=TODAY, households=[world["household"]])[0].special_aid_paid == D("0.00")
