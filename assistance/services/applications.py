"""Apply-to-receive applications (依申请救助, SPEC §5.1): registration, the test, and the review workflow.

受理 (registration) → 初审 (initial review) → 审批 (approval, by a different person) → 已支付; or 不予救助 with a
reason; or 退回补充材料 (the clock pauses until the documents come back, then the application is reviewed again).
Each step has a working-day deadline from the policy's ``assistance`` settings. Every service takes ``by=``, checks
the permission, the region and (approval) four eyes itself, runs in one transaction, keeps history and logs an
``ApplicationEvent``. The workflow helpers (guards, atomic saves, date checks) are claims' own, shared.

Approval, in one transaction: locks the household's members (so two approvals of one household queue instead of
both reading the same year-to-date), grants each patient the ``illness_poor`` identity for the policy's period, and
settles the assistance layer of their settled claims in the look-back period under that category's rule, within
the annual limit shared by outpatient and inpatient care — as a reviewed supplement of each frozen settlement (an
assistance line and an equal negative patient line; see :class:`~assistance.models.AssistanceSupplement`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import transition

from claims.calendar import work_calendar
from claims.models import PaymentLine, Settlement
from claims.models.choices import Layer
from claims.rules.settlement import AssistanceRule, ClaimInput, YearToDate, settle
from claims.selectors import benefit_rules, policies_for_service, year_to_date
from claims.services.calendar import deadline_with_pauses
from claims.services.reimbursement import (
    Guard,
    check_date,
    require_transition,
    required_text,
    run_atomically,
    save_transition,
)
from enrollment.models import Household, Identity, IdentityCategory, Person
from enrollment.models.choices import Department
from enrollment.money import ZERO, to_fen
from enrollment.scoping import user_can_reach_region
from enrollment.selectors import policy_in_force

from ..models import (
    Application,
    ApplicationEvent,
    ApplicationPause,
    AssistancePolicy,
    AssistanceSupplement,
    DeclaredAsset,
    DeclaredIncome,
    OutsideCost,
)
from ..models.choices import ApplicationState
from ..rules import identity_valid_to, look_back_period
from ..selectors import HouseholdBurden, household_burden, in_period

__all__ = [
    "APPLICATION_ACTIONS",
    "ILLNESS_POOR",
    "AssetItem",
    "IncomeItem",
    "OutsideItem",
    "application_test",
    "approve",
    "available_actions",
    "burden_figures",
    "initial_review",
    "pay",
    "refuse",
    "register_application",
    "resubmit",
    "return_for_documents",
]

ILLNESS_POOR = "illness_poor"
_STATE = Application._meta.get_field("state")


@dataclass(frozen=True)
class IncomeItem:
    person: Person
    annual_income: Decimal
    evidence: str
    attachment: object = None


@dataclass(frozen=True)
class AssetItem:
    kind: str
    value: Decimal
    evidence: str
    attachment: object = None


@dataclass(frozen=True)
class OutsideItem:
    person: Person
    incurred_on: dt.date
    description: str
    total_cost: Decimal
    insurance_paid: Decimal = ZERO
    other_paid: Decimal = ZERO
    attachment: object = None


# ---------------------------------------------------------------------------------------------------------------
# Transitions
# ---------------------------------------------------------------------------------------------------------------


def _region(application):
    return application.region


_REVIEWER = Guard(("assistance.review_application",), _region)
_APPROVER = Guard(
    ("assistance.approve_application",), _region, differs_from="reviewer",
    four_eyes_message=gettext_lazy(
        "You did the initial review of this application; the approval must be made by a different person "
        "(four eyes)."))
_PAYER = Guard(("assistance.pay_application",), _region)
_RETURNER = Guard(("assistance.review_application", "assistance.approve_application"), _region)
_CLERK = Guard(("assistance.change_application",), _region)
_DECIDER = Guard(("assistance.review_application", "assistance.approve_application"), _region)


@transition(field=_STATE, source=ApplicationState.RECEIVED, target=ApplicationState.REVIEWED, permission=_REVIEWER)
def _to_reviewed(application):
    pass


@transition(field=_STATE, source=ApplicationState.REVIEWED, target=ApplicationState.APPROVED, permission=_APPROVER,
            conditions=[lambda application: application.reviewer_id is not None])
def _to_approved(application):
    pass


@transition(field=_STATE, source=ApplicationState.APPROVED, target=ApplicationState.PAID, permission=_PAYER)
def _to_paid(application):
    pass


@transition(field=_STATE, source=[ApplicationState.RECEIVED, ApplicationState.REVIEWED],
            target=ApplicationState.RETURNED, permission=_RETURNER)
def _to_returned(application):
    pass


@transition(field=_STATE, source=ApplicationState.RETURNED, target=ApplicationState.RECEIVED, permission=_CLERK)
def _to_resubmitted(application):
    pass


@transition(field=_STATE, source=[ApplicationState.RECEIVED, ApplicationState.REVIEWED, ApplicationState.RETURNED],
            target=ApplicationState.REFUSED, permission=_DECIDER)
def _to_refused(application):
    pass


#: Action name → (transition, label), in the order of the buttons on the application page.
APPLICATION_ACTIONS = {
    "initial_review": (_to_reviewed, gettext_lazy("Initial review (初审)")),
    "approve": (_to_approved, gettext_lazy("Approve (审批)")),
    "pay": (_to_paid, gettext_lazy("Record payment")),
    "return_for_documents": (_to_returned, gettext_lazy("Return for documents (退回补充材料)")),
    "resubmit": (_to_resubmitted, gettext_lazy("Documents resubmitted")),
    "refuse": (_to_refused, gettext_lazy("Refuse (不予救助)")),
}


def available_actions(application: Application, user) -> list[str]:
    """Actions ``user`` may run now (for buttons only: every service checks again)."""
    from types import MethodType

    from django_fsm import has_transition_perm

    return [name for name, (method, _label) in APPLICATION_ACTIONS.items()
            if has_transition_perm(MethodType(method, application), user)]


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def _today() -> dt.date:
    return timezone.localdate()


def _log(application: Application, *, action: str, from_state: str, by, note: str = "") -> ApplicationEvent:
    return ApplicationEvent.objects.create(
        application=application, action=action, from_state=from_state, to_state=application.state, by=by,
        note=(note or "")[:300])


def _settings(application: Application) -> AssistancePolicy:
    try:
        return application.policy.assistance_settings
    except AssistancePolicy.DoesNotExist:
        raise ValidationError(
            _("Policy version “%(policy)s” has no assistance settings; enter them first.")
            % {"policy": application.policy}, code="no_assistance_settings") from None


def _start_step(application: Application, on: dt.date, working_days: int) -> None:
    deadline = deadline_with_pauses(work_calendar(), received_on=on, allowance=working_days)
    application.step_started_on, application.step_working_days = on, working_days
    application.due_on, application.due_provisional = deadline.due_on, deadline.provisional


def _money(value, label: str) -> Decimal:
    try:
        amount = to_fen(Decimal(str(value)))
    except (ArithmeticError, TypeError, ValueError):
        raise ValidationError(_("%(label)s is not an amount.") % {"label": label}, code="invalid_amount") from None
    if amount < 0:
        raise ValidationError(_("%(label)s cannot be negative.") % {"label": label}, code="negative_amount")
    return amount


def _save_new(instance, by):
    instance.full_clean()
    instance._history_user = by
    instance.save()
    return instance


def _add_outside(application: Application, item: OutsideItem, by, members: set[int], index: int) -> OutsideCost:
    label = _("Outside cost %(n)d") % {"n": index}
    if item.person.pk not in members:
        raise ValidationError(_("%(label)s: %(name)s is not a member of the household.")
                              % {"label": label, "name": item.person.name}, code="not_member")
    check_date(item.incurred_on, label=label)
    return _save_new(OutsideCost(
        household=application.household, person=item.person, application=application, incurred_on=item.incurred_on,
        description=required_text(item.description, label=label, max_length=200),
        total_cost=_money(item.total_cost, label), insurance_paid=_money(item.insurance_paid, label),
        other_paid=_money(item.other_paid, label), attachment=item.attachment or "",
        verified=True, verified_by=by), by)


# ---------------------------------------------------------------------------------------------------------------
# Registration and the test
# ---------------------------------------------------------------------------------------------------------------


def register_application(
    *, by, household: Household, applicant: Person, patients: Iterable[Person], applied_on: dt.date,
    incomes: Iterable[IncomeItem], assets: Iterable[AssetItem] = (), outside_costs: Iterable[OutsideItem] = (),
    note: str = "",
) -> Application:
    """受理: register a household's application with every member's declared income, the declared assets and the
    outside costs the clerk has checked (verified by ``by``), and start the initial-review clock.

    Refused, writing nothing: without the permission or outside the clerk's regions; an applicant or patient who is
    not a member; a member without a declared income (0 is a declaration); no policy version with assistance
    settings in force on the application date. A household may have several open applications (e.g. for
    different patients); approvals of one household are serialised (see ``approve``).
    """
    if not by.has_perm("assistance.add_application"):
        raise PermissionDenied(_("You do not have the permission to register assistance applications."))
    if not user_can_reach_region(by, household.region):
        raise PermissionDenied(_("This household belongs to a region you do not work for."))
    check_date(applied_on, label=_("The application date"))
    members = {person.pk: person for person in household.members.all()}
    patients = list(patients)
    incomes, assets, outside_costs = list(incomes), list(assets), list(outside_costs)
    if applicant.pk not in members:
        raise ValidationError(_("The applicant %(name)s is not a member of the household.")
                              % {"name": applicant.name}, code="not_member")
    if not patients:
        raise ValidationError(_("Name at least one patient."), code="no_patient")
    strangers = [p.name for p in patients if p.pk not in members]
    if strangers:
        raise ValidationError(_("Not members of the household: %(names)s.") % {"names": "、".join(strangers)},
                              code="not_member")
    declared = [item.person.pk for item in incomes]
    undeclared = [person.name for pk, person in members.items() if pk not in declared]
    if undeclared:
        raise ValidationError(
            _("Every member's annual disposable income must be declared (0 if none); missing: %(names)s.")
            % {"names": "、".join(undeclared)}, code="income_missing")
    if len(set(declared)) != len(declared) or set(declared) - set(members):
        raise ValidationError(_("Declare each member's income once, and only for members."), code="income_twice")
    policy = policy_in_force(household.region, applied_on)
    if policy is None or not AssistancePolicy.objects.filter(policy=policy).exists():
        raise ValidationError(
            _("No policy version with assistance settings is in force for %(region)s on %(date)s.")
            % {"region": household.region, "date": applied_on}, code="no_assistance_settings")

    def work() -> Application:
        application = Application(
            number=f"YSQ{applied_on:%Y%m%d}{uuid.uuid4().hex[:6].upper()}", household=household,
            region=household.region, applicant=applicant, applied_on=applied_on, policy=policy,
            registered_by=by, note=(note or "").strip()[:300], step_started_on=applied_on, step_working_days=1)
        _start_step(application, applied_on, policy.assistance_settings.review_working_days)
        application.full_clean(exclude=["state"])
        application._history_user = by
        application.save()
        application.patients.set(patients)
        for index, item in enumerate(incomes, start=1):
            label = _("Income %(n)d") % {"n": index}
            _save_new(DeclaredIncome(
                application=application, person=item.person, annual_income=_money(item.annual_income, label),
                evidence=required_text(item.evidence, label=label, max_length=200),
                attachment=item.attachment or ""), by)
        for index, item in enumerate(assets, start=1):
            label = _("Asset %(n)d") % {"n": index}
            _save_new(DeclaredAsset(
                application=application, kind=item.kind, value=_money(item.value, label),
                evidence=required_text(item.evidence, label=label, max_length=200),
                attachment=item.attachment or ""), by)
        for index, item in enumerate(outside_costs, start=1):
            _add_outside(application, item, by, set(members), index)
        _log(application, action="register", from_state="", by=by, note=note)
        return application

    with transaction.atomic():
        return work()


def declared_figures(application: Application) -> tuple[Decimal, Decimal | None]:
    """(annual income, assets) as declared: the members' incomes added up, and the declared assets of the kinds
    the policy counts (None when no asset was declared)."""
    settings = _settings(application)
    income = sum((row.annual_income for row in application.incomes.all()), ZERO)
    counted = [row.value for row in application.assets.all() if row.kind in settings.counted_asset_kinds]
    declared_any = application.assets.exists()
    return income, (sum(counted, ZERO) if declared_any else None)


def application_test(application: Application) -> HouseholdBurden:
    """The 60 % test of an application: the household's figures as of the application date, with the declared
    income and assets."""
    _settings(application)
    return household_burden(on=application.applied_on, households=[application.household_id],
                            figures={application.household_id: declared_figures(application)})[0]


# ---------------------------------------------------------------------------------------------------------------
# Workflow
# ---------------------------------------------------------------------------------------------------------------


def initial_review(*, application: Application, by, note: str = "") -> Application:
    """初审: the reviewer has checked the documents and the test; the approval clock starts."""
    require_transition(application, _to_reviewed, by, action=_("The initial review"))
    settings = _settings(application)

    def work():
        from_state = application.state
        _to_reviewed(application)
        application.reviewer, application.reviewed_at = by, timezone.now()
        _start_step(application, _today(), settings.approval_working_days)
        save_transition(application, by=by, reason="initial_review")
        _log(application, action="initial_review", from_state=from_state, by=by, note=note)
        return application

    return run_atomically(application, work)


def _lock_members(household_id: int) -> None:
    """Serialise approvals and settlements of the household's people: the same person-row lock that
    ``claims.services.settlement`` takes, in id order so that two transactions never wait on each other."""
    no_key = connection.features.has_select_for_no_key_update
    list(Person.objects.select_for_update(no_key=no_key).filter(household_id=household_id).order_by("pk")
         .values_list("pk", flat=True))


def _grant_identities(application: Application, settings: AssistancePolicy, on: dt.date, by) -> list[Identity]:
    category = IdentityCategory.objects.get(code=ILLNESS_POOR)
    valid_to = identity_valid_to(on, settings.identity_months)
    granted = []
    for person in application.patients.all():
        identity, created = Identity.objects.get_or_create(
            person=person, category=category, valid_from=on,
            defaults={"valid_to": valid_to, "certified_by": Department.MEDICAL_INSURANCE,
                      "source_document": _("Assistance application %(number)s") % {"number": application.number},
                      "source_batch": application.number})
        if not created:
            identity.valid_to = max(identity.valid_to or valid_to, valid_to)
            identity.source_batch = application.number
        identity._history_user = by
        identity._change_reason = application.number
        identity.save()
        granted.append(identity)
    application.granted_identities.set(granted)
    return granted


def _claim_assistance(settlement: Settlement) -> tuple[Decimal, Decimal]:
    """(assistance paid, assistance deductible consumed) by the settlement's lines, supplements included."""
    sums = {Layer.ASSISTANCE: ZERO, Layer.ASSISTANCE_DEDUCTIBLE: ZERO}
    for layer, amount in settlement.lines.filter(layer__in=list(sums)).values_list("layer", "amount"):
        sums[layer] += amount
    return sums[Layer.ASSISTANCE], sums[Layer.ASSISTANCE_DEDUCTIBLE]


