"""The way in from the admin: propose a correction of a frozen settlement on the claim page, approve or reject it
on the correction's decision page (another person), and the lines are written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from claims.models import CorrectionState, PaymentLine, Settlement, SettlementCorrection
from claims.models.claims import ClaimSource
from claims.services import corrections as corr
from claims.services import reimbursement as flow
from enrollment import roles
from tests.conftest import budgeted_count_extra
from tests.enrollment._admin_world import _admin_over_plain_http  # noqa: F401 - autouse: plain-HTTP test client
from tests.factories import make_user

from .factories import make_claim, make_hospital, make_patient, spec_example_policy

D = dt.date.fromisoformat
M = Decimal


@pytest.fixture
def staff(regions):
    a = (regions["a"],)
    return {
        "clerk": make_user("clerk", roles=(roles.CLERK,), regions=a),
        "reviewer": make_user("reviewer", roles=(roles.REVIEWER,), regions=a),
        "approver": make_user("approver", roles=(roles.APPROVER,), regions=a),
        "approver_b": make_user("approver_b", roles=(roles.APPROVER,), regions=(regions["b"],)),
    }


@pytest.fixture
def case(regions, staff):
    spec_example_policy(regions["a"], effective_from=D("2026-01-01"))
    patient = make_patient(regions["a"], codes=("dibao",), years=(2026,))
    claim = make_claim(patient, make_hospital(regions["a"]), admitted_on=D("2026-09-01"), source=ClaimSource.MANUAL)
    case = flow.register_manual_claim(claim=claim, received_on=D("2026-09-18"), by=staff["clerk"],
                                      payee_account="6228480000000000001")
    flow.initial_review(case=case, by=staff["reviewer"])
    flow.re_review(case=case, by=staff["approver"])
    return case


def _claim_url(claim, page="change"):
    return reverse(f"admin:claims_claim_{page}", args=[claim.pk])


def _correction_form(claim, **overrides):
    data = {"reason": "发票金额录错", "hospital": claim.hospital_id, "visit_type": claim.visit_type,
            "admitted_on": claim.admitted_on.isoformat(), "discharged_on": claim.discharged_on.isoformat(),
            "diagnosis_code": claim.diagnosis_code, "diagnosis_name": claim.diagnosis_name,
            "referral": claim.referral, "total_cost": str(claim.total_cost),
            "policy_scope_cost": str(claim.policy_scope_cost)}
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_claim_page_offers_a_proposal_for_a_frozen_settlement(client, case, staff):
    client.force_login(staff["clerk"])
    page = client.get(_claim_url(case.claim))
    assert _claim_url(case.claim, "correct") in page.content.decode()
    assert "Propose a correction" in page.content.decode()
    form = client.get(_claim_url(case.claim, "correct"))
    assert form.status_code == 200 and "nothing about the money changes" in form.content.decode()


@pytest.mark.django_db
def test_propose_in_the_admin_then_approve_by_another_person(client, case, staff):
    claim = case.claim
    original = Settlement.objects.get(claim=claim, reversed_at__isnull=True)
    client.force_login(staff["clerk"])
    response = client.post(_claim_url(claim, "correct"), _correction_form(claim, total_cost="56000.00"))
    correction = SettlementCorrection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:claims_settlementcorrection_change", args=[correction.pk])
    assert (correction.proposed_by, correction.changes) == (staff["clerk"], {"total_cost": "56000.00"})
    assert Settlement.objects.get(claim=claim, reversed_at__isnull=True) == original  # nothing booked yet

    decide = reverse("admin:claims_settlementcorrection_decide", args=[correction.pk])
    client.force_login(staff["approver"])
    page = client.get(decide)
    assert page.status_code == 200
    body = page.content.decode()
    assert "56000.00" in body and "38625.00" in body  # proposed value and the current settlement's basic layer
    response = client.post(decide, {"note": "核对无误", "approve": "1"})
    assert response.status_code == 302
    correction.refresh_from_db()
    assert correction.state == CorrectionState.APPROVED
    assert correction.new_settlement.total == M("56000.00")
    original.refresh_from_db()
    assert original.reversal_approved_by == staff["approver"]


@pytest.mark.django_db
def test_the_proposer_cannot_approve_in_the_admin(client, case, staff):
    both = make_user("both", roles=(roles.CLERK, roles.APPROVER), regions=(case.claim.region,))
    original = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    correction = corr.propose_correction(settlement=original, by=both, reason="录错", total_cost=M("56000.00"))
    client.force_login(both)
    decide = reverse("admin:claims_settlementcorrection_decide", args=[correction.pk])
    response = client.post(decide, {"note": "", "approve": "1"})
    assert response.status_code == 200 and "four eyes" in response.content.decode()
    correction.refresh_from_db()
    assert correction.state == CorrectionState.PROPOSED


@pytest.mark.django_db
def test_reject_in_the_admin_needs_a_note(client, case, staff):
    original = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    correction = corr.propose_correction(settlement=original, by=staff["clerk"], reason="录错", reverse_only=True)
    decide = reverse("admin:claims_settlementcorrection_decide", args=[correction.pk])
    client.force_login(staff["approver"])
    assert "reason for rejecting" in client.post(decide, {"note": "", "reject": "1"}).content.decode()
    assert client.post(decide, {"note": "金额无误", "reject": "1"}).status_code == 302
    correction.refresh_from_db()
    assert correction.state == CorrectionState.REJECTED


@pytest.mark.django_db
def test_decision_page_is_refused_to_others(client, case, staff):
    original = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    correction = corr.propose_correction(settlement=original, by=staff["clerk"], reason="录错", reverse_only=True)
    decide = reverse("admin:claims_settlementcorrection_decide", args=[correction.pk])
    client.force_login(staff["reviewer"])  # may view corrections, may not approve
    assert client.get(decide).status_code == 403
    client.force_login(staff["approver_b"])  # another county: the correction does not exist for them
    assert client.get(decide).status_code == 404


@pytest.mark.django_db
def test_correction_list_query_count(client, regions, case, staff, django_assert_max_num_queries):
    original = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    corr.propose_correction(settlement=original, by=staff["clerk"], reason="录错", reverse_only=True)
    client.force_login(staff["approver"])
    url = reverse("admin:claims_settlementcorrection_changelist")
    client.get(url)  # warm caches (content types, permissions) as a real session would
    with django_assert_max_num_queries(12 + budgeted_count_extra()):
        response = client.get(url)
    assert response.status_code == 200 and case.claim.number in response.content.decode()


@pytest.mark.django_db
def test_no_admin_form_changes_frozen_money(client, case, staff):
    """The claim's change form ignores posted costs once settled; payment lines have no edit form for anyone."""
    claim = case.claim
    settlement = Settlement.objects.get(claim=claim, reversed_at__isnull=True)
    lines = list(PaymentLine.objects.filter(claim=claim).order_by("pk").values_list("pk", "layer", "amount"))
    client.force_login(staff["clerk"])
    client.post(_claim_url(claim), _correction_form(claim, total_cost="1.00", policy_scope_cost="1.00",
                                                    number=claim.number, person=claim.person_id))
    line = PaymentLine.objects.filter(claim=claim).first()
    assert client.post(reverse("admin:claims_paymentline_change", args=[line.pk]),
                       {"amount": "1.00"}).status_code == 403
    claim.refresh_from_db()
    settlement.refresh_from_db()
    assert (claim.total_cost, settlement.basic) == (M("60000.00"), M("38625.00"))
    assert list(PaymentLine.objects.filter(claim=claim).order_by("pk").values_list("pk", "layer", "amount")) == lines
