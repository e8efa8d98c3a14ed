"""Reviewers' queue pages and the case / batch pages with their action buttons, in the admin's look.

Thin: the queues come from ``claims.queues``, every action calls a service of ``claims.services`` which enforces the
rules (state, permission, region, four eyes); the pages merely hide the buttons a user may not use. Errors of the
service come back on the page: permission → 403, someone else moved the record meanwhile → 409, other → 400.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from types import MethodType
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_fsm import can_proceed, has_transition_perm

from claims.calendar import work_calendar
from claims.counting import cached_budgeted_counts, cached_for_view
from claims.filters import BatchQueueFilter, CaseQueueFilter, IsoDateInput
from claims.models import HospitalBatch, ReimbursementCase, Settlement
from claims.models.batches import BatchState
from claims.models.reimbursement import OPEN_CASE_STATES, CaseState
from claims.paging import InvalidCursor, KeyColumn, KeysetPaginator
from claims.queues import (
    DueStatus,
    batch_queue,
    case_due_conditions,
    case_queue,
    due_soon_until,
    with_remaining_working_days,
)
from claims.rules.workdays import status_for, working_days_between
from claims.services import batches as batch_services
from claims.services import reimbursement as case_services
from claims.services.reimbursement import ConcurrentChange, Guard
from enrollment.admin.base import shown_bank_account
from enrollment.scoping import scope_queryset

PAGE_SIZE = 50
LINES_PAGE_SIZE = 100


#: The queues' order, as keys of their pages (claims.paging): due date (undated last), received on, id.
CASE_KEY = (KeyColumn("sla_due_on", dt.date.fromisoformat, nullable=True),
            KeyColumn("received_on", dt.date.fromisoformat), KeyColumn("pk", int))
BATCH_KEY = (KeyColumn("due_on", dt.date.fromisoformat, nullable=True),
             KeyColumn("received_on", dt.date.fromisoformat), KeyColumn("pk", int))
#: Query parameters that choose a page; every other one chooses the rows (and so the counts).
PAGING_PARAMS = ("p", "after", "before")


def _clock(calendar, today, due_on, status=None) -> dict:
    """What the queue rows carry (due status, working days left / overdue), for one record's page."""
    if due_on is None:
        return {"due_status": status, "remaining_working_days": None, "overdue_working_days": 0}
    remaining = working_days_between(calendar, today, due_on)
    return {"due_status": status or status_for(calendar, due_on, today), "remaining_working_days": remaining,
            "overdue_working_days": max(0, -remaining)}


def _labelled_events(events, *, actions: dict, states) -> list:
    """Workflow events with the action and states in words, as the page shows them."""
    action_labels = {"register": _("Registered"), "receive": _("Received"),
                     **{name: label for name, (_method, label) in actions.items()}}
    state_labels = dict(states.choices)
    events = list(events)
    for event in events:
        event.action_label = action_labels.get(event.transition, event.transition)
        event.from_label = state_labels.get(event.from_state, event.from_state)
        event.to_label = state_labels.get(event.to_state, event.to_state)
    return events


def _context(request, **extra):
    return {**admin.site.each_context(request), **extra}


def _query(request, **changes) -> str:
    """The current query string with ``changes`` applied (None removes a parameter); the page resets (to the first)
    unless ``changes`` choose one."""
    params = request.GET.copy()
    for name in PAGING_PARAMS:
        params.pop(name, None)
    for key, value in changes.items():
        params.pop(key, None)
        if value not in (None, ""):
            params[key] = value
    return "?" + urlencode(sorted(params.items()), doseq=False) if params else "?"


