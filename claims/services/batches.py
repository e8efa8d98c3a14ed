"""Hospital advance-payment batches (定点医疗机构垫付资金申报, SPEC §4.4) as a guarded, logged state machine.

::

    receive_batch              → received      clerk (add_hospitalbatch): lines, declared total, 70 % advance due
                                               10 working days after receipt
    submit_batch               → received      the hospital itself (claims.submit_batch, its own hospital only),
                                               received the day it is submitted
    pay_advance   received     → advance_paid  claims.pay_batch; the final payment falls due 15 working days after
                                               the advance payment date
    audit         advance_paid → audited       claims.audit_batch; every line approved or rejected with a reason;
                                               final amount = approved total − advance (negative: to recover)
    pay_final     audited      → closed        claims.pay_batch, not the auditor (four eyes); a negative final
                                               amount is recorded as recovered from the hospital

**Declared amount of a claim** = what the funds pay for it in its current settlement: basic insurance + critical
illness insurance + medical assistance (the hospital advanced exactly these at the bedside; the patient's part and
what the hospital bears are not declared). The advance ratio and both allowances are policy data
(``BenefitPolicy.advance_ratio`` / ``advance_working_days`` / ``final_working_days`` of the version in force for
the hospital's region on the receipt date) and are frozen on the batch.

Each transition writes a ``CaseEvent`` (batch, who, when, from → to, note) and the batch's history; a stale batch
(moved by someone else since it was loaded) raises ``ConcurrentChange``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MethodType

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import DecimalField, ExpressionWrapper, F, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import has_transition_perm, transition
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from claims.calendar import work_calendar
from claims.models import BatchLine, BenefitPolicy, CaseEvent, Claim, Hospital, HospitalBatch, Settlement
from claims.models.batches import BatchState
from claims.models.claims import ClaimSource, ClaimStatus
from claims.rules.workdays import add_working_days
from claims.selectors import policy_for_service
from claims.services.reimbursement import (
    Guard,
    check_date,
    require_transition,
    required_text,
    run_atomically,
    save_transition,
)
from enrollment.money import ZERO, to_fen
from enrollment.scoping import user_can_reach_region, user_hospital_id

__all__ = ["BATCH_ACTIONS", "audit", "available_batch_actions", "pay_advance", "pay_final", "receive_batch",
           "submit_batch"]

_STATE = HospitalBatch._meta.get_field("state")
_MAX_LISTED_ERRORS = 20


def _batch_region(batch):
    return batch.region


_ADVANCE_PAYER = Guard(("claims.pay_batch",), _batch_region)
_AUDITOR = Guard(("claims.audit_batch",), _batch_region)
_FINAL_PAYER = Guard(
    ("claims.pay_batch",), _batch_region, differs_from="auditor",
    four_eyes_message=gettext_lazy(
        "You audited this batch; the final payment must be made by a different person (four eyes)."))


@transition(field=_STATE, source=BatchState.RECEIVED, target=BatchState.ADVANCE_PAID, permission=_ADVANCE_PAYER)
def _to_advance_paid(batch):
    pass


@transition(field=_STATE, source=BatchState.ADVANCE_PAID, target=BatchState.AUDITED, permission=_AUDITOR)
def _to_audited(batch):
    pass


@transition(field=_STATE, source=BatchState.AUDITED, target=BatchState.CLOSED, permission=_FINAL_PAYER)
def _to_closed(batch):
    pass


BATCH_ACTIONS = {
    "pay_advance": (_to_advance_paid, gettext_lazy("Record the advance payment")),
    "audit": (_to_audited, gettext_lazy("Record the audit")),
    "pay_final": (_to_closed, gettext_lazy("Record the final payment")),
}


def available_batch_actions(batch: HospitalBatch, user) -> list[str]:
    """Actions ``user`` may run on ``batch`` now (for buttons only; the services check again)."""
    return [name for name, (method, _label) in BATCH_ACTIONS.items()
            if has_transition_perm(MethodType(method, batch), user)]


def _log(batch: HospitalBatch, *, action: str, from_state: str, by, note: str = "") -> CaseEvent:
    return CaseEvent.objects.create(
        batch=batch, transition=action, from_state=from_state, to_state=batch.state, by=by, note=note[:300])


def _benefits(hospital: Hospital, on: dt.date) -> BenefitPolicy:
    policy = policy_for_service(hospital.region, on)
    if policy is None:
        raise ValidationError(
            _("No policy version is in force for %(region)s on %(date)s; the advance ratio is unknown.")
            % {"region": hospital.region, "date": on}, code="no_policy")
    try:
        return policy.benefits
    except BenefitPolicy.DoesNotExist:
        raise ValidationError(
            _("Policy version “%(policy)s” has no benefit settings (advance ratio and working days).")
            % {"policy": policy}, code="no_benefit_settings") from None


def _fund_paid_claims(claim_ids: list[int]):
    """The claims with the fund-paid amount (basic + critical + assistance) of their current settlement."""
    money = DecimalField(max_digits=14, decimal_places=2)
    current = Settlement.objects.filter(claim=OuterRef("pk"), reversed_at__isnull=True)
    fund_paid = current.annotate(
        fund_paid=ExpressionWrapper(F("basic") + F("critical") + F("assistance"), output_field=money)
    ).values("fund_paid")[:1]
    return Claim.objects.filter(pk__in=claim_ids).annotate(fund_paid=Subquery(fund_paid, output_field=money))


def receive_batch(*, hospital: Hospital, period: tuple[dt.date, dt.date], received_on: dt.date,
                  claims: Iterable[Claim | int], by, number: str | None = None, note: str = "") -> HospitalBatch:
    """Register a hospital's declaration of settled claims it advanced; the advance falls due.

    Every claim must be a directly settled claim of this hospital with a current settlement and in no other batch;
    all problems are reported together and nothing is written.
    """
    if not by.has_perm("claims.add_hospitalbatch"):
        raise PermissionDenied(_("You do not have the permission to register hospital batches."))
    if not user_can_reach_region(by, hospital.region):
        raise PermissionDenied(_("This hospital belongs to a region you do not work for."))
    return _register_batch(hospital=hospital, period=period, received_on=received_on, claims=claims, by=by,
                           number=number, note=note)


def submit_batch(*, period: tuple[dt.date, dt.date], claims: Iterable[Claim | int], by,
                 note: str = "") -> HospitalBatch:
    """A hospital user declares (申报) settled claims of their own hospital; the bureau receives the declaration the
    day it is submitted (Beijing time), so the advance falls due counting from today. Same checks as
    ``receive_batch``; the hospital is the user's own, never one they name."""
    if not by.has_perm("claims.submit_batch"):
        raise PermissionDenied(_("You do not have the permission to submit batches."))
    hospital_id = user_hospital_id(by)
    if hospital_id is None:
        raise PermissionDenied(_("Your account is not linked to a hospital."))
    hospital = Hospital.objects.select_related("region").get(pk=hospital_id)
    return _register_batch(hospital=hospital, period=period, received_on=timezone.localdate(), claims=claims, by=by,
                           note=note or _("Submitted by the hospital"))