def _supplement_claims(application: Application, settings: AssistancePolicy, by) -> list[AssistanceSupplement]:
    """Re-settle the assistance layer of the patients' settled claims in the look-back period under the
    illness_poor rule of the policy in force on each claim's date of service, within the shared annual limit."""
    start, end = look_back_period(application.applied_on, look_back=settings.look_back,
                                  months=settings.look_back_months)
    category = IdentityCategory.objects.get(code=ILLNESS_POOR)
    settlements = list(
        Settlement.objects.filter(in_period(start, end, "claim__"), reversed_at__isnull=True,
                                  claim__person__in=application.patients.all())
        .select_related("claim", "claim__region").order_by("claim__admitted_on", "claim_id"))
    policies = policies_for_service([(s.claim.region, s.claim.service_date) for s in settlements])
    rules_by_policy: dict[int, object] = {}
    supplements = []
    for settlement in settlements:
        claim = settlement.claim
        policy = policies[(claim.region.pk, claim.service_date)]
        if policy is None:
            continue
        if policy.pk not in rules_by_policy:
            rules_by_policy[policy.pk] = benefit_rules(policy, with_special_diseases=False).assistance.get(category.pk)
        rule = rules_by_policy[policy.pk]
        if rule is None or not rule.covers(claim.visit_type):
            continue
        paid, consumed = _claim_assistance(settlement)
        # The policy-scope cost still borne after layers 1–2: the part of the hospital's share beyond the
        # out-of-catalog cost came out of the policy scope (a special-disease quota).
        scope_taken_by_hospital = max(ZERO, settlement.hospital_borne - claim.out_of_catalog_cost)
        base = max(ZERO, claim.policy_scope_cost - settlement.basic - settlement.critical - scope_taken_by_hospital)
        others = year_to_date(claim.person_id, settlement.year, exclude_claim_id=claim.pk)
        ytd = YearToDate(assistance_paid=others.assistance_paid,
                         assistance_deductible_used=others.assistance_deductible_used)
        result = settle(ClaimInput(total_cost=base, policy_scope_cost=base), basic=None, critical=None,
                        assistance=AssistanceRule(ratio=rule.ratio, annual_limit=rule.annual_limit,
                                                  deductible=rule.deductible, label=category.name),
                        out_of_catalog_limit=None, ytd=ytd)
        extra = to_fen(result.assistance - paid)
        common = {"settlement": settlement, "claim": claim, "person_id": claim.person_id, "year": settlement.year}
        if extra <= 0:
            # A claim that paid no assistance and stays within the deductible still uses it up: without this line
            # every later claim of the year would meet the whole deductible again and never be paid.
            used_here = result.assistance_deductible_consumed - consumed
            if paid == 0 and used_here > 0:
                PaymentLine.objects.create(layer=Layer.ASSISTANCE_DEDUCTIBLE, amount=used_here, funding_source="",
                                           **common)
            continue
        assistance_line = PaymentLine.objects.create(
            layer=Layer.ASSISTANCE, amount=extra, funding_source=rule.funding_source, **common)
        patient_line = PaymentLine.objects.create(layer=Layer.PATIENT, amount=-extra, funding_source="", **common)
        deductible_change = result.assistance_deductible_consumed - consumed
        if deductible_change:
            PaymentLine.objects.create(layer=Layer.ASSISTANCE_DEDUCTIBLE, amount=deductible_change,
                                       funding_source="", **common)
        supplements.append(AssistanceSupplement.objects.create(
            application=application, claim=claim, settlement=settlement, category=category, base=base, amount=extra,
            funding_source=rule.funding_source, assistance_line=assistance_line, patient_line=patient_line,
            reviewed_by=by))
    return supplements


