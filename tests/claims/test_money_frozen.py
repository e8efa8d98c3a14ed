"""Money is frozen after review (issue 7 §3): after 复核 or payment no service changes a claim's amounts, its
settlement or its payment lines; a change is a correction that one person proposes and another approves."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from claims.models import (
    CorrectionKind,
    CorrectionState,
    FreezeReason,
    PaymentLine,
    Settlement,
    SettlementCorrection,
)
from claims.models.claims import ClaimSource, ClaimStatus
from claims.models.reimbursement import CaseState
from claims.services import batches
from claims.services import corrections as corr
from claims.services import reimbursement as flow
from claims.services.settlement import correct_claim, reverse_settlement, settle_claim
from enrollment import roles
from tests.claims.factories import make_claim, make_hospital, make_patient, spec_example_policy
from tests.factories import make_user

D = dt.date.fromisoformat
M = Decimal


@pytest.fixture
def staff(regions):
    a = (regions["a"],)
    return {
        "clerk": make_user("clerk", roles=(roles.CLERK,), regions=a),
        "clerk2": make_user("clerk2", roles=(roles.CLERK,), regions=a),
        "reviewer": make_user("reviewer", roles=(roles.REVIEWER,), regions=a),
        "approver": make_user("approver", roles=(roles.APPROVER,), regions=a),
        "head": make_user("head", roles=(roles.HEAD,), regions=a),
        # Proposes and approves: four eyes must stop them approving their own proposal.
        "dual": make_user("dual", roles=(roles.CLERK, roles.APPROVER), regions=a),
        "approver_b": make_user("approver_b", roles=(roles.APPROVER,), regions=(regions["b"],)),
    }


@pytest.fixture
def world(regions):
    spec_example_policy(regions["a"], effective_from=D("2026-01-01"))
    return {"patient": make_patient(regions["a"], codes=("dibao",), years=(2026,)),
            "hospital": make_hospital(regions["a"]), "region": regions["a"]}


def money(claim) -> list[tuple]:
    """Everything about a claim's money: settlements (amounts, reversal) and every payment line."""
    settlements = list(Settlement.objects.filter(claim=claim).order_by("pk").values_list(
        "pk", "basic", "critical", "assistance", "hospital_borne", "patient_pays", "reversed_at"))
    lines = list(PaymentLine.objects.filter(claim=claim).order_by("pk").values_list("pk", "layer", "amount"))
    return [settlements, lines]


def approved_case(world, staff):
    """A manual claim (the SPEC §4.2 worked example) through 初审 and 复核: awaiting payment."""
    claim = make_claim(world["patient"], world["hospital"], admitted_on=D("2026-09-01"), source=ClaimSource.MANUAL)
    case = flow.register_manual_claim(claim=claim, received_on=D("2026-09-18"), by=staff["clerk"],
                                      payee_name="张三", payee_account="6228480000000000001")
    flow.initial_review(case=case, by=staff["reviewer"])
    flow.re_review(case=case, by=staff["approver"])
    return case


def paid_batch_claim(world, staff):
    claim = make_claim(world["patient"], world["hospital"], admitted_on=D("2026-09-01"))
    settle_claim(claim=claim, by=staff["clerk"])
    batch = batches.receive_batch(hospital=world["hospital"], period=(D("2026-09-01"), D("2026-09-15")),
                                  received_on=D("2026-09-18"), claims=[claim], by=staff["clerk"])
    batches.pay_advance(batch=batch, by=staff["approver"], paid_on=D("2026-09-25"), reference="ADV-1")
    return claim


# --------------------------------------------------------------------------------------------------------------
# The two four-eyes bypasses of the issue, now refused
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_correction_after_re_review_does_not_change_the_amounts(world, staff):
    case = approved_case(world, staff)
    claim = case.claim
    settlement = Settlement.objects.get(claim=claim, reversed_at__isnull=True)
    assert (settlement.frozen_reason, settlement.basic) == (FreezeReason.RE_REVIEWED, M("38625.00"))
    before = money(claim)

    with pytest.raises(ValidationError, match="frozen") as refused:
        correct_claim(claim=claim, by=staff["clerk"], reason="发票金额录错", total_cost=M("50000.00"))
    assert refused.value.code == "frozen"
    with pytest.raises(ValidationError, match="frozen"):
        reverse_settlement(settlement=settlement, by=staff["clerk"], reason="重新结算")

    claim.refresh_from_db()
    assert (claim.total_cost, claim.status) == (M("60000.00"), ClaimStatus.SETTLED)
    assert money(claim) == before


@pytest.mark.django_db
def test_correction_after_batch_payment_does_not_change_the_amounts(world, staff):
    claim = paid_batch_claim(world, staff)
    settlement = Settlement.objects.get(claim=claim, reversed_at__isnull=True)
    assert settlement.frozen_reason == FreezeReason.BATCH_PAID
    before = money(claim)

    with pytest.raises(ValidationError, match="frozen"):
        correct_claim(claim=claim, by=staff["clerk"], reason="改费用", policy_scope_cost=M("40000.00"))
    with pytest.raises(ValidationError, match="frozen"):
        reverse_settlement(settlement=settlement, by=staff["clerk"], reason="撤销")
    assert money(claim) == before