def _register_batch(*, hospital: Hospital, period: tuple[dt.date, dt.date], received_on: dt.date,
                    claims: Iterable[Claim | int], by, number: str | None = None, note: str = "") -> HospitalBatch:
    period_start, period_end = period
    if period_start > period_end:
        raise ValidationError(_("The period ends before it starts."), code="period_order")
    check_date(received_on, label=_("The receipt date"), not_before=period_start)
    claim_ids = sorted({claim.pk if isinstance(claim, Claim) else int(claim) for claim in claims})
    if not claim_ids:
        raise ValidationError(_("A batch needs at least one claim."), code="empty_batch")

    rows = list(_fund_paid_claims(claim_ids))
    errors = [_("Claim id %(id)s does not exist.") % {"id": missing}
              for missing in sorted(set(claim_ids) - {row.pk for row in rows})]
    already = dict(BatchLine.objects.filter(claim_id__in=claim_ids).values_list("claim_id", "batch__number"))
    for row in rows:
        if row.hospital_id != hospital.pk:
            errors.append(_("Claim %(claim)s was not treated at this hospital.") % {"claim": row.number})
        elif row.source == ClaimSource.MANUAL:
            errors.append(_("Claim %(claim)s is a manual reimbursement, paid to the applicant, not the hospital.")
                          % {"claim": row.number})
        elif row.status != ClaimStatus.SETTLED or row.fund_paid is None:
            errors.append(_("Claim %(claim)s is not settled.") % {"claim": row.number})
        elif row.pk in already:
            errors.append(_("Claim %(claim)s is already declared in batch %(batch)s.")
                          % {"claim": row.number, "batch": already[row.pk]})
    if errors:
        more = len(errors) - _MAX_LISTED_ERRORS
        listed = errors[:_MAX_LISTED_ERRORS]
        if more > 0:
            listed.append(_("… and %(count)d more problems.") % {"count": more})
        raise ValidationError(listed, code="invalid_claims")

    benefits = _benefits(hospital, received_on)
    lines = [BatchLine(claim_id=row.pk, declared_amount=to_fen(row.fund_paid)) for row in rows]
    declared_total = sum((line.declared_amount for line in lines), ZERO)
    deadline = add_working_days(work_calendar(), received_on, benefits.advance_working_days)

    batch = HospitalBatch(
        hospital=hospital, region=hospital.region,
        number=number or f"B{received_on:%Y%m%d}-{hospital.pk}-{uuid.uuid4().hex[:6].upper()}",
        period_start=period_start, period_end=period_end, received_on=received_on,
        declared_total=declared_total, advance_ratio=benefits.advance_ratio,
        advance_amount=to_fen(declared_total * benefits.advance_ratio),
        advance_working_days=benefits.advance_working_days, advance_due_on=deadline.due_on,
        advance_provisional=deadline.provisional, final_working_days=benefits.final_working_days)

    def work():
        batch.full_clean(exclude=["state"])  # a protected FSM field cannot be re-assigned by clean
        batch._history_user = by
        batch.save()
        for line in lines:
            line.batch = batch
        bulk_create_with_history(lines, BatchLine, default_user=by)
        CaseEvent.objects.create(
            batch=batch, transition="receive", from_state="", to_state=batch.state, by=by,
            note=(note or _("%(count)d claims, declared %(total)s") % {"count": len(lines), "total": declared_total}
                  )[:300])
        return batch

    with transaction.atomic():
        return work()


