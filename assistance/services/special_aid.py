"""Case-by-case special aid (一事一议, seed 001 §三(三) and Q8; SPEC §5.2).

Opened by a township or department for a lifted or monitored person, with the triggering figures of the household
test; deliberated in meetings; decided (amount, funding source from the policy, payer); approved by a 乡村振兴 user
and a 卫健 user — two different people, neither the opener; paid; followed up and closed. Aid paid counts in the
household burden (``assistance.selectors.household_burden``).

Refused by the server: a person who is neither lifted nor monitored on the opening date; an amount that, with the
aid of other cases for the same costs, would exceed the out-of-pocket cost of the costs named.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import Decimal
from types import MethodType

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import has_transition_perm, transition

from claims.models import Claim, PaymentLine
from claims.models.choices import Layer
from claims.services.reimbursement import Guard, check_date, require_transition, required_text, run_atomically
from claims.services.reimbursement import save_transition as _save
from enrollment.models import Identity, Person
from enrollment.models.identities import valid_on
from enrollment.money import ZERO, to_fen
from enrollment.scoping import user_can_reach_region
from enrollment.selectors import policy_in_force

from ..models import (
    AssistancePolicy,
    OutsideCost,
    SpecialAidCase,
    SpecialAidEvent,
    SpecialAidFollowUp,
    SpecialAidMeeting,
)
from ..models.choices import AidFunding, CaseState
from ..selectors import household_burden
from .applications import burden_figures

__all__ = [
    "CASE_ACTIONS",
    "LIFTED_CATEGORIES",
    "approve_health",
    "approve_rural",
    "available_case_actions",
    "close_case",
    "decide",
    "follow_up",
    "named_out_of_pocket",
    "open_case",
    "pay_case",
    "record_meeting",
    "reject_case",
]

#: Lifted people (脱贫人口) by category; monitored ones are the categories flagged ``is_monitored``.
LIFTED_CATEGORIES = ("stable_lifted", "unstable_lifted", "registered_poor", "returned_poverty")
_STATE = SpecialAidCase._meta.get_field("state")


def _region(case):
    return case.region


_DECIDER = Guard(("assistance.decide_special_aid",), _region)
_RURAL = Guard(("assistance.approve_special_aid_rural",), _region, differs_from="opened_by",
               four_eyes_message=gettext_lazy("Whoever opened the case cannot approve it."))
_HEALTH = Guard(("assistance.approve_special_aid_health",), _region, differs_from="opened_by",
                four_eyes_message=gettext_lazy("Whoever opened the case cannot approve it."))
_PAYER = Guard(("assistance.pay_special_aid",), _region)
_FOLLOWER = Guard(("assistance.decide_special_aid", "assistance.add_specialaidfollowup"), _region)
_REJECTER = Guard(("assistance.decide_special_aid", "assistance.approve_special_aid_rural",
                   "assistance.approve_special_aid_health"), _region)


@transition(field=_STATE, source=CaseState.OPENED, target=None, permission=_DECIDER)
def _meeting(case):
    pass


@transition(field=_STATE, source=CaseState.OPENED, target=CaseState.DECIDED, permission=_DECIDER,
            conditions=[lambda case: case.meetings.exists()])
def _to_decided(case):
    pass


@transition(field=_STATE, source=CaseState.DECIDED, target=None, permission=_RURAL,
            conditions=[lambda case: case.rural_approver_id is None])
def _rural_approval(case):
    pass


@transition(field=_STATE, source=CaseState.DECIDED, target=None, permission=_HEALTH,
            conditions=[lambda case: case.health_approver_id is None])
def _health_approval(case):
    pass


@transition(field=_STATE, source=CaseState.DECIDED, target=CaseState.APPROVED,
            conditions=[lambda case: case.rural_approver_id is not None and case.health_approver_id is not None])
def _to_approved(case):
    pass


@transition(field=_STATE, source=CaseState.APPROVED, target=CaseState.PAID, permission=_PAYER)
def _to_paid(case):
    pass


@transition(field=_STATE, source=CaseState.PAID, target=None, permission=_FOLLOWER)
def _follow_up(case):
    pass


@transition(field=_STATE, source=CaseState.PAID, target=CaseState.CLOSED, permission=_FOLLOWER,
            conditions=[lambda case: case.follow_ups.exists()])
def _to_closed(case):
    pass


@transition(field=_STATE, source=[CaseState.OPENED, CaseState.DECIDED], target=CaseState.REJECTED,
            permission=_REJECTER)
def _to_rejected(case):
    pass


CASE_ACTIONS = {
    "record_meeting": (_meeting, gettext_lazy("Record a meeting")),
    "decide": (_to_decided, gettext_lazy("Record the decision (议定)")),
    "approve_rural": (_rural_approval, gettext_lazy("Approve for rural revitalization (乡村振兴)")),
    "approve_health": (_health_approval, gettext_lazy("Approve for health (卫健)")),
    "pay_case": (_to_paid, gettext_lazy("Record payment")),
    "follow_up": (_follow_up, gettext_lazy("Add a follow-up note")),
    "close_case": (_to_closed, gettext_lazy("Close the case (结案)")),
    "reject_case": (_to_rejected, gettext_lazy("Do not grant (不予救助)")),
}


def available_case_actions(case: SpecialAidCase, user) -> list[str]:
    """Actions ``user`` may run now (for buttons only; every service checks again)."""
    names = []
    for name, (method, _label) in CASE_ACTIONS.items():
        if not has_transition_perm(MethodType(method, case), user):
            continue
        if name.startswith("approve_") and user.pk in (case.rural_approver_id, case.health_approver_id):
            continue
        names.append(name)
    return names


def _log(case, *, action: str, from_state: str, by, note: str = "") -> SpecialAidEvent:
    return SpecialAidEvent.objects.create(case=case, action=action, from_state=from_state, to_state=case.state, by=by,
                                          note=(note or "")[:300])


def _save_transition(case, *, by, reason):
    try:
        _save(case, by=by, reason=reason)
    except IntegrityError as error:  # the approval constraints, should a stale copy slip past the checks
        raise PermissionDenied(_("The two approvals must come from two different people, neither the opener.")) \
            from error


def eligible_on(person: Person, day: dt.date) -> bool:
    """Lifted (脱贫) or monitored (监测对象) on ``day``."""
    return Identity.objects.filter(
        valid_on(day), Q(category__code__in=LIFTED_CATEGORIES) | Q(category__is_monitored=True),
        person=person).exists()


def named_out_of_pocket(*, claims: Iterable[Claim], outside_costs: Iterable[OutsideCost]) -> Decimal:
    """What the patient still bears for the costs named: the patient's part of the settled claims (after every
    layer and supplement) and of the outside items (after insurance and other payers)."""
    claim_ids = [claim.pk for claim in claims]
    patient = PaymentLine.objects.filter(claim_id__in=claim_ids, layer=Layer.PATIENT).aggregate(
        s=Sum("amount"))["s"] or ZERO
    outside = sum((item.borne_after_all for item in outside_costs), ZERO)
    return to_fen(patient + outside)


def open_case(*, by, person: Person, opened_on: dt.date, opening_unit: str, situation: str = "",
              claims: Iterable[Claim] = (), outside_costs: Iterable[OutsideCost] = ()) -> SpecialAidCase:
    """立案: open a case for a lifted or monitored person, with the household test's figures as of the opening date
    and the costs the aid is for (settled claims of the person, outside items of the household)."""
    if not by.has_perm("assistance.open_special_aid"):
        raise PermissionDenied(_("You do not have the permission to open special aid cases."))
    if not user_can_reach_region(by, person.region):
        raise PermissionDenied(_("This person belongs to a region you do not work for."))
    check_date(opened_on, label=_("The opening date"))
    unit = required_text(opening_unit, label=_("The opening township or department"), max_length=64)
    if not eligible_on(person, opened_on):
        raise ValidationError(
            _("%(name)s is neither lifted out of poverty nor monitored on %(date)s; special aid is for those only.")
            % {"name": person.name, "date": opened_on}, code="not_eligible")
    claims, outside_costs = list(claims), list(outside_costs)
    foreign = [claim.number for claim in claims if claim.person_id != person.pk]
    if foreign:
        raise ValidationError(_("These claims are not the person's: %(claims)s.") % {"claims": ", ".join(foreign)},
                              code="not_own_claim")
    if any(item.household_id != person.household_id or not item.verified for item in outside_costs):
        raise ValidationError(_("Only verified outside costs of the person's household can be named."),
                              code="not_own_cost")
    policy = policy_in_force(person.region, opened_on)
    if policy is None or not AssistancePolicy.objects.filter(policy=policy).exists():
        raise ValidationError(_("No policy version with assistance settings is in force for %(region)s on "
                                "%(date)s.") % {"region": person.region, "date": opened_on},
                              code="no_assistance_settings")
    figures = {}
    if person.household_id:
        figures = burden_figures(household_burden(on=opened_on, households=[person.household_id])[0])

    with transaction.atomic():
        case = SpecialAidCase(
            number=f"YSYY{opened_on:%Y%m%d}{uuid.uuid4().hex[:6].upper()}", person=person,
            household_id=person.household_id, region=person.region, policy=policy, opened_on=opened_on,
            opened_by=by, opening_unit=unit, situation=(situation or "").strip(), trigger_figures=figures,
            named_out_of_pocket=named_out_of_pocket(claims=claims, outside_costs=outside_costs))
        case.full_clean(exclude=["state"])
        case._history_user = by
        case.save()
        case.named_claims.set(claims)
        case.named_outside_costs.set(outside_costs)
        _log(case, action="open", from_state="", by=by, note=unit)
        return case


def record_meeting(*, case: SpecialAidCase, by, held_on: dt.date, participants: str, minutes: str,
                   attachment=None) -> SpecialAidMeeting:
    """A deliberation meeting: date, participants with their departments, minutes, an attachment."""
    require_transition(case, _meeting, by, action=_("Recording a meeting"))
    check_date(held_on, label=_("The meeting date"), not_before=case.opened_on)
    meeting = SpecialAidMeeting(
        case=case, held_on=held_on, recorded_by=by, attachment=attachment or "",
        participants=required_text(participants, label=_("The participants"), max_length=2000),
        minutes=required_text(minutes, label=_("The minutes"), max_length=20000))
    meeting.full_clean()
    with transaction.atomic():
        meeting._history_user = by
        meeting.save()
        _log(case, action="record_meeting", from_state=case.state, by=by, note=str(held_on))
    return meeting


def _other_aid_for_same_costs(case: SpecialAidCase) -> Decimal:
    claim_ids = list(case.named_claims.values_list("pk", flat=True))
    outside_ids = list(case.named_outside_costs.values_list("pk", flat=True))
    others = SpecialAidCase.objects.exclude(pk=case.pk).exclude(state=CaseState.REJECTED).filter(
        Q(named_claims__in=claim_ids) | Q(named_outside_costs__in=outside_ids), amount__isnull=False).distinct()
    return sum(others.values_list("amount", flat=True), ZERO)


def decide(*, case: SpecialAidCase, by, amount: Decimal, funding_source: str, payer: str,
           decided_on: dt.date | None = None, note: str = "") -> SpecialAidCase:
    """议定: amount, funding source (one the policy allows), payer. Refused when the aid, with other cases' aid for
    the same costs, would exceed the out-of-pocket cost of the costs named."""
    require_transition(case, _to_decided, by, action=_("The decision"),
                       condition_message=_("Record at least one deliberation meeting before the decision."))
    decided_on = check_date(decided_on or timezone.localdate(), label=_("The decision date"),
                            not_before=case.opened_on)
    amount = to_fen(Decimal(str(amount)))
    if amount <= 0:
        raise ValidationError(_("The aid amount must be more than zero."), code="amount")
    allowed = case.policy.assistance_settings.special_aid_funding or list(AidFunding.values)
    if funding_source not in allowed:
        raise ValidationError(_("The policy does not allow this funding source; allowed: %(allowed)s.")
                              % {"allowed": "、".join(str(AidFunding(code).label) for code in allowed)},
                              code="funding_source")
    payer = required_text(payer, label=_("The payer"), max_length=100)

    def work():
        locked = SpecialAidCase.objects.select_for_update().filter(person_id=case.person_id)
        list(locked.values_list("pk", flat=True))  # serialise decisions on one person's costs
        others = _other_aid_for_same_costs(case)
        if amount + others > case.named_out_of_pocket:
            raise ValidationError(
                _("Aid of %(amount)s, with %(others)s decided in other cases for the same costs, would exceed the "
                  "out-of-pocket cost of the costs named (%(limit)s).")
                % {"amount": amount, "others": others, "limit": case.named_out_of_pocket}, code="exceeds_cost")
        from_state = case.state
        _to_decided(case)
        case.amount, case.funding_source, case.payer = amount, funding_source, payer
        case.decided_on, case.decided_by = decided_on, by
        _save_transition(case, by=by, reason="decide")
        _log(case, action="decide", from_state=from_state, by=by, note=note)
        return case

    return run_atomically(case, work)


def _approve(case: SpecialAidCase, by, *, method, field: str, action: str, note: str) -> SpecialAidCase:
    require_transition(case, method, by, action=_("The approval"),
                       condition_message=_("This department has already approved the case."))
    if by.pk in (case.rural_approver_id, case.health_approver_id):
        raise PermissionDenied(_("The two approvals must come from two different people, neither the opener."))

    def work():
        from_state = case.state
        method(case)
        setattr(case, f"{field}_approver", by)
        setattr(case, f"{field}_approved_at", timezone.now())
        if case.rural_approver_id and case.health_approver_id:
            _to_approved(case)
        _save_transition(case, by=by, reason=action)
        _log(case, action=action, from_state=from_state, by=by, note=note)
        return case

    return run_atomically(case, work)


def approve_rural(*, case: SpecialAidCase, by, note: str = "") -> SpecialAidCase:
    """The 乡村振兴 department's approval (a user of that role, not the opener, not the 卫健 approver)."""
    return _approve(case, by, method=_rural_approval, field="rural", action="approve_rural", note=note)