@pytest.mark.django_db
def test_refusing_or_withdrawing_a_re_reviewed_case_leaves_its_money_alone(world, staff):
    case = approved_case(world, staff)
    before = money(case.claim)
    with pytest.raises(ValidationError, match="frozen"):
        flow.refuse(case=case, by=staff["approver"], reason="材料不实")
    with pytest.raises(ValidationError, match="frozen"):
        flow.withdraw(case=case, by=staff["clerk"], note="申请人撤回")
    case.refresh_from_db()
    assert case.state == CaseState.APPROVED
    assert money(case.claim) == before


@pytest.mark.django_db
def test_a_correction_before_review_still_works_and_is_not_frozen(world, staff):
    claim = make_claim(world["patient"], world["hospital"], admitted_on=D("2026-09-01"))
    settle_claim(claim=claim, by=staff["clerk"])
    new = correct_claim(claim=claim, by=staff["clerk"], reason="录错", total_cost=M("58000.00"))
    assert new.frozen_at is None and new.total == M("58000.00")


# --------------------------------------------------------------------------------------------------------------
# The correction: propose → approve (four eyes) → reversal and new settlement
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_proposal_writes_nothing_about_the_money(world, staff):
    case = approved_case(world, staff)
    original = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    before = money(case.claim)
    correction = corr.propose_correction(settlement=original, by=staff["clerk"], reason="发票金额录错",
                                         total_cost=M("50000.00"), policy_scope_cost=M("45000.00"))
    assert correction.state == CorrectionState.PROPOSED
    assert correction.changes == {"total_cost": "50000.00", "policy_scope_cost": "45000.00"}
    assert money(case.claim) == before
    preview = corr.preview_correction(correction)
    assert preview.result.total_cost == M("50000.00")
    with pytest.raises(ValidationError, match="already waiting"):
        corr.propose_correction(settlement=original, by=staff["clerk2"], reason="again", total_cost=M("1.00"))


@pytest.mark.django_db
def test_approval_books_a_reviewed_reversal_and_a_reviewed_new_settlement(world, staff):
    case = approved_case(world, staff)
    claim = case.claim
    original = Settlement.objects.get(claim=claim, reversed_at__isnull=True)
    original_lines = list(original.lines.values_list("pk", "layer", "amount"))
    correction = corr.propose_correction(settlement=original, by=staff["clerk"], reason="发票金额录错",
                                         total_cost=M("50000.00"), policy_scope_cost=M("45000.00"))

    corr.approve_correction(correction=correction, by=staff["approver"], note="核对发票无误")

    correction.refresh_from_db()
    assert (correction.state, correction.decided_by) == (CorrectionState.APPROVED, staff["approver"])
    original.refresh_from_db()
    # The original stays readable: its row and its lines as booked, plus negative reversal lines.
    assert (original.basic, original.reversed_by, original.reversal_approved_by) == (
        M("38625.00"), staff["clerk"], staff["approver"])
    assert list(original.lines.filter(is_reversal=False).values_list("pk", "layer", "amount")) == original_lines
    reversal = {line.layer: line.amount for line in original.lines.filter(is_reversal=True)}
    assert reversal == {layer: -amount for _pk, layer, amount in original_lines}
    new = correction.new_settlement
    assert (new.created_by, new.approved_by) == (staff["clerk"], staff["approver"])
    assert new.frozen_reason == FreezeReason.CORRECTION
    assert new.total == M("50000.00")
    claim.refresh_from_db()
    assert (claim.total_cost, claim.status) == (M("50000.00"), ClaimStatus.SETTLED)
    assert claim.history.filter(history_change_reason="发票金额录错", total_cost=M("50000.00"),
                                history_user=staff["approver"]).exists()
    assert [h.state for h in correction.history.order_by("history_id")] == ["proposed", "approved"]
    # The live money is exactly the new settlement's: reversal and original cancel out.
    live = sum(line.amount for line in PaymentLine.objects.filter(claim=claim, layer__in=("basic", "critical",
                                                                                             "assistance")))
    assert live == new.basic + new.critical + new.assistance
    # The corrected settlement is frozen in turn.
    with pytest.raises(ValidationError, match="frozen"):
        correct_claim(claim=claim, by=staff["clerk"], reason="again", total_cost=M("1000.00"))


@pytest.mark.django_db
@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_the_proposer_cannot_decide_their_own_correction(world, staff, decide):
    case = approved_case(world, staff)
    original = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    correction = corr.propose_correction(settlement=original, by=staff["dual"], reason="录错",
                                         total_cost=M("56000.00"))
    before = money(case.claim)
    with pytest.raises(PermissionDenied, match="four eyes"):
        if decide == "approve":
            corr.approve_correction(correction=correction, by=staff["dual"])
        else:
            corr.reject_correction(correction=correction, by=staff["dual"], note="不对")
    correction.refresh_from_db()
    assert correction.state == CorrectionState.PROPOSED
    assert money(case.claim) == before


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["clerk2", "reviewer", "approver_b"])
def test_only_an_approver_of_the_region_approves(world, staff, who):
    case = approved_case(world, staff)
    original = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    correction = corr.propose_correction(settlement=original, by=staff["clerk"], reason="录错",
                                         total_cost=M("56000.00"))
    before = money(case.claim)
    with pytest.raises(PermissionDenied):
        corr.approve_correction(correction=correction, by=staff[who])
    assert money(case.claim) == before


