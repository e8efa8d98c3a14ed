"""Manual reimbursement workflow (SPEC §4.4): guarded, logged transitions, SLA clock with pauses, four eyes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import chinese_calendar
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation
from django_fsm import ConcurrentTransition

from claims.calendar import invalidate_calendar
from claims.models import CaseEvent, Claim, PaymentLine, ReimbursementCase, Settlement
from claims.models.claims import ClaimSource, ClaimStatus
from claims.models.reimbursement import CaseState
from claims.services import reimbursement as flow
from claims.services.reimbursement import ConcurrentChange
from enrollment import roles
from tests.claims.factories import make_claim, make_hospital, make_patient, spec_example_policy
from tests.factories import make_policy, make_user

D = dt.date.fromisoformat


@pytest.fixture(autouse=True)
def _fast_passwords_and_fresh_calendar(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP to a DEBUG-off site
    settings.STORAGES = {**settings.STORAGES,  # static files without a manifest (collectstatic is for deployment)
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.LANGUAGE_CODE = "en"  # assertions read the English msgids, whatever the catalogue holds
    invalidate_calendar()
    with translation.override("en"):
        yield
    invalidate_calendar()


@pytest.fixture
def staff(regions):
    a = (regions["a"],)
    return {
        "clerk": make_user("clerk", roles=(roles.CLERK,), regions=a),
        "reviewer": make_user("reviewer", roles=(roles.REVIEWER,), regions=a),
        "reviewer2": make_user("reviewer2", roles=(roles.REVIEWER,), regions=a),
        "approver": make_user("approver", roles=(roles.APPROVER,), regions=a),
        # Holds both review roles: four eyes must stop them approving their own initial review.
        "dual": make_user("dual", roles=(roles.REVIEWER, roles.APPROVER), regions=a),
        "head": make_user("head", roles=(roles.HEAD,), regions=a),
        "reviewer_b": make_user("reviewer_b", roles=(roles.REVIEWER,), regions=(regions["b"],)),
        "clerk_b": make_user("clerk_b2", roles=(roles.CLERK,), regions=(regions["b"],)),
    }


@pytest.fixture
def world(regions):
    policy = spec_example_policy(regions["a"], effective_from=D("2026-01-01"))
    patient = make_patient(regions["a"], codes=("dibao",), years=(2026,))
    hospital = make_hospital(regions["a"], in_region=False, networked=False)
    return {"policy": policy, "patient": patient, "hospital": hospital, "region": regions["a"]}


def new_claim(world, **extra) -> Claim:
    # The SPEC §4.2 worked example: total 60 000, policy scope 52 000, dibao, referred, county hospital.
    return make_claim(world["patient"], world["hospital"], admitted_on=D("2026-09-01"), source=ClaimSource.MANUAL,
                      **extra)


def register(world, staff, received_on="2026-09-18", **extra) -> ReimbursementCase:
    return flow.register_manual_claim(
        claim=new_claim(world), received_on=D(received_on), by=staff["clerk"], payee_name="张三",
        payee_bank="农业银行", payee_account="6228480000000000001",
        documents="身份证、发票、出院小结、费用清单、银行卡", **extra)


def reference_add(start: dt.date, n: int) -> dt.date:
    day = start
    while n:
        day += dt.timedelta(days=1)
        if chinese_calendar.is_workday(day):
            n -= 1
    return day


def events(case) -> list[tuple[str, str, str, str]]:
    return [(e.transition, e.from_state, e.to_state, e.by.username) for e in case.events.select_related("by")]


# --------------------------------------------------------------------------------------------------------------
# The whole way, and the SLA from policy data
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_register_review_re_review_pay(world, staff):
    case = register(world, staff)
    assert case.state == CaseState.RECEIVED
    assert case.sla_working_days == 25  # BenefitPolicy.manual_working_days
    assert (case.sla_due_on, case.sla_provisional) == (D("2026-10-29"), False)
    assert case.sla_due_on == reference_add(D("2026-09-18"), 25)

    flow.initial_review(case=case, by=staff["reviewer"], note="材料齐全")
    assert case.state == CaseState.REVIEWED and case.initial_reviewer == staff["reviewer"]
    settlement = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    # The figures the re-reviewer sees are the worked example's.
    assert (settlement.basic, settlement.critical, settlement.assistance) == (
        Decimal("38625.00"), Decimal("3818.75"), Decimal("6689.38"))

    flow.re_review(case=case, by=staff["approver"])
    assert case.state == CaseState.APPROVED and case.re_reviewer == staff["approver"]

    flow.pay(case=case, by=staff["approver"], paid_on=D("2026-10-20"), reference="PAY-001",
             account="6228480000000000999")
    case.refresh_from_db()
    assert case.state == CaseState.PAID
    assert (case.paid_on, case.payment_reference, case.payee_account) == (
        D("2026-10-20"), "PAY-001", "6228480000000000999")
    assert events(case) == [
        ("register", "", "received", "clerk"),
        ("initial_review", "received", "reviewed", "reviewer"),
        ("re_review", "reviewed", "approved", "approver"),
        ("pay", "approved", "paid", "approver"),
    ]
    assert case.events.get(transition="initial_review").note == "材料齐全"
    # The history records every step with its user.
    assert [h.history_user.username for h in case.history.order_by("history_id")] == [
        "clerk", "reviewer", "approver", "approver"]


@pytest.mark.django_db
def test_allowance_comes_from_the_policy_spec_example(world, staff):
    world["policy"].benefits.manual_working_days = 10
    world["policy"].benefits.save()
    case = register(world, staff, received_on="2026-09-18")
    assert case.sla_due_on == D("2026-10-09")  # SPEC §4.4's example


@pytest.mark.django_db
def test_register_from_claim_fields_and_a_policy_without_benefit_settings(world, staff, regions):
    case = flow.register_manual_claim(
        by=staff["clerk"], received_on=D("2026-09-18"), person=world["patient"], hospital=world["hospital"],
        visit_type="inpatient", admitted_on=D("2026-09-01"), discharged_on=D("2026-09-10"),
        total_cost=Decimal("1000.00"), policy_scope_cost=Decimal("800.00"))
    assert case.claim.source == ClaimSource.MANUAL and case.claim.region == regions["a"]
    assert case.claim.created_by == staff["clerk"]

    world["policy"].effective_to = D("2026-09-30")
    world["policy"].save()
    make_policy(regions["a"], D("2026-10-01"))  # a version without benefit settings
    claims_before = Claim.objects.count()
    with pytest.raises(ValidationError, match="no benefit settings"):
        flow.register_manual_claim(
            by=staff["clerk"], received_on=D("2026-11-02"), person=world["patient"], hospital=world["hospital"],
            visit_type="outpatient", admitted_on=D("2026-10-20"), total_cost=Decimal("100.00"),
            policy_scope_cost=Decimal("100.00"))
    assert Claim.objects.count() == claims_before  # the claim was not left behind


@pytest.mark.django_db
def test_register_refuses_other_regions_future_dates_and_duplicates(world, staff):
    with pytest.raises(PermissionDenied, match="region"):
        flow.register_manual_claim(claim=new_claim(world), received_on=D("2026-09-18"), by=staff["clerk_b"])
    with pytest.raises(PermissionDenied):
        flow.register_manual_claim(claim=new_claim(world), received_on=D("2026-09-18"), by=staff["reviewer"])
    with pytest.raises(ValidationError, match="future"):
        flow.register_manual_claim(claim=new_claim(world), received_on=D("2099-01-04"), by=staff["clerk"])
    case = register(world, staff)
    with pytest.raises(ValidationError, match="already has"):
        flow.register_manual_claim(claim=case.claim, received_on=D("2026-09-18"), by=staff["clerk"])


@pytest.mark.django_db
def test_transitions_check_state_permission_and_region(world, staff):
    case = register(world, staff)
    with pytest.raises(ValidationError, match="not possible"):
        flow.pay(case=case, by=staff["approver"], paid_on=D("2026-10-20"), reference="X")
    with pytest.raises(PermissionDenied, match="permission"):
        flow.initial_review(case=case, by=staff["approver"])
    with pytest.raises(PermissionDenied, match="region"):
        flow.initial_review(case=case, by=staff["reviewer_b"])
    case.refresh_from_db()
    assert case.state == CaseState.RECEIVED and list(case.events.values_list("transition", flat=True)) == [
        "register"]
    with pytest.raises(AttributeError):
        case.state = CaseState.PAID  # protected: only transitions move it


# --------------------------------------------------------------------------------------------------------------
# Four eyes
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_four_eyes_in_the_service_and_in_the_database(world, staff):
    case = register(world, staff)
    flow.initial_review(case=case, by=staff["dual"])
    # Reviewers may record a withdrawal (they change cases); re-reviewing their own review is not offered.
    assert flow.available_case_actions(case, staff["dual"]) == ["return_for_documents", "refuse", "withdraw"]
    assert "re_review" in flow.available_case_actions(case, staff["approver"])
    with pytest.raises(PermissionDenied, match="different person"):
        flow.re_review(case=case, by=staff["dual"])
    case.refresh_from_db()
    assert case.state == CaseState.REVIEWED and case.re_reviewer is None

    with pytest.raises(IntegrityError), transaction.atomic():
        ReimbursementCase.objects.filter(pk=case.pk).update(re_reviewer=staff["dual"])


@pytest.mark.django_db
def test_four_eyes_over_http(client, world, staff):
    case = register(world, staff)
    client.force_login(staff["dual"])
    response = client.post(reverse("claims:case_action", args=[case.pk, "initial_review"]),
                           {"initial_review-note": "ok"})
    assert response.status_code == 302
    page = client.get(reverse("claims:case_detail", args=[case.pk]))
    assert 'id="action-re_review"' not in page.content.decode()  # the UI hides it …

    response = client.post(reverse("claims:case_action", args=[case.pk, "re_review"]), {"re_review-note": ""})
    assert response.status_code == 403  # … and the server refuses it
    assert "different person" in response.content.decode()
    case.refresh_from_db()
    assert case.state == CaseState.REVIEWED and case.re_reviewer is None

    client.force_login(staff["approver"])
    assert 'id="action-re_review"' in client.get(reverse("claims:case_detail", args=[case.pk])).content.decode()
    response = client.post(reverse("claims:case_action", args=[case.pk, "re_review"]), {"re_review-note": ""})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == CaseState.APPROVED and case.re_reviewer == staff["approver"]


@pytest.mark.django_db
def test_case_pages_are_region_scoped_and_refuse_bad_input(client, world, staff):
    case = register(world, staff)
    client.force_login(staff["reviewer_b"])
    assert client.get(reverse("claims:case_detail", args=[case.pk])).status_code == 404
    assert client.post(reverse("claims:case_action", args=[case.pk, "initial_review"])).status_code == 404
    client.force_login(staff["reviewer"])
    response = client.post(reverse("claims:case_action", args=[case.pk, "return_for_documents"]),
                           {"return_for_documents-documents_requested": ""})
    assert response.status_code == 400
    response = client.post(reverse("claims:case_action", args=[case.pk, "exempt"]),
                           {"exempt-kind": "special", "exempt-reason": "特殊病案", "exempt-confirm": "on"})
    assert response.status_code == 403  # only a head may exempt
    response = client.post(reverse("claims:case_action", args=[case.pk, "pay"]),
                           {"pay-paid_on": "2026-10-20", "pay-reference": "X"})
    assert response.status_code == 400  # not in 待支付
    case.refresh_from_db()
    assert case.state == CaseState.RECEIVED


# --------------------------------------------------------------------------------------------------------------
# Two people at once
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_concurrent_transition_only_one_succeeds(world, staff):
    case = register(world, staff)
    first = ReimbursementCase.objects.get(pk=case.pk)
    second = ReimbursementCase.objects.get(pk=case.pk)
    flow.initial_review(case=first, by=staff["reviewer"])
    with pytest.raises(ConcurrentChange, match="Someone else"):
        flow.initial_review(case=second, by=staff["reviewer2"])
    assert second.state == CaseState.REVIEWED  # reloaded: the caller sees what happened
    assert second.initial_reviewer == staff["reviewer"]
    assert Settlement.objects.filter(claim=case.claim).count() == 1
    assert case.events.filter(transition="initial_review").count() == 1


@pytest.mark.django_db
def test_the_model_refuses_the_second_of_two_stale_saves(world, staff):
    case = register(world, staff)
    to_returned = flow.CASE_ACTIONS["return_for_documents"][0]
    to_refused = flow.CASE_ACTIONS["refuse"][0]
    first = ReimbursementCase.objects.get(pk=case.pk)
    second = ReimbursementCase.objects.get(pk=case.pk)
    with transaction.atomic():
        to_returned(first)
        first.save()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        to_refused(second)
        second.save()
    assert ReimbursementCase.objects.get(pk=case.pk).state == CaseState.RETURNED


# --------------------------------------------------------------------------------------------------------------
# Pauses, exemptions, refusal, withdrawal
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pause_and_resume_keep_the_remaining_working_days(world, staff):
    case = register(world, staff, received_on="2026-09-01")  # Tuesday; 25 working days
    assert case.sla_due_on == reference_add(D("2026-09-01"), 25)
    flow.return_for_documents(case=case, by=staff["reviewer"], documents_requested="住院费用清单",
                              on=D("2026-09-08"))
    assert case.state == CaseState.RETURNED and case.sla_due_on is None
    pause = case.pauses.get()
    assert (pause.paused_on, pause.resumed_on, pause.reason) == (D("2026-09-08"), None, "住院费用清单")

    flow.resubmit(case=case, by=staff["clerk"], documents="住院费用清单", on=D("2026-10-12"))
    case.refresh_from_db()
    pause.refresh_from_db()
    assert case.state == CaseState.RECEIVED and pause.resumed_on == D("2026-10-12")
    # Used 2, 3, 4, 7, 8 September (5 working days); 20 are left, counted after the resubmission.
    assert case.sla_due_on == reference_add(D("2026-10-12"), 20) == D("2026-11-09")
    assert case.sla_provisional is False
    assert case.documents.endswith("住院费用清单")
    assert [e[0] for e in events(case)] == ["register", "return_for_documents", "resubmit"]


@pytest.mark.django_db
def test_returned_after_initial_review_goes_back_to_received_and_is_settled_again(world, staff):
    case = register(world, staff)
    flow.initial_review(case=case, by=staff["reviewer"])
    first = Settlement.objects.get(claim=case.claim)
    flow.return_for_documents(case=case, by=staff["approver"], documents_requested="出院小结", on=D("2026-10-09"))
    flow.resubmit(case=case, by=staff["clerk"], on=D("2026-10-13"))
    assert case.state == CaseState.RECEIVED and case.initial_reviewer is None
    flow.initial_review(case=case, by=staff["reviewer2"])
    first.refresh_from_db()
    assert first.reversed_at is not None
    current = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    assert current.pk != first.pk
    assert current.basic == Decimal("38625.00")  # year-to-date unaffected by the reversed first round
    # Four eyes now applies to the new initial reviewer only.
    flow.re_review(case=case, by=staff["approver"])
    assert case.state == CaseState.APPROVED


@pytest.mark.django_db
def test_exemption_needs_a_head_and_stops_the_clock(world, staff):
    case = register(world, staff)
    with pytest.raises(PermissionDenied):
        flow.exempt(case=case, by=staff["reviewer"], kind="doubtful", reason="疑问病案")
    with pytest.raises(ValidationError, match="reason"):
        flow.exempt(case=case, by=staff["head"], kind="doubtful", reason=" ")
    flow.exempt(case=case, by=staff["head"], kind="doubtful", reason="费用明细存疑，需调查")
    case.refresh_from_db()
    assert case.exempt and case.exempt_kind == "doubtful" and case.exempt_signed_off_by == staff["head"]
    assert case.sla_due_on is None and case.state == CaseState.RECEIVED
    assert events(case)[-1] == ("exempt", "received", "received", "head")
    with pytest.raises(ValidationError, match="already exempted"):
        flow.exempt(case=case, by=staff["head"], kind="special", reason="again")
    # The work goes on without a clock, also through a pause.
    flow.return_for_documents(case=case, by=staff["reviewer"], documents_requested="发票原件", on=D("2026-10-09"))
    flow.resubmit(case=case, by=staff["clerk"], on=D("2026-10-12"))
    case.refresh_from_db()
    assert case.sla_due_on is None
    with pytest.raises(IntegrityError), transaction.atomic():
        ReimbursementCase.objects.filter(pk=case.pk).update(exempt_signed_off_by=None)


@pytest.mark.django_db
def test_refusal_reverses_the_settlement_and_rejects_the_claim(world, staff):
    case = register(world, staff)
    flow.initial_review(case=case, by=staff["reviewer"])
    with pytest.raises(PermissionDenied):
        flow.refuse(case=case, by=staff["reviewer"], reason="不属于报销范围")
    flow.refuse(case=case, by=staff["approver"], reason="不属于报销范围")
    case.refresh_from_db()
    assert case.state == CaseState.REFUSED and case.refusal_reason == "不属于报销范围"
    assert case.claim.status == ClaimStatus.REJECTED
    assert not Settlement.objects.filter(claim=case.claim, reversed_at__isnull=True).exists()
    amounts = PaymentLine.objects.filter(claim=case.claim).values_list("amount", flat=True)
    assert amounts and sum(amounts) == 0  # every line reversed


@pytest.mark.django_db
def test_withdrawal_while_paused_closes_the_pause(world, staff):
    case = register(world, staff)
    flow.return_for_documents(case=case, by=staff["reviewer"], documents_requested="银行卡", on=D("2026-10-09"))
    flow.withdraw(case=case, by=staff["clerk"], note="申请人撤回")
    case.refresh_from_db()
    assert case.state == CaseState.WITHDRAWN
    assert case.pauses.get().resumed_on is not None
    assert CaseEvent.objects.filter(case=case, transition="withdraw", note="申请人撤回").exists()
    with pytest.raises(ValidationError):
        flow.resubmit(case=case, by=staff["clerk"])
