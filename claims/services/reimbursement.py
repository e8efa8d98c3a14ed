"""Manual reimbursement workflow (零星报销 / 非直接结算, SPEC §4.4) as a guarded, logged state machine.

States (``CaseState``) and transitions; each is a django-fsm ``@transition`` on the case's protected ``state`` field,
guarded by a condition and a permission, run by one service function in one transaction, written to the history
(who, when) and to a ``CaseEvent`` (who, when, from → to, note)::

    register_manual_claim      → 受理 received        clerk (add_reimbursementcase); 25-working-day clock starts
    initial_review   受理       → 初审 reviewed        claims.initial_review; the claim is settled (settle_claim)
    re_review        初审       → 待支付 approved      claims.re_review, by a different person (four eyes)
    pay              待支付      → 已支付 paid          claims.pay_case; account and reference recorded
    return_for_documents 受理/初审 → 退回补件 returned  initial_review or re_review; the clock pauses (SlaPause)
    resubmit         退回补件    → 受理 received        change_reimbursementcase; the clock resumes
    exempt           (any open, state unchanged)       claims.exempt_case (head): no clock; reason and sign-off
    refuse           any open   → 不予支付 refused      claims.re_review or claims.exempt_case; settlement reversed
    withdraw         any open   → 撤回 withdrawn        change_reimbursementcase; settlement reversed

Decision — resubmission always goes back to 受理, whatever state the case was returned from: the new documents
need an initial review, which settles the claim again from them (a settlement booked by the earlier initial review
is reversed then). The earlier initial reviewer is cleared on the case (the events keep who it was), so the four-
eyes rule applies to whoever does the new initial review.

SLA: ``sla_due_on`` is the ``sla_working_days``-th working day after receipt (the receipt day never counts),
``sla_provisional`` when a year it spans has no loaded calendar. While returned the clock is paused and
``sla_due_on`` is empty; on resubmission it is the remaining working days after the resubmission date
(``claims.rules.workdays.sla_clock``). An exempted case has no due date. Closed cases keep their last due date.

Errors callers can show as they are: ``PermissionDenied`` (who may not: permission, region, four eyes) and
``ValidationError`` (the case's state, missing input); :class:`ConcurrentChange` (a ``ValidationError``) when
someone else moved the case since it was loaded — ``ConcurrentTransitionMixin`` refuses the second save.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import MethodType

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import ConcurrentTransition, can_proceed, has_transition_perm, transition

from claims.calendar import work_calendar
from claims.models import BenefitPolicy, CaseEvent, Claim, ReimbursementCase, Settlement, SlaPause
from claims.models.claims import ClaimSource, ClaimStatus
from claims.models.reimbursement import OPEN_CASE_STATES, CaseState
from claims.rules.workdays import add_working_days
from claims.selectors import policy_for_service
from claims.services.calendar import deadline_with_pauses
from claims.services.settlement import reverse_settlement, settle_claim
from enrollment.scoping import user_can_reach_region

__all__ = [
    "CASE_ACTIONS",
    "EXEMPTION_KINDS",
    "ConcurrentChange",
    "available_case_actions",
    "exempt",
    "initial_review",
    "lift_exemption",
    "pay",
    "re_review",
    "refuse",
    "register_manual_claim",
    "resubmit",
    "return_for_documents",
    "withdraw",
]

_STATE = ReimbursementCase._meta.get_field("state")
EXEMPTION_KINDS = ("special", "doubtful")


class ConcurrentChange(ValidationError):
    """Someone else changed the record between loading and saving it; nothing was written."""

    def __init__(self, message=None):
        super().__init__(message or _("Someone else changed this record at the same time; nothing was saved. "
                                      "Reload the page and try again."), code="concurrent_change")


# ---------------------------------------------------------------------------------------------------------------
# Guards shared with the hospital batch workflow
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    """Who may run a transition: any of ``perms`` (app_label.codename), in the record's region, and — with
    ``differs_from`` — not the user recorded in that field of the record (four eyes). Used as django-fsm's
    ``permission=`` (a callable) and, through :meth:`refusal`, for a precise error message."""

    perms: tuple[str, ...]
    region: Callable[[object], object]
    differs_from: str | None = None
    four_eyes_message: str = ""

    def refusal(self, obj, user) -> str | None:
        if not user.is_authenticated or not any(user.has_perm(perm) for perm in self.perms):
            return _("You do not have the permission for this action.")
        if not user_can_reach_region(user, self.region(obj)):
            return _("This record belongs to a region you do not work for.")
        if self.differs_from and getattr(obj, f"{self.differs_from}_id") == user.pk:
            return str(self.four_eyes_message)
        return None

    def __call__(self, obj, user) -> bool:
        return self.refusal(obj, user) is None


def require_transition(obj, method, by, *, action: str, condition_message: str = "") -> None:
    """Raise a precise error unless ``by`` may run the transition ``method`` on ``obj`` now."""
    bound = MethodType(method, obj)
    if not can_proceed(bound, check_conditions=False):
        raise ValidationError(
            _("%(action)s is not possible while the record is “%(state)s”.")
            % {"action": action, "state": _state_label(obj)}, code="invalid_state")
    if not can_proceed(bound):
        raise ValidationError(condition_message or _("%(action)s is not possible now.") % {"action": action},
                              code="condition")
    if not has_transition_perm(bound, by):
        meta = bound._django_fsm
        guard = meta.get_transition(meta.field.get_state(obj)).permission
        raise PermissionDenied(guard.refusal(obj, by) or _("You may not do this."))


def _state_label(obj) -> str:
    return str(obj.get_state_display())


def save_transition(obj, *, by, reason: str) -> None:
    """Save a record after a transition; a stale record (changed meanwhile) raises :class:`ConcurrentChange`."""
    obj._history_user = by
    obj._change_reason = reason
    try:
        obj.save()
    except ConcurrentTransition as error:
        raise ConcurrentChange() from error


def run_atomically(obj, work: Callable[[], object]):
    """Run ``work`` in one transaction; on any error reload ``obj`` so the caller never keeps a half-moved copy."""
    try:
        with transaction.atomic():
            return work()
    except Exception:
        if obj.pk is not None:
            obj.refresh_from_db()
        raise


def _today() -> dt.date:
    return timezone.localdate()


def check_date(value: dt.date, *, label: str, not_before: dt.date | None = None) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValidationError(_("%(label)s must be a date.") % {"label": label}, code="invalid_date")
    if value > _today():
        raise ValidationError(_("%(label)s cannot be in the future.") % {"label": label}, code="future_date")
    if not_before is not None and value < not_before:
        raise ValidationError(
            _("%(label)s cannot be before %(date)s.") % {"label": label, "date": not_before}, code="date_order")
    return value


def required_text(value: str | None, *, label: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationError(_("%(label)s is required.") % {"label": label}, code="required")
    if len(text) > max_length:
        raise ValidationError(
            _("%(label)s is too long (at most %(max)d characters).") % {"label": label, "max": max_length},
            code="max_length")
    return text


# ---------------------------------------------------------------------------------------------------------------
# Transitions (django-fsm); the services below run them
# ---------------------------------------------------------------------------------------------------------------


def _case_region(case):
    return case.claim.region


_ANY_OPEN = list(OPEN_CASE_STATES)
_REVIEWER = Guard(("claims.initial_review",), _case_region)
_APPROVER = Guard(
    ("claims.re_review",), _case_region, differs_from="initial_reviewer",
    four_eyes_message=gettext_lazy(
        "You did the initial review of this case; the re-review must be done by a different person (four eyes)."))
_PAYER = Guard(("claims.pay_case",), _case_region)
_RETURNER = Guard(("claims.initial_review", "claims.re_review"), _case_region)
_CLERK = Guard(("claims.change_reimbursementcase",), _case_region)
_HEAD = Guard(("claims.exempt_case",), _case_region)
_DECIDER = Guard(("claims.re_review", "claims.exempt_case"), _case_region)


def _was_initially_reviewed(case) -> bool:
    return case.initial_reviewer_id is not None


def _not_exempt(case) -> bool:
    return not case.exempt


@transition(field=_STATE, source=CaseState.RECEIVED, target=CaseState.REVIEWED, permission=_REVIEWER)
def _to_reviewed(case):
    pass


@transition(field=_STATE, source=CaseState.REVIEWED, target=CaseState.APPROVED, permission=_APPROVER,
            conditions=[_was_initially_reviewed])
def _to_approved(case):
    pass


@transition(field=_STATE, source=CaseState.APPROVED, target=CaseState.PAID, permission=_PAYER)
def _to_paid(case):
    pass


@transition(field=_STATE, source=[CaseState.RECEIVED, CaseState.REVIEWED], target=CaseState.RETURNED,
            permission=_RETURNER)
def _to_returned(case):
    pass


@transition(field=_STATE, source=CaseState.RETURNED, target=CaseState.RECEIVED, permission=_CLERK)
def _to_resubmitted(case):
    pass


# target=None: the state stays, but django-fsm still checks source, condition and permission.
@transition(field=_STATE, source=_ANY_OPEN, target=None, permission=_HEAD, conditions=[_not_exempt])
def _to_exempt(case):
    pass


def _is_exempt(case) -> bool:
    return case.exempt


@transition(field=_STATE, source=_ANY_OPEN, target=None, permission=_HEAD, conditions=[_is_exempt])
def _to_exemption_lifted(case):
    pass


@transition(field=_STATE, source=_ANY_OPEN, target=CaseState.REFUSED, permission=_DECIDER)
def _to_refused(case):
    pass


@transition(field=_STATE, source=_ANY_OPEN, target=CaseState.WITHDRAWN, permission=_CLERK)
def _to_withdrawn(case):
    pass


#: Action name → (transition, label); the order is the order of the buttons.
CASE_ACTIONS: dict[str, tuple[Callable, str]] = {
    "initial_review": (_to_reviewed, gettext_lazy("Initial review (初审)")),
    "re_review": (_to_approved, gettext_lazy("Re-review (复核)")),
    "pay": (_to_paid, gettext_lazy("Record payment")),
    "return_for_documents": (_to_returned, gettext_lazy("Return for documents (退回补件)")),
    "resubmit": (_to_resubmitted, gettext_lazy("Documents resubmitted")),
    "exempt": (_to_exempt, gettext_lazy("Exempt from the clock")),
    "lift_exemption": (_to_exemption_lifted, gettext_lazy("Lift the exemption")),
    "refuse": (_to_refused, gettext_lazy("Refuse payment (不予支付)")),
    "withdraw": (_to_withdrawn, gettext_lazy("Withdrawn by the applicant (撤回)")),
}


def available_case_actions(case: ReimbursementCase, user) -> list[str]:
    """The actions ``user`` may run on ``case`` now (state, conditions, permission, region, four eyes).

    Only for showing buttons: every service checks again. ``case.claim.region`` should be select_related.
    """
    return [name for name, (method, _label) in CASE_ACTIONS.items()
            if has_transition_perm(MethodType(method, case), user)]


# ---------------------------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------------------------


def _log(case: ReimbursementCase, *, action: str, from_state: str, by, note: str = "") -> CaseEvent:
    return CaseEvent.objects.create(
        case=case, transition=action, from_state=from_state, to_state=case.state, by=by, note=note[:300])


def _current_settlement(claim: Claim) -> Settlement | None:
    return Settlement.objects.filter(claim=claim, reversed_at__isnull=True).first()


def _manual_working_days(claim: Claim) -> int:
    policy = policy_for_service(claim.region, claim.service_date)
    if policy is None:
        raise ValidationError(
            _("No policy version is in force for %(region)s on %(date)s; the reimbursement deadline cannot be set.")
            % {"region": claim.region, "date": claim.service_date}, code="no_policy")
    try:
        return policy.benefits.manual_working_days
    except BenefitPolicy.DoesNotExist:
        raise ValidationError(
            _("Policy version “%(policy)s” has no benefit settings; enter the manual reimbursement working days "
              "there first.") % {"policy": policy}, code="no_benefit_settings") from None


def register_manual_claim(
    *,
    by,
    received_on: dt.date,
    claim: Claim | None = None,
    payee_name: str = "",
    payee_bank: str = "",
    payee_account: str = "",
    documents: str = "",
    note: str = "",
    **claim_fields,
) -> ReimbursementCase:
    """Register an application for manual reimbursement (受理) and start its clock.

    Give an existing ``claim`` (e.g. the assistance part of an out-of-prefecture direct settlement) or the claim's
    fields (person, hospital, visit_type, admitted_on, total_cost, policy_scope_cost, …; ``region`` defaults to the
    person's, ``number`` is generated when absent). The allowance is the policy's
    ``BenefitPolicy.manual_working_days`` in force on the date of service; a policy version without benefit
    settings is refused with a clear error, as is a claim outside the clerk's regions.
    """
    if not by.has_perm("claims.add_reimbursementcase"):
        raise PermissionDenied(_("You do not have the permission to register manual reimbursements."))
    check_date(received_on, label=_("The receipt date"))

    def work() -> ReimbursementCase:
        nonlocal claim
        if claim is None:
            person = claim_fields.get("person")
            claim_fields.setdefault("region", getattr(person, "region", None))
            claim_fields.setdefault("number", f"MR{received_on:%Y%m%d}{uuid.uuid4().hex[:8].upper()}")
            claim = Claim(source=ClaimSource.MANUAL, created_by=by, **claim_fields)
            claim.full_clean()
            if not user_can_reach_region(by, claim.region):
                raise PermissionDenied(_("This person belongs to a region you do not work for."))
            claim._history_user = by
            claim.save()
        else:
            if not user_can_reach_region(by, claim.region):
                raise PermissionDenied(_("This claim belongs to a region you do not work for."))
            if ReimbursementCase.objects.filter(claim=claim).exists():
                raise ValidationError(
                    _("Claim %(claim)s already has a manual reimbursement case.") % {"claim": claim.number},
                    code="duplicate_case")
        if received_on < claim.admitted_on:
            raise ValidationError(_("The application cannot be received before the visit."), code="date_order")
        allowance = _manual_working_days(claim)
        deadline = add_working_days(work_calendar(), received_on, allowance)
        case = ReimbursementCase(
            claim=claim, received_on=received_on, documents=documents.strip()[:300], payee_name=payee_name.strip(),
            payee_bank=payee_bank.strip(), payee_account=payee_account.strip(), sla_working_days=allowance,
            sla_due_on=deadline.due_on, sla_provisional=deadline.provisional, registered_by=by)
        case.full_clean(exclude=["claim", "state"])  # a protected FSM field cannot be re-assigned by clean
        case._history_user = by
        case.save()
        CaseEvent.objects.create(
            case=case, transition="register", from_state="", to_state=case.state, by=by, note=note[:300])
        return case

    with transaction.atomic():
        return work()


def initial_review(*, case: ReimbursementCase, by, note: str = "") -> ReimbursementCase:
    """初审: record the reviewer and settle the claim (settle_claim), so the re-reviewer sees the figures.

    A settlement left from an earlier round (the case was returned and resubmitted) is reversed first.
    """
    require_transition(case, _to_reviewed, by, action=_("The initial review"))

    def work():
        from_state = case.state
        _to_reviewed(case)
        case.initial_reviewer = by
        case.initial_reviewed_at = timezone.now()
        save_transition(case, by=by, reason="initial_review")
        current = _current_settlement(case.claim)
        if current is not None:
            reverse_settlement(settlement=current, by=by, reason=_("Initial review redone"))
        settle_claim(claim=case.claim, by=by)
        _log(case, action="initial_review", from_state=from_state, by=by, note=note)
        return case

    return run_atomically(case, work)


def re_review(*, case: ReimbursementCase, by, note: str = "") -> ReimbursementCase:
    """复核: approve the settled figures for payment. Four eyes: never the initial reviewer (also a DB constraint)."""
    require_transition(case, _to_approved, by, action=_("The re-review"),
                       condition_message=_("The case has no initial review to re-review."))
    if _current_settlement(case.claim) is None:
        raise ValidationError(
            _("The claim has no current settlement; the initial review must be done again."), code="not_settled")

    def work():
        from_state = case.state
        _to_approved(case)
        case.re_reviewer = by
        case.re_reviewed_at = timezone.now()
        try:
            save_transition(case, by=by, reason="re_review")
        except IntegrityError as error:  # the four-eyes constraint, should a stale copy slip past the check
            raise PermissionDenied(_APPROVER.four_eyes_message) from error
        _log(case, action="re_review", from_state=from_state, by=by, note=note)
        return case

    return run_atomically(case, work)


def pay(*, case: ReimbursementCase, by, paid_on: dt.date, reference: str, account: str | None = None,
        note: str = "") -> ReimbursementCase:
    """已支付: record the payment to the applicant's account (``account`` overrides the registered one)."""
    require_transition(case, _to_paid, by, action=_("Recording the payment"))
    check_date(paid_on, label=_("The payment date"), not_before=case.received_on)
    reference = required_text(reference, label=_("The payment reference"), max_length=64)
    account = (account or "").strip() or case.payee_account
    if not account:
        raise ValidationError(_("There is no account to pay to; enter the payee's account."), code="no_account")
    if len(account) > 32:
        raise ValidationError(_("The account number is too long."), code="max_length")

    def work():
        from_state = case.state
        _to_paid(case)
        case.paid_on, case.payment_reference, case.payee_account, case.paid_by = paid_on, reference, account, by
        save_transition(case, by=by, reason="pay")
        _log(case, action="pay", from_state=from_state, by=by,
             note=note or _("Paid on %(date)s to %(account)s, reference %(reference)s")
             % {"date": paid_on, "account": account, "reference": reference})
        return case

    return run_atomically(case, work)


def _last_resumed_on(case: ReimbursementCase) -> dt.date:
    last = case.pauses.filter(resumed_on__isnull=False).order_by("-resumed_on").values_list("resumed_on", flat=True)
    return max([case.received_on, *last[:1]])


def return_for_documents(*, case: ReimbursementCase, by, documents_requested: str,
                         on: dt.date | None = None) -> ReimbursementCase:
    """退回补件: ask the applicant for documents; the clock pauses from ``on`` (default today) until resubmission."""
    require_transition(case, _to_returned, by, action=_("Returning for documents"))
    reason = required_text(documents_requested, label=_("The documents requested"), max_length=300)
    on = check_date(on or _today(), label=_("The return date"), not_before=_last_resumed_on(case))

    def work():
        from_state = case.state
        _to_returned(case)
        case.sla_due_on, case.sla_provisional = None, False
        save_transition(case, by=by, reason="return_for_documents")
        SlaPause.objects.create(case=case, paused_on=on, reason=reason, paused_by=by)
        _log(case, action="return_for_documents", from_state=from_state, by=by, note=reason)
        return case

    return run_atomically(case, work)


def _close_open_pause(case: ReimbursementCase, on: dt.date, by) -> SlaPause | None:
    pause = case.pauses.filter(resumed_on__isnull=True).first()
    if pause is not None:
        pause.resumed_on = max(on, pause.paused_on)
        pause._history_user = by
        pause.save()
    return pause


def resubmit(*, case: ReimbursementCase, by, documents: str = "", on: dt.date | None = None,
             note: str = "") -> ReimbursementCase:
    """The applicant sent the documents: back to 受理 (see the module docstring); the clock resumes from ``on``
    (default today) with the working days that were left."""
    require_transition(case, _to_resubmitted, by, action=_("Recording the resubmission"))
    open_pause = case.pauses.filter(resumed_on__isnull=True).first()
    on = check_date(on or _today(), label=_("The resubmission date"),
                     not_before=open_pause.paused_on if open_pause else case.received_on)

    def work():
        from_state = case.state
        _to_resubmitted(case)
        case.initial_reviewer, case.initial_reviewed_at = None, None
        if documents.strip():
            case.documents = "；".join(part for part in (case.documents, documents.strip()) if part)[:300]
        _close_open_pause(case, on, by)
        if not case.exempt:
            closed = list(case.pauses.filter(resumed_on__isnull=False).values_list("paused_on", "resumed_on"))
            deadline = deadline_with_pauses(
                work_calendar(), received_on=case.received_on, allowance=case.sla_working_days, pauses=closed)
            case.sla_due_on, case.sla_provisional = deadline.due_on, deadline.provisional
        save_transition(case, by=by, reason="resubmit")
        _log(case, action="resubmit", from_state=from_state, by=by, note=note or documents)
        return case

    return run_atomically(case, work)


def exempt(*, case: ReimbursementCase, by, kind: str, reason: str) -> ReimbursementCase:
    """Exempt a special or doubtful case (特殊病案 / 疑问病案) from the clock; a head signs off (claims.exempt_case)."""
    require_transition(case, _to_exempt, by, action=_("The exemption"),
                       condition_message=_("The case is already exempted from the clock."))
    if kind not in EXEMPTION_KINDS:
        raise ValidationError(_("Choose the kind of exemption: special or doubtful case."), code="invalid_kind")
    reason = required_text(reason, label=_("The reason for the exemption"), max_length=300)

    def work():
        state = case.state
        _to_exempt(case)
        case.exempt, case.exempt_kind, case.exempt_reason, case.exempt_signed_off_by = True, kind, reason, by
        case.sla_due_on, case.sla_provisional = None, False
        save_transition(case, by=by, reason="exempt")
        _log(case, action="exempt", from_state=state, by=by, note=reason)
        return case

    return run_atomically(case, work)


def lift_exemption(*, case: ReimbursementCase, by, reason: str, on: dt.date | None = None) -> ReimbursementCase:
    """Lift an exemption (解除挂起): the clock runs again with the working days that were left when it was exempted.

    The exempted span is recorded as a closed clock pause, so the deadline — and every later recomputation after a
    calendar change or a resubmission — counts it exactly like a wait for documents. A case that is waiting for
    documents when the exemption is lifted stays paused; its clock resumes on resubmission.
    """
    require_transition(case, _to_exemption_lifted, by, action=_("Lifting the exemption"),
                       condition_message=_("The case is not exempted from the clock."))
    reason = required_text(reason, label=_("The reason for lifting the exemption"), max_length=300)
    exempted_at = case.events.filter(transition="exempt").order_by("-at").values_list("at", flat=True).first()
    exempted_on = timezone.localdate(exempted_at) if exempted_at else case.received_on
    on = check_date(on or _today(), label=_("The date the exemption is lifted"), not_before=exempted_on)

    def work():
        state = case.state
        _to_exemption_lifted(case)
        case.exempt, case.exempt_kind, case.exempt_reason, case.exempt_signed_off_by = False, "", "", None
        open_pause = case.pauses.filter(resumed_on__isnull=True).first()
        span_end = min(on, open_pause.paused_on) if open_pause else on
        if span_end > exempted_on:
            note = _("Exempted from the clock; lifted: %(reason)s") % {"reason": reason}
            SlaPause.objects.create(case=case, paused_on=exempted_on, resumed_on=span_end, paused_by=by,
                                    reason=note[:300])
        if open_pause is None:
            closed = list(case.pauses.filter(resumed_on__isnull=False).values_list("paused_on", "resumed_on"))
            deadline = deadline_with_pauses(
                work_calendar(), received_on=case.received_on, allowance=case.sla_working_days, pauses=closed)
            case.sla_due_on, case.sla_provisional = deadline.due_on, deadline.provisional
        save_transition(case, by=by, reason="lift_exemption")
        _log(case, action="lift_exemption", from_state=state, by=by, note=reason)
        return case

    return run_atomically(case, work)


def _reverse_if_settled(case: ReimbursementCase, by, reason: str) -> None:
    current = _current_settlement(case.claim)
    if current is not None:
        reverse_settlement(settlement=current, by=by, reason=reason)
        case.claim.refresh_from_db(fields=["status"])


def refuse(*, case: ReimbursementCase, by, reason: str) -> ReimbursementCase:
    """不予支付: refuse the application; a settlement booked by the initial review is reversed, the claim rejected."""
    require_transition(case, _to_refused, by, action=_("Refusing payment"))
    reason = required_text(reason, label=_("The reason for refusal"), max_length=300)

    def work():
        from_state = case.state
        _to_refused(case)
        case.refusal_reason = reason
        save_transition(case, by=by, reason="refuse")
        _close_open_pause(case, _today(), by)
        _reverse_if_settled(case, by, reason)
        claim = case.claim
        claim.status = ClaimStatus.REJECTED
        claim._history_user = by
        claim._change_reason = reason
        claim.save(update_fields=["status"])
        _log(case, action="refuse", from_state=from_state, by=by, note=reason)
        return case

    return run_atomically(case, work)


def withdraw(*, case: ReimbursementCase, by, note: str = "") -> ReimbursementCase:
    """撤回: the applicant withdraws; a settlement already booked is reversed (the claim goes back to registered)."""
    require_transition(case, _to_withdrawn, by, action=_("Recording the withdrawal"))

    def work():
        from_state = case.state
        _to_withdrawn(case)
        save_transition(case, by=by, reason="withdraw")
        _close_open_pause(case, _today(), by)
        _reverse_if_settled(case, by, note.strip() or _("Application withdrawn"))
        _log(case, action="withdraw", from_state=from_state, by=by, note=note)
        return case

    return run_atomically(case, work)