@pytest.mark.django_db
def test_reject_closes_the_proposal_and_changes_nothing(world, staff):
    case = approved_case(world, staff)
    original = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    correction = corr.propose_correction(settlement=original, by=staff["clerk"], reason="录错",
                                         total_cost=M("56000.00"))
    before = money(case.claim)
    with pytest.raises(ValidationError, match="reason"):
        corr.reject_correction(correction=correction, by=staff["head"], note=" ")
    corr.reject_correction(correction=correction, by=staff["head"], note="发票金额无误")
    correction.refresh_from_db()
    assert (correction.state, correction.new_settlement) == (CorrectionState.REJECTED, None)
    assert money(case.claim) == before
    with pytest.raises(ValidationError, match="already"):
        corr.approve_correction(correction=correction, by=staff["approver"])


@pytest.mark.django_db
def test_reverse_only_leaves_the_claim_unsettled_until_a_reviewed_settlement(world, staff):
    claim = paid_batch_claim(world, staff)
    original = Settlement.objects.get(claim=claim, reversed_at__isnull=True)
    correction = corr.propose_correction(settlement=original, by=staff["clerk"], reason="重复报销",
                                         reverse_only=True)
    assert correction.kind == CorrectionKind.REVERSE
    corr.approve_correction(correction=correction, by=staff["approver"])
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REGISTERED
    assert not Settlement.objects.filter(claim=claim, reversed_at__isnull=True).exists()
    # Its money froze once: settling it again without a second person's approval is refused.
    with pytest.raises(ValidationError, match="frozen"):
        settle_claim(claim=claim, by=staff["clerk"])


@pytest.mark.django_db
def test_paying_a_case_whose_settlement_was_reversed_is_refused(world, staff):
    case = approved_case(world, staff)
    original = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    correction = corr.propose_correction(settlement=original, by=staff["clerk"], reason="不予报销",
                                         reverse_only=True)
    corr.approve_correction(correction=correction, by=staff["approver"])
    with pytest.raises(ValidationError, match="no current settlement"):
        flow.pay(case=case, by=staff["approver"], paid_on=D("2026-10-10"), reference="PAY-1")


@pytest.mark.django_db
def test_a_bad_correction_is_refused_with_nothing_written(world, staff):
    case = approved_case(world, staff)
    original = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    with pytest.raises(ValidationError):
        corr.propose_correction(settlement=original, by=staff["clerk"], reason="录错", policy_scope_cost=M("70000"))
    with pytest.raises(ValidationError, match="cannot be corrected"):
        corr.propose_correction(settlement=original, by=staff["clerk"], reason="录错", person=world["patient"])
    with pytest.raises(ValidationError, match="reason"):
        corr.propose_correction(settlement=original, by=staff["clerk"], reason="", total_cost=M("1.00"))
    with pytest.raises(ValidationError, match="Nothing was changed"):
        corr.propose_correction(settlement=original, by=staff["clerk"], reason="录错")
    assert not SettlementCorrection.objects.exists()


# --------------------------------------------------------------------------------------------------------------
# The database refuses what the services refuse
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_settlement_amounts_cannot_be_saved(world, staff):
    case = approved_case(world, staff)
    settlement = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    settlement.basic = M("1.00")
    with pytest.raises(ValidationError, match="cannot be changed"):
        settlement.save()
    with pytest.raises(ValidationError, match="cannot be changed"):
        settlement.save(update_fields=["basic"])


@pytest.mark.django_db
def test_db_refuses_an_unreviewed_reversal_of_a_frozen_settlement(world, staff):
    case = approved_case(world, staff)
    settlement = Settlement.objects.filter(claim=case.claim, reversed_at__isnull=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        settlement.update(reversed_at=timezone.now(), reversed_by=staff["clerk"])
    with pytest.raises(IntegrityError), transaction.atomic():
        settlement.update(reversed_at=timezone.now(), reversed_by=staff["clerk"], reversal_approved_by=staff["clerk"])
    settlement.update(reversed_at=timezone.now(), reversed_by=staff["clerk"], reversal_approved_by=staff["approver"])


@pytest.mark.django_db
def test_db_refuses_a_correction_decided_by_its_proposer(world, staff):
    case = approved_case(world, staff)
    original = Settlement.objects.get(claim=case.claim, reversed_at__isnull=True)
    correction = corr.propose_correction(settlement=original, by=staff["dual"], reason="录错",
                                         total_cost=M("56000.00"))
    rows = SettlementCorrection.objects.filter(pk=correction.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(state=CorrectionState.REJECTED, decided_by=staff["dual"], decided_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Settlement.objects.filter(pk=original.pk).update(approved_by=original.created_by)