def pay_advance(*, batch: HospitalBatch, by, paid_on: dt.date, reference: str, note: str = "") -> HospitalBatch:
    """Record the advance payment (70 %); the final payment falls due ``final_working_days`` after ``paid_on``."""
    require_transition(batch, _to_advance_paid, by, action=_("Recording the advance payment"))
    check_date(paid_on, label=_("The payment date"), not_before=batch.received_on)
    reference = required_text(reference, label=_("The payment reference"), max_length=64)
    deadline = add_working_days(work_calendar(), paid_on, batch.final_working_days)

    def work():
        from_state = batch.state
        _to_advance_paid(batch)
        batch.advance_paid_on, batch.advance_reference = paid_on, reference
        batch.final_due_on, batch.final_provisional = deadline.due_on, deadline.provisional
        save_transition(batch, by=by, reason="pay_advance")
        _log(batch, action="pay_advance", from_state=from_state, by=by,
             note=note or _("Advance %(amount)s paid on %(date)s, reference %(reference)s")
             % {"amount": batch.advance_amount, "date": paid_on, "reference": reference})
        return batch

    return run_atomically(batch, work)


def audit(*, batch: HospitalBatch, by, rejections: Mapping[int | Claim, str],
          deductions: Mapping[int | Claim, tuple[Decimal, str]] | None = None, note: str = "") -> HospitalBatch:
    """Audit the batch: the claims in ``rejections`` ({claim id: reason}) are rejected, the claims in
    ``deductions`` ({claim id: (amount, reason)}) approved less the amount deducted (扣减), every other line approved.

    ``approved_total`` is the sum over approved lines of declared amount − deduction; ``final_amount =
    approved_total − advance_amount`` (negative: the advance exceeded what was approved and the difference is
    recovered from the hospital).
    """
    require_transition(batch, _to_audited, by, action=_("The audit"))
    reasons: dict[int, str] = {}
    for claim, reason in rejections.items():
        claim_id = claim.pk if isinstance(claim, Claim) else int(claim)
        reasons[claim_id] = required_text(reason, label=_("The reason for rejecting a claim"), max_length=300)
    deducted: dict[int, tuple[Decimal, str]] = {}
    for claim, (amount, reason) in (deductions or {}).items():
        claim_id = claim.pk if isinstance(claim, Claim) else int(claim)
        deducted[claim_id] = (Decimal(amount), required_text(
            reason, label=_("The reason for a deduction"), max_length=300))
    lines = list(batch.lines.select_related("claim"))
    unknown = sorted((set(reasons) | set(deducted)) - {line.claim_id for line in lines})
    if unknown:
        raise ValidationError(
            _("These claims are not in the batch: %(ids)s.") % {"ids": ", ".join(map(str, unknown))},
            code="not_in_batch")
    errors = []
    for line in lines:
        if line.claim_id not in deducted:
            continue
        amount = deducted[line.claim_id][0]
        if line.claim_id in reasons:
            errors.append(_("Claim %(claim)s is both rejected and reduced; choose one.") % {"claim": line.claim.number})
        elif amount != amount.quantize(Decimal("0.01")) or not (ZERO < amount <= line.declared_amount):
            errors.append(_("Claim %(claim)s: the deduction %(amount)s must be more than 0 and at most the declared "
                            "amount %(declared)s, in yuan and fen.")
                          % {"claim": line.claim.number, "amount": amount, "declared": line.declared_amount})
    if errors:
        raise ValidationError(errors, code="bad_deduction")

    approved_total = Decimal("0.00")
    for line in lines:
        line.approved = line.claim_id not in reasons
        amount, deduction_reason = deducted.get(line.claim_id, (ZERO, ""))
        line.deduction = amount if line.approved else ZERO
        line.rejection_reason = reasons.get(line.claim_id, deduction_reason)
        if line.approved:
            approved_total += line.declared_amount - line.deduction

    def work():
        from_state = batch.state
        _to_audited(batch)
        batch.approved_total = to_fen(approved_total)
        batch.final_amount = to_fen(approved_total - batch.advance_amount)
        batch.auditor = by
        save_transition(batch, by=by, reason="audit")
        bulk_update_with_history(lines, BatchLine, ["approved", "rejection_reason", "deduction"], batch_size=500,
                                 default_user=by, default_change_reason="audit")
        _log(batch, action="audit", from_state=from_state, by=by,
             note=note or _("%(rejected)d of %(count)d claims rejected, %(reduced)d reduced; approved %(approved)s, "
                            "final %(final)s")
             % {"rejected": len(reasons), "reduced": len(deducted), "count": len(lines),
                "approved": batch.approved_total, "final": batch.final_amount})
        return batch

    return run_atomically(batch, work)


def pay_final(*, batch: HospitalBatch, by, paid_on: dt.date, reference: str, note: str = "") -> HospitalBatch:
    """Close the batch: pay the remainder, or — when it is negative — record its recovery from the hospital.

    Four eyes: the auditor cannot make the final payment.
    """
    require_transition(batch, _to_closed, by, action=_("Recording the final payment"))
    check_date(paid_on, label=_("The payment date"), not_before=batch.advance_paid_on)
    reference = required_text(reference, label=_("The payment reference"), max_length=64)

    def work():
        from_state = batch.state
        _to_closed(batch)
        batch.final_paid_on, batch.final_reference = paid_on, reference
        save_transition(batch, by=by, reason="pay_final")
        if batch.final_amount is not None and batch.final_amount < 0:
            summary = _("Recovered %(amount)s from the hospital on %(date)s, reference %(reference)s")
            amount = batch.amount_to_recover
        else:
            summary = _("Final payment %(amount)s on %(date)s, reference %(reference)s")
            amount = batch.final_amount
        _log(batch, action="pay_final", from_state=from_state, by=by,
             note=note or summary % {"amount": amount, "date": paid_on, "reference": reference})
        return batch

    return run_atomically(batch, work)