def _require_view(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(_("You may not view this queue."))


def _count_key(request, scope: str, today) -> str:
    """What the tab counts depend on: the user, the queue, its scope and filters (not the tab or page), today."""
    params = sorted((key, value) for key, values in request.GET.lists() for value in values
                    if key not in (*PAGING_PARAMS, "due", "scope"))
    return f"{request.user.pk}|{request.path}|{scope}|{today.isoformat()}|{urlencode(params)}"


def _keyset_page(request, paginator: KeysetPaginator):
    """The page the query string asks for: after/before a row's key (next/previous links), page ``p`` by
    number, ``p=last``, or the first. A link that cannot be read shows the first page and says so."""
    after, before, wanted = request.GET.get("after"), request.GET.get("before"), request.GET.get("p", "")
    number = int(wanted) if wanted.isdigit() and int(wanted) >= 1 else None
    try:
        if after:
            return paginator.after(after, number=number)
        if before:
            return paginator.before(before, number=number)
    except InvalidCursor:
        messages.warning(request, _("The page link was not valid (changed by hand, or of another list); this is "
                                    "the first page."))
        return paginator.first()
    if wanted == "last":
        return paginator.last()
    if wanted and number is None:
        messages.warning(request, _("“%(page)s” is not a page number; this is the first page.") % {"page": wanted})
    return paginator.page(number) if number else paginator.first()


def _page_links(request, page, paginator) -> dict:
    number = page.number
    return {
        "first": _query(request) if page.has_previous else None,
        "previous": (_query(request, before=page.first_key, p=number - 1 if number else None)
                     if page.has_previous else None),
        "next": (_query(request, after=page.last_key, p=number + 1 if number else None)
                 if page.has_next else None),
        "last": _query(request, p="last") if page.has_next else None,
        # Hidden fields of the "go to page" form: the current view without its page.
        "keep": [(key, value) for key, values in request.GET.lists() for value in values
                 if key not in PAGING_PARAMS],
    }


def queue_page(request, *, queryset, filterset_class, template, title, today, calendar, due_attr, scope, key,
                due_conditions=None, statuses=None):
    filterset = filterset_class(request.GET, queryset=queryset, request=request, due_conditions=due_conditions)
    counts = cached_budgeted_counts(_count_key(request, scope, today), filterset.queryset_without("due"),
                                    due_conditions)
    tab = filterset.form.cleaned_data.get("due") if filterset.is_valid() else None
    shown = counts.get(tab) if tab else counts["all"]
    # "Go to page N" finds its row from the rows per due and received date of this view and tab, cached like the
    # counts (claims.paging); taken only when someone asks for a page by number.
    view_key = f"{_count_key(request, scope, today)}|{tab or ''}"
    paginator = KeysetPaginator(
        filterset.qs, PAGE_SIZE, key, count=None if shown.exceeded else int(shown),
        histogram=lambda paginator: cached_for_view("histogram", view_key, paginator.groups))
    page = _keyset_page(request, paginator)
    rows = with_remaining_working_days(page.object_list, today=today, calendar=calendar, due_attr=due_attr)
    tabs = [{"value": "", "label": _("All waiting") if scope == "mine" else _("All open"), "count": counts["all"],
             "url": _query(request, due=None), "active": not tab}]
    tabs += [{"value": value, "label": label, "count": counts[value], "url": _query(request, due=value),
              "active": tab == value} for value, label in DueStatus.CHOICES if statuses is None or value in statuses]
    return TemplateResponse(request, template, _context(
        request, title=title, filter=filterset, rows=rows, page_obj=page, paginator=paginator, shown_count=shown,
        tabs=tabs, pages=_page_links(request, page, paginator), today=today, scope=scope,
        scope_mine_url=_query(request, scope=None), scope_all_url=_query(request, scope="all"),
        status_labels=DueStatus.LABELS))


@staff_member_required
def case_queue_view(request):
    """待办: manual reimbursements waiting for me (or all open ones of my regions), by due date."""
    _require_view(request, "claims.view_reimbursementcase")
    today, calendar = timezone.localdate(), work_calendar()
    scope = "all" if request.GET.get("scope") == "all" else "mine"
    queryset = case_queue(request.user, today=today, calendar=calendar, mine=scope == "mine")
    return queue_page(
        request, queryset=queryset, filterset_class=CaseQueueFilter, template="claims/case_queue.html",
        title=_("Manual reimbursements: my queue") if scope == "mine" else _("Manual reimbursements: all open"),
        today=today, calendar=calendar, due_attr="sla_due_on", scope=scope, key=CASE_KEY,
        due_conditions=case_due_conditions(today, due_soon_until(calendar, today)))


@staff_member_required
def batch_queue_view(request):
    """待办: hospital batches needing the advance payment, the audit or the final payment."""
    _require_view(request, "claims.view_hospitalbatch")
    today, calendar = timezone.localdate(), work_calendar()
    scope = "all" if request.GET.get("scope") == "all" else "mine"
    queryset = batch_queue(request.user, today=today, calendar=calendar, mine=scope == "mine")
    return queue_page(
        request, queryset=queryset, filterset_class=BatchQueueFilter, template="claims/batch_queue.html",
        title=_("Hospital batches: my queue") if scope == "mine" else _("Hospital batches: all open"),
        today=today, calendar=calendar, due_attr="due_on", scope=scope, key=BATCH_KEY,
        statuses={DueStatus.OVERDUE, DueStatus.DUE_SOON, DueStatus.ON_TRACK})  # batches never pause


# ---------------------------------------------------------------------------------------------------------------
# Action forms: their cleaned data are the services' keyword arguments
# ---------------------------------------------------------------------------------------------------------------


def _note():
    return forms.CharField(label=gettext_lazy("note"), required=False, max_length=300)


def _date(label):
    return forms.DateField(label=label, widget=IsoDateInput(), initial=timezone.localdate)


class NoteForm(forms.Form):
    note = _note()


class PayCaseForm(forms.Form):
    paid_on = _date(gettext_lazy("paid on"))
    reference = forms.CharField(label=gettext_lazy("payment reference"), max_length=64)
    account = forms.CharField(label=gettext_lazy("paid to account"), max_length=32, required=False,
                              help_text=gettext_lazy("Empty: the account registered with the application."))


class ResubmitForm(forms.Form):
    documents = forms.CharField(label=gettext_lazy("documents received"), max_length=300, required=False)
    note = _note()


def _confirm(text):
    """A required tick box: actions that change a state for good or lose work are confirmed, not one click away."""
    return forms.BooleanField(label=text, required=True)


class ReturnConfirmForm(forms.Form):
    documents_requested = forms.CharField(label=gettext_lazy("documents requested"), max_length=300)
    confirm = _confirm(gettext_lazy("I confirm: the case goes back to the applicant and its clock pauses."))


class ExemptForm(forms.Form):
    # No default: a head picks the kind deliberately (a silent "special case" would misfile doubtful ones).
    kind = forms.ChoiceField(
        label=gettext_lazy("exemption"),
        choices=[("", gettext_lazy("— choose the kind of exemption —")),
                 *ReimbursementCase._meta.get_field("exempt_kind").choices])
    reason = forms.CharField(label=gettext_lazy("reason for exemption"), max_length=300)
    confirm = _confirm(gettext_lazy("I confirm: the case leaves the clock until the exemption is lifted."))


class LiftExemptionForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("reason for lifting the exemption"), max_length=300)
    confirm = _confirm(gettext_lazy("I confirm: the clock runs again with the working days that were left."))


class RefuseForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("reason for refusal"), max_length=300)
    confirm = _confirm(gettext_lazy("I confirm: payment is refused and the settlement is reversed; this is final."))


class WithdrawForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("reason for withdrawal"), max_length=300)
    confirm = _confirm(gettext_lazy("I confirm: the applicant withdraws; the settlement is reversed; this is final."))


class PayBatchForm(forms.Form):
    paid_on = _date(gettext_lazy("paid on"))
    reference = forms.CharField(label=gettext_lazy("payment reference"), max_length=64)
    note = _note()


class AuditForm(forms.Form):
    rejections = forms.CharField(
        label=gettext_lazy("rejected or reduced claims"), required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        help_text=gettext_lazy("One line per claim: the claim number, a space, then the reason (the whole claim is "
                               "rejected); or the claim number, the amount deducted and the reason (扣减). Every "
                               "other claim of the batch is approved."))
    note = _note()

    def __init__(self, *args, batch: HospitalBatch, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch = batch

    def clean(self):
        cleaned = super().clean()
        rejected: dict[str, str] = {}
        reduced: dict[str, tuple[Decimal, str]] = {}
        errors = []
        for number, line in enumerate(cleaned.get("rejections", "").splitlines(), start=1):
            if not line.strip():
                continue
            claim_number, _sep, rest = line.strip().partition(" ")
            claim_number = claim_number.strip().rstrip(":：,，")
            first, _sep, after = rest.strip().partition(" ")
            amount = _decimal_or_none(first)
            reason = (after if amount is not None else rest).strip()
            if not reason:
                errors.append(_("Line %(line)d: give a reason after the claim number.") % {"line": number})
            if amount is not None:
                reduced[claim_number] = (amount, reason)
            else:
                rejected[claim_number] = reason
        wanted = set(rejected) | set(reduced)
        ids = dict(self.batch.lines.filter(claim__number__in=wanted).values_list("claim__number", "claim_id"))
        errors += [_("Claim %(claim)s is not in this batch.") % {"claim": number}
                   for number in sorted(wanted) if number not in ids]
        if errors:
            raise ValidationError(errors)
        cleaned["rejections"] = {ids[number]: reason for number, reason in rejected.items()}
        cleaned["deductions"] = {ids[number]: value for number, value in reduced.items()}
        return cleaned


def _decimal_or_none(text: str) -> Decimal | None:
    try:
        value = Decimal(text.replace(",", "").replace("，", ""))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


CASE_FORMS = {
    "initial_review": NoteForm,
    "re_review": NoteForm,
    "pay": PayCaseForm,
    "return_for_documents": ReturnConfirmForm,
    "resubmit": ResubmitForm,
    "exempt": ExemptForm,
    "lift_exemption": LiftExemptionForm,
    "refuse": RefuseForm,
    "withdraw": WithdrawForm,
}
CASE_SERVICES = {name: getattr(case_services, name) for name in CASE_FORMS}
BATCH_FORMS = {"pay_advance": PayBatchForm, "audit": AuditForm, "pay_final": PayBatchForm}
BATCH_SERVICES = {name: getattr(batch_services, name) for name in BATCH_FORMS}


def _run_service(request, service, **kwargs):
    """Call a service; return (status, message) of a refusal, or None on success."""
    kwargs.pop("confirm", None)  # the page's safeguard, not the service's input
    try:
        service(by=request.user, **kwargs)
    except PermissionDenied as error:
        return 403, str(error) or _("You may not do this.")
    except ConcurrentChange as error:
        return 409, " ".join(error.messages)
    except ValidationError as error:
        return 400, " ".join(error.messages)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Manual reimbursement case
# ---------------------------------------------------------------------------------------------------------------


def _case_or_404(request, pk) -> ReimbursementCase:
    queryset = ReimbursementCase.objects.select_related(
        "claim__person", "claim__hospital", "claim__region", "registered_by", "initial_reviewer", "re_reviewer",
        "paid_by", "exempt_signed_off_by")
    return get_object_or_404(scope_queryset(queryset, request.user), pk=pk)


def four_eyes_notes(obj, user, transitions: dict) -> list[str]:
    """Why an action the user could otherwise run is hidden by the four-eyes rule (需由他人复核), one line each."""
    notes = []
    for _name, (method, label) in transitions.items():
        bound = MethodType(method, obj)
        if not can_proceed(bound) or has_transition_perm(bound, user):
            continue
        meta = bound._django_fsm
        guard = meta.get_transition(meta.field.get_state(obj)).permission
        if isinstance(guard, Guard) and guard.differs_from and guard.refusal(obj, user) == str(guard.four_eyes_message):
            notes.append(_("%(action)s must be done by someone else (four eyes): %(reason)s")
                         % {"action": label, "reason": guard.four_eyes_message})
    return notes


def _case_page(request, case, *, bound_form=None, bound_action=None, error=None, status=200):
    today, calendar = timezone.localdate(), work_calendar()
    actions = []
    for name in case_services.available_case_actions(case, request.user):
        form_class = CASE_FORMS[name]
        form = bound_form if name == bound_action else form_class(prefix=name)
        actions.append({"name": name, "label": case_services.CASE_ACTIONS[name][1], "form": form,
                        "url": reverse("claims:case_action", args=[case.pk, name])})
    if case.state not in OPEN_CASE_STATES:
        clock = _clock(calendar, today, None, DueStatus.CLOSED)
    elif case.exempt:
        clock = _clock(calendar, today, None, DueStatus.EXEMPTED)
    elif case.state == CaseState.RETURNED or case.sla_due_on is None:
        clock = _clock(calendar, today, None, DueStatus.PAUSED)
    else:
        clock = _clock(calendar, today, case.sla_due_on)
    return TemplateResponse(request, "claims/case_detail.html", _context(
        request, title=_("Manual reimbursement %(claim)s") % {"claim": case.claim.number}, case=case,
        claim=case.claim, settlement=Settlement.objects.filter(claim=case.claim, reversed_at__isnull=True).first(),
        pauses=list(case.pauses.select_related("paused_by")),
        events=_labelled_events(case.events.select_related("by"), actions=case_services.CASE_ACTIONS,
                                states=CaseState),
        actions=actions, clock=clock, today=today, error=error,
        four_eyes=four_eyes_notes(case, request.user, case_services.CASE_ACTIONS),
        payee_account=shown_bank_account(request, case.payee_account)), status=status)


@staff_member_required
def case_detail_view(request, pk):
    _require_view(request, "claims.view_reimbursementcase")
    return _case_page(request, _case_or_404(request, pk))


@require_POST
@staff_member_required
def case_action_view(request, pk, action):
    _require_view(request, "claims.view_reimbursementcase")
    case = _case_or_404(request, pk)
    if action not in CASE_FORMS:
        raise PermissionDenied(_("Unknown action."))
    form = CASE_FORMS[action](request.POST, prefix=action)
    if not form.is_valid():
        return _case_page(request, case, bound_form=form, bound_action=action,
                          error=_("Please correct the errors below."), status=400)
    refusal = _run_service(request, CASE_SERVICES[action], case=case, **form.cleaned_data)
    if refusal:
        status, message = refusal
        case = _case_or_404(request, pk)  # as it is now, not as the failed attempt left the copy
        return _case_page(request, case, bound_form=form, bound_action=action, error=message, status=status)
    messages.success(request, _("%(action)s: done for manual reimbursement %(claim)s.")
                     % {"action": case_services.CASE_ACTIONS[action][1], "claim": case.claim.number})
    return redirect("claims:case_detail", pk=case.pk)


# ---------------------------------------------------------------------------------------------------------------
# Hospital batch
# ---------------------------------------------------------------------------------------------------------------


def _batch_or_404(request, pk) -> HospitalBatch:
    queryset = HospitalBatch.objects.select_related("hospital", "region", "auditor")
    return get_object_or_404(scope_queryset(queryset, request.user), pk=pk)


def _batch_form(name, batch, data=None):
    kwargs = {"batch": batch} if name == "audit" else {}
    return BATCH_FORMS[name](data, prefix=name, **kwargs)


def _batch_page(request, batch, *, bound_form=None, bound_action=None, error=None, status=200):
    today, calendar = timezone.localdate(), work_calendar()
    actions = []
    for name in batch_services.available_batch_actions(batch, request.user):
        form = bound_form if name == bound_action else _batch_form(name, batch)
        actions.append({"name": name, "label": batch_services.BATCH_ACTIONS[name][1], "form": form,
                        "url": reverse("claims:batch_action", args=[batch.pk, name])})
    due_on = batch.advance_due_on if batch.advance_paid_on is None else batch.final_due_on
    open_batch = batch.final_paid_on is None
    clock = _clock(calendar, today, due_on) if (due_on and open_batch) else None
    lines = Paginator(batch.lines.select_related("claim__person").order_by("pk"), LINES_PAGE_SIZE)
    lines_page = lines.get_page(request.GET.get("p"))
    return TemplateResponse(request, "claims/batch_detail.html", _context(
        request, title=_("Hospital batch %(number)s") % {"number": batch.number}, batch=batch, actions=actions,
        clock=clock, lines_page=lines_page,
        events=_labelled_events(batch.events.select_related("by"), actions=batch_services.BATCH_ACTIONS,
                                states=BatchState),
        today=today, error=error,
        four_eyes=four_eyes_notes(batch, request.user, batch_services.BATCH_ACTIONS)), status=status)


@staff_member_required
def batch_detail_view(request, pk):
    _require_view(request, "claims.view_hospitalbatch")
    return _batch_page(request, _batch_or_404(request, pk))


@require_POST
@staff_member_required
def batch_action_view(request, pk, action):
    _require_view(request, "claims.view_hospitalbatch")
    batch = _batch_or_404(request, pk)
    if action not in BATCH_FORMS:
        raise PermissionDenied(_("Unknown action."))
    form = _batch_form(action, batch, request.POST)
    if not form.is_valid():
        return _batch_page(request, batch, bound_form=form, bound_action=action,
                           error=_("Please correct the errors below."), status=400)
    refusal = _run_service(request, BATCH_SERVICES[action], batch=batch, **form.cleaned_data)
    if refusal:
        status, message = refusal
        batch = _batch_or_404(request, pk)
        return _batch_page(request, batch, bound_form=form, bound_action=action, error=message, status=status)
    messages.success(request, _("%(action)s: done for hospital batch %(number)s.")
                     % {"action": batch_services.BATCH_ACTIONS[action][1], "number": batch.number})
    return redirect("claims:batch_detail", pk=batch.pk)