def burden_figures(burden: HouseholdBurden) -> dict:
    test = burden.test

    def plain(value):
        return None if value is None else str(value)

    return {
        "period_start": plain(burden.period_start), "period_end": plain(burden.period_end),
        "claims_cost": plain(burden.claims_cost), "outside_cost": plain(burden.outside_cost),
        "special_aid_paid": plain(burden.special_aid_paid), "eligible_cost": plain(test.eligible_cost),
        "annual_income": plain(test.annual_income), "income_share": plain(test.income_share),
        "threshold": plain(test.threshold), "share_of_income": plain(test.share_of_income),
        "assets": plain(test.assets), "asset_cap": plain(test.asset_cap), "outcome": test.outcome,
        "missing": list(test.missing), "notes": list(test.notes),
    }


def approve(*, application: Application, by, note: str = "") -> Application:
    """审批: four eyes (never the initial reviewer; also a database constraint). The test must pass. In one
    transaction: grant ``illness_poor`` to the patients, book the assistance supplements, record the figures."""
    require_transition(application, _to_approved, by, action=_("The approval"),
                       condition_message=_("The application has no initial review to approve."))
    settings = _settings(application)

    def work():
        _lock_members(application.household_id)
        test = application_test(application)
        if not test.test.passes:
            raise ValidationError(
                _("The household does not pass the test (%(outcome)s); refuse the application or return it for "
                  "documents.") % {"outcome": test.outcome}, code="test_not_passed")
        from_state = application.state
        today = _today()
        _to_approved(application)
        application.approver, application.approved_at = by, timezone.now()
        application.test_figures = burden_figures(test)
        # Supplements before the identity: the identity's unique insert would otherwise serialise two approvals
        # by accident and hide a missing member lock (tests/assistance/test_approval_concurrency.py).
        supplements = _supplement_claims(application, settings, by)
        _grant_identities(application, settings, today, by)
        application.assistance_granted = sum((s.amount for s in supplements), ZERO)
        _start_step(application, today, settings.payment_working_days)
        try:
            save_transition(application, by=by, reason="approve")
        except IntegrityError as error:
            raise PermissionDenied(_APPROVER.four_eyes_message) from error
        _log(application, action="approve", from_state=from_state, by=by, note=note)
        return application

    return run_atomically(application, work)


