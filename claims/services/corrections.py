"""Corrections of frozen settlements (更正), four eyes: propose → approve (or reject), then the lines are written.

A settlement freezes when its manual claim passes 复核 (``reimbursement.re_review``) or its claim is paid to the
hospital in a batch (``batches.pay_advance``). From then on no service changes its amounts, its lines or the claim's
costs directly (``settle_claim``, ``reverse_settlement`` and ``correct_claim`` refuse). A change is a
``SettlementCorrection``:

    propose_correction   claims.propose_correction, in the claim's region: reason, claim changes (or reverse only);
                         checked against the claim's rules at once, nothing about the money written
    approve_correction   claims.approve_correction, in the claim's region, not the proposer (four eyes, also a DB
                         constraint): the original settlement is reversed (negative lines, the row kept and marked
                         with proposer and approver), the claim changed (its history keeps the reason) and — unless
                         reverse only — a new settlement booked, authored by the proposer, approved by the approver
                         (DB constraint), frozen again
    reject_correction    claims.approve_correction, not the proposer: the proposal closes, nothing else changes

Every step is one transaction and is kept in the correction's history.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from enrollment.authz import require_permission

from ..models import Claim, CorrectionKind, CorrectionState, FreezeReason, Settlement, SettlementCorrection
from .settlement import (
    SettlementPreview,
    _lock_person,
    _reverse_locked,
    _settle_locked,
    check_claim_changes,
    preview_settlement,
)

__all__ = [
    "APPROVE_PERMISSION",
    "PROPOSE_PERMISSION",
    "approve_correction",
    "changes_as_json",
    "claim_with_changes",
    "preview_correction",
    "propose_correction",
    "reject_correction",
]

PROPOSE_PERMISSION = "claims.propose_correction"
APPROVE_PERMISSION = "claims.approve_correction"


def changes_as_json(changes: dict) -> dict:
    """Claim changes as JSON values, keyed by column (``hospital`` becomes ``hospital_id``)."""
    out = {}
    for name, value in changes.items():
        field = Claim._meta.get_field(name)
        key = field.attname
        if hasattr(value, "pk"):
            value = value.pk
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[key] = value
    return out


def claim_with_changes(claim: Claim, changes: dict) -> Claim:
    """A fresh, unsaved copy of ``claim`` with stored ``changes`` applied and validated (ValidationError)."""
    fresh = Claim.objects.select_related("hospital", "region").get(pk=claim.pk)
    for key, value in changes.items():
        field = next(f for f in Claim._meta.concrete_fields if f.attname == key)
        setattr(fresh, key, field.target_field.to_python(value) if field.is_relation else field.to_python(value))
    fresh.full_clean()
    return fresh


def preview_correction(correction: SettlementCorrection) -> SettlementPreview | None:
    """What approving ``correction`` would book as the new settlement now (None for a reversal only)."""
    if correction.kind == CorrectionKind.REVERSE:
        return None
    return preview_settlement(claim=claim_with_changes(correction.claim, correction.changes))


def propose_correction(*, settlement: Settlement, by, reason: str, reverse_only: bool = False,
                       **changes) -> SettlementCorrection:
    """Propose reversing ``settlement`` and (unless ``reverse_only``) settling the claim again with ``changes``.

    Checks permission and region, that the settlement is live and has no open proposal, and that the changed claim
    is valid and settles under the rules now; writes only the proposal.
    """
    claim = settlement.claim
    require_permission(by, PROPOSE_PERMISSION, region=claim.region)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Give the reason for the correction."), code="reason_required")
    if len(reason) > 200:
        raise ValidationError(_("The reason is too long (at most 200 characters)."), code="max_length")
    check_claim_changes(changes)
    if reverse_only and changes:
        raise ValidationError(_("A reversal only changes no claim data."), code="changes_with_reversal")
    if not reverse_only and not changes:
        raise ValidationError(_("Nothing was changed; a correction needs at least one changed field."),
                              code="no_changes")
    stored = changes_as_json(changes)
    with transaction.atomic():
        current = Settlement.objects.select_for_update().filter(pk=settlement.pk).first()
        if current is None or current.reversed_at is not None:
            raise ValidationError(
                _("This settlement of claim %(claim)s is no longer current; nothing to correct.")
                % {"claim": claim.number}, code="not_current")
        if SettlementCorrection.objects.filter(original=current, state=CorrectionState.PROPOSED).exists():
            raise ValidationError(
                _("A correction of claim %(claim)s is already waiting for approval.") % {"claim": claim.number},
                code="correction_open")
        if not reverse_only:
            preview_settlement(claim=claim_with_changes(claim, stored))  # refuses what would not settle
        correction = SettlementCorrection(
            claim=claim, original=current, kind=CorrectionKind.REVERSE if reverse_only else CorrectionKind.CORRECT,
            changes=stored, reason=reason, proposed_by=by)
        correction._history_user = by
        correction._change_reason = reason
        correction.save()
    return correction


def _open_for_decision(correction: SettlementCorrection, by) -> SettlementCorrection:
    """The correction, locked, after the approver's checks: permission, region, four eyes, still open."""
    locked = (SettlementCorrection.objects.select_for_update(of=("self",))
              .select_related("claim__region").get(pk=correction.pk))
    require_permission(by, APPROVE_PERMISSION, region=locked.claim.region)
    if locked.proposed_by_id == by.pk:
        raise PermissionDenied(
            _("You proposed this correction; it must be approved or rejected by a different person (four eyes)."))
    if locked.state != CorrectionState.PROPOSED:
        raise ValidationError(
            _("This correction was already %(state)s.") % {"state": locked.get_state_display()}, code="decided")
    return locked


