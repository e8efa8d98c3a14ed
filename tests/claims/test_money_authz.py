"""Every money service checks the acting user's permission and region itself (issue 7 §3): called directly — as a
shell, a task or a new view would — by an unprivileged user, a user of another region or a hospital user, it
refuses with PermissionDenied and writes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from claims.models import (
    BatchLine,
    CaseEvent,
    Claim,
    HospitalBatch,
    HospitalStaff,
    PaymentLine,
    ReimbursementCase,
    Settlement,
    SettlementCorrection,
)
from claims.models.claims import ClaimSource
from claims.services import batches
from claims.services import corrections as corr
from claims.services import reimbursement as flow
from claims.services.batch_settlement import settle_claims
from claims.services.settlement import correct_claim, reverse_settlement, settle_claim
from enrollment import roles
from enrollment.authz import permission_refusal, require_permission
from tests.claims.factories import make_claim, make_hospital, make_patient, spec_example_policy
from tests.factories import make_user

D = dt.date.fromisoformat
M = Decimal

WATCHED = (Claim.history.model, Settlement, PaymentLine, SettlementCorrection, ReimbursementCase, HospitalBatch,
           BatchLine, CaseEvent)


def snapshot() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in WATCHED}


@pytest.fixture
def people(regions):
    a, b = (regions["a"],), (regions["b"],)
    hospital_user = make_user("hospital_user", roles=(roles.HOSPITAL,), regions=a)
    return {
        "clerk": make_user("clerk", roles=(roles.CLERK,), regions=a),
        "approver": make_user("approver", roles=(roles.APPROVER,), regions=a),
        "reviewer": make_user("reviewer", roles=(roles.REVIEWER,), regions=a),
        "nobody": make_user("nobody", regions=a),
        "liaison": make_user("liaison", roles=(roles.LIAISON,), regions=a),
        "clerk_b": make_user("clerk_b", roles=(roles.CLERK,), regions=b),
        "approver_b": make_user("approver_b", roles=(roles.APPROVER,), regions=b),
        "hospital": hospital_user,
    }


@pytest.fixture
def world(regions, people):
    spec_example_policy(regions["a"], effective_from=D("2026-01-01"))
    hospital = make_hospital(regions["a"])
    HospitalStaff.objects.create(user=people["hospital"], hospital=hospital)
    patient = make_patient(regions["a"], codes=("dibao",), years=(2026,))
    registered = make_claim(patient, hospital, admitted_on=D("2026-09-01"))
    settled = make_claim(patient, hospital, admitted_on=D("2026-08-01"))
    settle_claim(claim=settled, by=people["clerk"])
    frozen = make_claim(patient, hospital, admitted_on=D("2026-07-01"))
    settle_claim(claim=frozen, by=people["clerk"])
    batch = batches.receive_batch(hospital=hospital, period=(D("2026-07-01"), D("2026-07-31")),
                                  received_on=D("2026-08-10"), claims=[frozen], by=people["clerk"])
    batches.pay_advance(batch=batch, by=people["approver"], paid_on=D("2026-08-12"), reference="ADV")
    declared = make_claim(patient, hospital, admitted_on=D("2026-07-05"))
    settle_claim(claim=declared, by=people["clerk"])
    open_batch = batches.receive_batch(hospital=hospital, period=(D("2026-07-01"), D("2026-07-31")),
                                       received_on=D("2026-08-11"), claims=[declared], by=people["clerk"])
    correction = corr.propose_correction(
        settlement=Settlement.objects.get(claim=frozen, reversed_at__isnull=True), by=people["clerk"],
        reason="录错", total_cost=M("59000.00"))
    manual = make_claim(patient, hospital, admitted_on=D("2026-06-01"), source=ClaimSource.MANUAL)
    case = flow.register_manual_claim(claim=manual, received_on=D("2026-06-20"), by=people["clerk"],
                                      payee_account="6228480000000000001")
    return {"hospital": hospital, "patient": patient, "registered": registered, "settled": settled,
            "batch": open_batch, "correction": correction, "case": case}


def _live(claim):
    return Settlement.objects.get(claim=claim, reversed_at__isnull=True)


SERVICES = {
    "settle_claim": lambda w, by: settle_claim(claim=w["registered"], by=by),
    "settle_claims": lambda w, by: settle_claims(claims=[w["registered"].pk], by=by),
    "settle_claims_queryset": lambda w, by: settle_claims(claims=Claim.objects.filter(pk=w["registered"].pk), by=by),
    "reverse_settlement": lambda w, by: reverse_settlement(settlement=_live(w["settled"]), by=by, reason="撤销"),
    "correct_claim": lambda w, by: correct_claim(claim=w["settled"], by=by, reason="录错",
                                                 total_cost=M("59000.00")),
    "register_manual_claim": lambda w, by: flow.register_manual_claim(
        by=by, received_on=D("2026-09-20"), person=w["patient"], hospital=w["hospital"], visit_type="inpatient",
        admitted_on=D("2026-09-01"), discharged_on=D("2026-09-10"), total_cost=M("1000.00"),
        policy_scope_cost=M("900.00")),
    "propose_correction": lambda w, by: corr.propose_correction(
        settlement=_live(w["settled"]), by=by, reason="录错", total_cost=M("59000.00")),
    "approve_correction": lambda w, by: corr.approve_correction(correction=w["correction"], by=by),
    "reject_correction": lambda w, by: corr.reject_correction(correction=w["correction"], by=by, note="不对"),
    "initial_review": lambda w, by: flow.initial_review(case=w["case"], by=by),
    "receive_batch": lambda w, by: batches.receive_batch(
        hospital=w["hospital"], period=(D("2026-08-01"), D("2026-08-31")), received_on=D("2026-09-05"),
        claims=[w["settled"]], by=by),
    "pay_advance": lambda w, by: batches.pay_advance(batch=w["batch"], by=by, paid_on=D("2026-08-12"),
                                                     reference="X"),
}

#: Who is refused what: everyone below lacks the permission or the region (or is a hospital user).
REFUSED = {
    "nobody": list(SERVICES),
    "liaison": list(SERVICES),
    "hospital": list(SERVICES),
    "reviewer": [name for name in SERVICES if name != "initial_review"],
    "clerk_b": list(SERVICES),
    "approver_b": ["approve_correction", "reject_correction", "pay_advance", "settle_claim", "correct_claim"],
}
CASES = [(who, service) for who, services in REFUSED.items() for service in services]


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "service"), CASES, ids=[f"{w}-{s}" for w, s in CASES])
def test_service_refuses_and_writes_nothing(world, people, who, service):
    before = snapshot()
    with pytest.raises(PermissionDenied):
        SERVICES[service](world, people[who])
    assert snapshot() == before


@pytest.mark.django_db
def test_the_same_calls_succeed_for_the_right_people(world, people):
    """The refusals above are about the user, not the data: the entitled users succeed with the same calls."""
    SERVICES["settle_claim"](world, people["clerk"])
    SERVICES["correct_claim"](world, people["clerk"])
    SERVICES["register_manual_claim"](world, people["clerk"])
    SERVICES["approve_correction"](world, people["approver"])
    SERVICES["initial_review"](world, people["reviewer"])
    SERVICES["receive_batch"](world, people["clerk"])
    SERVICES["pay_advance"](world, people["approver"])


@pytest.mark.django_db
def test_a_batch_with_one_claim_out_of_region_settles_nothing(regions, world, people):
    other = make_claim(make_patient(regions["b"], years=(2026,)), make_hospital(regions["b"]),
                       admitted_on=D("2026-09-01"))
    before = snapshot()
    with pytest.raises(PermissionDenied, match="region"):
        settle_claims(claims=[world["registered"].pk, other.pk], by=people["clerk"])
    assert snapshot() == before


@pytest.mark.django_db
def test_an_inactive_user_is_refused(world, people):
    clerk = people["clerk"]
    clerk.is_active = False
    clerk.save()
    with pytest.raises(PermissionDenied, match="active"):
        settle_claim(claim=world["registered"], by=clerk)


def test_anonymous_and_missing_users_are_refused(regions):
    from django.contrib.auth.models import AnonymousUser

    for user in (None, AnonymousUser()):
        with pytest.raises(PermissionDenied):
            require_permission(user, "claims.settle_claim", region=regions["a"])


@pytest.mark.django_db
def test_hospital_scoped_check(regions, world, people):
    """A hospital user reaches their own hospital only; bureau staff reach hospitals through the region."""
    own, other = world["hospital"], make_hospital(regions["a"])
    group = Group.objects.get(name=roles.HOSPITAL)
    assert permission_refusal(people["hospital"], "claims.lookup_eligibility", hospital=own) is None
    assert "another hospital" in permission_refusal(people["hospital"], "claims.lookup_eligibility", hospital=other)
    assert "another hospital" in permission_refusal(people["hospital"], "claims.lookup_eligibility",
                                                    region=regions["a"])
    assert group.permissions.filter(codename="settle_claim").count() == 0
    assert permission_refusal(people["clerk"], "claims.add_hospitalbatch", hospital=other) is None
    assert "region" in permission_refusal(people["clerk_b"], "claims.add_hospitalbatch", hospital=other)