def pay(*, application: Application, by, paid_on: dt.date, reference: str, note: str = "") -> Application:
    """已支付: record the payment of the assistance granted."""
    require_transition(application, _to_paid, by, action=_("Recording the payment"))
    check_date(paid_on, label=_("The payment date"), not_before=application.applied_on)
    reference = required_text(reference, label=_("The payment reference"), max_length=64)

    def work():
        from_state = application.state
        _to_paid(application)
        application.paid_on, application.payment_reference, application.paid_by = paid_on, reference, by
        application.due_on, application.due_provisional = None, False
        save_transition(application, by=by, reason="pay")
        _log(application, action="pay", from_state=from_state, by=by, note=note or reference)
        return application

    return run_atomically(application, work)


def refuse(*, application: Application, by, reason: str) -> Application:
    """不予救助 with the reason. Nothing else changes: no identity, no payment line."""
    require_transition(application, _to_refused, by, action=_("Refusing the application"))
    reason = required_text(reason, label=_("The reason for refusal"), max_length=300)

    def work():
        from_state = application.state
        _to_refused(application)
        application.refusal_reason = reason
        application.due_on, application.due_provisional = None, False
        _close_open_pause(application, _today(), by)
        save_transition(application, by=by, reason="refuse")
        _log(application, action="refuse", from_state=from_state, by=by, note=reason)
        return application

    return run_atomically(application, work)


