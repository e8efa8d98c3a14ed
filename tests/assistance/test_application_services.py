"""Apply-to-receive services: registration, four eyes, region isolation, approval granting the identity and the
assistance supplement, the next claim settling with the new identity, refusal and return changing nothing else."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum
from django.utils import timezone

from assistance.models import Application, AssistanceSupplement
from assistance.services import applications as service
from assistance.services.applications import AssetItem, IncomeItem, OutsideItem
from claims.models import PaymentLine, Settlement
from claims.models.choices import Layer
from enrollment import roles
from enrollment.models import Identity
from tests.claims.factories import make_assistance_rule
from tests.factories import make_household, make_user

from .factories import assistance_policy, member, settled_claim

pytestmark = pytest.mark.django_db
D = Decimal
TODAY = timezone.localdate()
YEARS = (TODAY.year - 1, TODAY.year)


@pytest.fixture
def world(regions):
    policy = assistance_policy(regions["prefecture"], effective_from=dt.date(TODAY.year - 1, 1, 1))
    make_assistance_rule(policy, "illness_poor", ratio="0.60", annual_limit="30000.00")
    household = make_household(regions["a"])
    # No identity with an assistance rule: the claim pays basic 38 625.00 only, the patient bears 21 375.00.
    patient = member(household, regions["a"], codes=(), years=YEARS, name="病人")
    spouse = member(household, regions["a"], codes=(), years=YEARS, name="配偶")
    claim = settled_claim(patient, admitted_on=TODAY - dt.timedelta(days=60))
    users = {
        "clerk": make_user("clerk", roles=(roles.CLERK,), regions=(regions["a"],)),
        "reviewer": make_user("reviewer", roles=(roles.REVIEWER, roles.APPROVER), regions=(regions["a"],)),
        "approver": make_user("approver", roles=(roles.APPROVER,), regions=(regions["a"],)),
        "approver_b": make_user("approver_b", roles=(roles.APPROVER, roles.REVIEWER), regions=(regions["b"],)),
    }
    return {"policy": policy, "household": household, "patient": patient, "spouse": spouse, "claim": claim,
            **users}


def register(world, *, income="30000.00", assets=(("deposits", "5000.00"),), by=None, **kwargs):
    return service.register_application(
        by=by or world["clerk"], household=world["household"], applicant=world["spouse"],
        patients=[world["patient"]], applied_on=TODAY - dt.timedelta(days=3),
        incomes=[IncomeItem(world["patient"], D("0.00"), "无收入证明"),
                 IncomeItem(world["spouse"], D(income), "务工收入证明")],
        assets=[AssetItem(kind, D(value), "银行流水") for kind, value in assets], **kwargs)


def lines_total(**filters):
    return PaymentLine.objects.filter(**filters).aggregate(s=Sum("amount"))["s"]


def test_from_registration_to_payment(world):
    application = register(world, outside_costs=[OutsideItem(
        world["patient"], TODAY - dt.timedelta(days=30), "外购药品", D("2000.00"), D("500.00"))])
    assert application.state == "received" and application.due_on is not None
    test = service.application_test(application)
    # 21 375.00 from the claim + 1 500.00 outside, against 60 % of 30 000.00.
    assert (test.claims_cost, test.outside_cost, test.eligible_cost) == (D("21375.00"), D("1500.00"),
                                                                         D("22875.00"))
    assert (test.threshold, test.test.assets, test.outcome) == (D("18000.00"), D("5000.00"), "passes")

    service.initial_review(application=application, by=world["reviewer"])
    assert application.state == "reviewed" and application.reviewer == world["reviewer"]
    service.approve(application=application, by=world["approver"])
    application.refresh_from_db()
    assert application.state == "approved" and application.test_figures["threshold"] == "18000.00"

    identity = Identity.objects.get(person=world["patient"], category__code="illness_poor")
    assert identity.valid_from == TODAY and identity.source_batch == application.number
    assert list(application.granted_identities.all()) == [identity]
    # The frozen settlement is untouched; a supplement adds (13 375.00 × 60 %) to assistance and takes it off the
    # patient's part, so the settlement's lines still add up to the claim's total.
    settlement = Settlement.objects.get(claim=world["claim"])
    assert (settlement.assistance, settlement.patient_pays) == (D("0.00"), D("21375.00"))
    (supplement,) = AssistanceSupplement.objects.all()
    assert (supplement.base, supplement.amount, supplement.category.code) == (D("13375.00"), D("8025.00"),
                                                                              "illness_poor")
    assert lines_total(settlement=settlement, layer=Layer.ASSISTANCE) == D("8025.00")
    assert lines_total(settlement=settlement, layer=Layer.PATIENT) == D("13350.00")
    assert lines_total(settlement=settlement, layer__in=[
        Layer.BASIC, Layer.CRITICAL, Layer.ASSISTANCE, Layer.HOSPITAL, Layer.PATIENT]) == D("60000.00")
    assert application.assistance_granted == D("8025.00")

    service.pay(application=application, by=world["approver"], paid_on=TODAY, reference="ZF-001")
    assert application.state == "paid" and application.due_on is None
    actions = list(application.events.values_list("action", flat=True))
    assert actions == ["register", "initial_review", "approve", "pay"]
    assert application.history.count() >= 4

    # The next claim of the patient settles with the new identity.
    after = settled_claim(world["patient"], admitted_on=TODAY - dt.timedelta(days=9))
    next_settlement = after.settlements.get()
    assert next_settlement.assistance_category.code == "illness_poor"
    base = after.policy_scope_cost - next_settlement.basic - next_settlement.critical
    assert next_settlement.assistance == (base * D("0.60")).quantize(D("0.01")) > 0


def test_the_approver_must_not_be_the_initial_reviewer(world):
    application = register(world)
    service.initial_review(application=application, by=world["reviewer"])
    with pytest.raises(PermissionDenied, match="different person"):
        service.approve(application=application, by=world["reviewer"])
    application.refresh_from_db()
    assert application.state == "reviewed" and not Identity.objects.filter(category__code="illness_poor").exists()


def test_each_step_needs_its_permission(world):
    application = register(world)
    with pytest.raises(PermissionDenied):
        service.initial_review(application=application, by=world["clerk"])
    with pytest.raises(ValidationError, match="not possible while"):
        service.approve(application=application, by=world["approver"])
    with pytest.raises(PermissionDenied):
        register(world, by=world["reviewer"])


def test_region_isolation(world, regions):
    clerk_b = make_user("clerk_b", roles=(roles.CLERK,), regions=(regions["b"],))
    with pytest.raises(PermissionDenied, match="region"):
        register(world, by=clerk_b)
    application = register(world)
    with pytest.raises(PermissionDenied, match="region"):
        service.initial_review(application=application, by=world["approver_b"])
    assert Application.objects.count() == 1


def test_registration_needs_every_members_income_and_writes_nothing_on_error(world):
    with pytest.raises(ValidationError, match="配偶"):
        service.register_application(
            by=world["clerk"], household=world["household"], applicant=world["spouse"],
            patients=[world["patient"]], applied_on=TODAY, incomes=[IncomeItem(world["patient"], D("0"), "证明")])
    stranger = member(make_household(world["household"].region), world["household"].region, codes=(), years=YEARS)
    with pytest.raises(ValidationError, match="Not members"):
        service.register_application(
            by=world["clerk"], household=world["household"], applicant=world["spouse"], patients=[stranger],
            applied_on=TODAY, incomes=[])
    with pytest.raises(ValidationError):
        register(world, outside_costs=[OutsideItem(world["patient"], TODAY, "发票", D("100.00"), D("200.00"))])
    assert not Application.objects.exists()


def test_a_failing_test_cannot_be_approved(world):
    application = register(world, income="90000.00")  # threshold 54 000 > 21 375
    service.initial_review(application=application, by=world["reviewer"])
    with pytest.raises(ValidationError, match="does not pass"):
        service.approve(application=application, by=world["approver"])
    application.refresh_from_db()
    assert application.state == "reviewed"


def test_refusal_changes_nothing_else(world):
    before = list(PaymentLine.objects.values_list("pk", flat=True))
    application = register(world)
    service.initial_review(application=application, by=world["reviewer"])
    service.refuse(application=application, by=world["approver"], reason="家庭资产超标")
    application.refresh_from_db()
    assert (application.state, application.refusal_reason, application.due_on) == ("refused", "家庭资产超标", None)
    assert list(PaymentLine.objects.values_list("pk", flat=True)) == before
    assert not Identity.objects.filter(category__code="illness_poor").exists()
    assert not AssistanceSupplement.objects.exists()
    with pytest.raises(ValidationError):
        service.refuse(application=application, by=world["approver"], reason="再次")


def test_return_pauses_the_clock_and_resubmission_resumes_it(world):
    application = register(world)
    due = application.due_on
    service.return_for_documents(application=application, by=world["reviewer"], documents_requested="补充收入证明",
                                 on=application.applied_on)
    application.refresh_from_db()
    assert (application.state, application.due_on) == ("returned", None)
    assert application.pauses.get().resumed_on is None
    service.resubmit(application=application, by=world["clerk"], on=TODAY)
    application.refresh_from_db()
    assert application.state == "received" and application.due_on >= due
    assert application.pauses.get().resumed_on == TODAY
    assert not AssistanceSupplement.objects.exists() and application.reviewer is None