def approve_health(*, case: SpecialAidCase, by, note: str = "") -> SpecialAidCase:
    """The 卫健 department's approval (a user of that role, not the opener, not the 乡村振兴 approver)."""
    return _approve(case, by, method=_health_approval, field="health", action="approve_health", note=note)


def pay_case(*, case: SpecialAidCase, by, paid_on: dt.date, reference: str, note: str = "") -> SpecialAidCase:
    """已支付: from then on the aid counts in the household burden (by its payment date)."""
    require_transition(case, _to_paid, by, action=_("Recording the payment"))
    check_date(paid_on, label=_("The payment date"), not_before=case.opened_on)
    reference = required_text(reference, label=_("The payment reference"), max_length=64)

    def work():
        from_state = case.state
        _to_paid(case)
        case.paid_on, case.payment_reference, case.paid_by = paid_on, reference, by
        _save_transition(case, by=by, reason="pay")
        _log(case, action="pay_case", from_state=from_state, by=by, note=note or reference)
        return case

    return run_atomically(case, work)


def follow_up(*, case: SpecialAidCase, by, note: str, noted_on: dt.date | None = None) -> SpecialAidFollowUp:
    require_transition(case, _follow_up, by, action=_("A follow-up note"))
    noted_on = check_date(noted_on or timezone.localdate(), label=_("The date"), not_before=case.paid_on)
    row = SpecialAidFollowUp(case=case, noted_on=noted_on, by=by,
                             note=required_text(note, label=_("The note"), max_length=5000))
    with transaction.atomic():
        row._history_user = by
        row.save()
        _log(case, action="follow_up", from_state=case.state, by=by, note=row.note)
    return row


def close_case(*, case: SpecialAidCase, by, note: str = "") -> SpecialAidCase:
    require_transition(case, _to_closed, by, action=_("Closing the case"),
                       condition_message=_("Add a follow-up note before closing the case."))

    def work():
        from_state = case.state
        _to_closed(case)
        _save_transition(case, by=by, reason="close")
        _log(case, action="close_case", from_state=from_state, by=by, note=note)
        return case

    return run_atomically(case, work)


def reject_case(*, case: SpecialAidCase, by, reason: str) -> SpecialAidCase:
    require_transition(case, _to_rejected, by, action=_("Not granting the aid"))
    reason = required_text(reason, label=_("The reason"), max_length=300)

    def work():
        from_state = case.state
        _to_rejected(case)
        case.rejection_reason = reason
        _save_transition(case, by=by, reason="reject")
        _log(case, action="reject_case", from_state=from_state, by=by, note=reason)
        return case

    return run_atomically(case, work)