def _decide(correction: SettlementCorrection, *, by, state: str, note: str,
            new_settlement: Settlement | None = None) -> None:
    correction.state = state
    correction.decided_by = by
    correction.decided_at = timezone.now()
    correction.decision_note = (note or "").strip()[:300]
    correction.new_settlement = new_settlement
    correction._history_user = by
    correction._change_reason = state
    try:
        correction.save()
    except IntegrityError as error:  # the four-eyes constraint, should a stale copy slip past the check
        raise PermissionDenied(_("A correction is approved by a different person from its proposer.")) from error


def approve_correction(*, correction: SettlementCorrection, by, note: str = "") -> SettlementCorrection:
    """Approve and book ``correction`` (module docstring). Returns the correction, updated."""
    with transaction.atomic():
        locked = _open_for_decision(correction, by)
        claim = locked.claim
        _lock_person(claim.person_id)
        original = Settlement.objects.get(pk=locked.original_id)
        proposer = locked.proposed_by
        _reverse_locked(original, by=proposer, reason=locked.reason, approved_by=by)
        new_settlement = None
        if locked.kind == CorrectionKind.CORRECT:
            fresh = claim_with_changes(claim, locked.changes)
            fresh._history_user = by
            fresh._change_reason = locked.reason
            fresh.save()
            new_settlement = _settle_locked(
                fresh, by=proposer, approved_by=by,
                frozen_reason=FreezeReason.CORRECTION if original.frozen_at is not None else "")
        _decide(locked, by=by, state=CorrectionState.APPROVED, note=note, new_settlement=new_settlement)
    _copy_decision(locked, correction)
    return correction


def reject_correction(*, correction: SettlementCorrection, by, note: str) -> SettlementCorrection:
    """Reject ``correction`` with a note; nothing about the money changes."""
    note = (note or "").strip()
    if not note:
        raise ValidationError(_("Give the reason for rejecting the correction."), code="reason_required")
    with transaction.atomic():
        locked = _open_for_decision(correction, by)
        _decide(locked, by=by, state=CorrectionState.REJECTED, note=note)
    _copy_decision(locked, correction)
    return correction


def _copy_decision(source: SettlementCorrection, target: SettlementCorrection) -> None:
    for name in ("state", "decided_by", "decided_at", "decision_note", "new_settlement"):
        setattr(target, name, getattr(source, name))