def return_for_documents(*, application: Application, by, documents_requested: str,
                         on: dt.date | None = None) -> Application:
    """退回补充材料: the clock pauses from ``on`` (default today) until the documents come back."""
    require_transition(application, _to_returned, by, action=_("Returning for documents"))
    reason = required_text(documents_requested, label=_("The documents requested"), max_length=300)
    on = check_date(on or _today(), label=_("The return date"), not_before=application.step_started_on)

    def work():
        from_state = application.state
        _to_returned(application)
        application.due_on, application.due_provisional = None, False
        save_transition(application, by=by, reason="return_for_documents")
        ApplicationPause.objects.create(application=application, paused_on=on, reason=reason, paused_by=by)
        _log(application, action="return_for_documents", from_state=from_state, by=by, note=reason)
        return application

    return run_atomically(application, work)


def _close_open_pause(application: Application, on: dt.date, by) -> ApplicationPause | None:
    pause = application.pauses.filter(resumed_on__isnull=True).first()
    if pause is not None:
        pause.resumed_on = max(on, pause.paused_on)
        pause._history_user = by
        pause.save()
    return pause


def resubmit(*, application: Application, by, outside_costs: Iterable[OutsideItem] = (),
             on: dt.date | None = None, note: str = "") -> Application:
    """The documents came back: the application returns to 受理 for a new initial review, and the clock resumes
    with the working days that were left (pauses do not count)."""
    require_transition(application, _to_resubmitted, by, action=_("Recording the resubmission"))
    on = check_date(on or _today(), label=_("The resubmission date"))
    outside_costs = list(outside_costs)

    def work():
        from_state = application.state
        _to_resubmitted(application)
        _close_open_pause(application, on, by)
        members = set(application.household.members.values_list("pk", flat=True))
        for index, item in enumerate(outside_costs, start=1):
            _add_outside(application, item, by, members, index)
        pauses = [(p.paused_on, p.resumed_on) for p in application.pauses.filter(
            paused_on__gte=application.step_started_on, resumed_on__isnull=False)]
        deadline = deadline_with_pauses(work_calendar(), received_on=application.step_started_on,
                                        allowance=application.step_working_days, pauses=pauses)
        application.due_on, application.due_provisional = deadline.due_on, deadline.provisional
        application.reviewer, application.reviewed_at = None, None
        save_transition(application, by=by, reason="resubmit")
        _log(application, action="resubmit", from_state=from_state, by=by, note=note)
        return application

    return run_atomically(application, work)
