"""Queue pages, the application page (with its printable slip) and the special aid case page, in the admin's look.

Thin: queues come from ``assistance.queues``, every action calls a service of ``assistance.services`` which enforces
the rules (state, permission, region, four eyes, two departments); the pages only hide buttons a user may not use.
Refusals come back on the page: permission → 403, a concurrent change → 409, anything else → 400.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from claims.calendar import work_calendar
from claims.models.choices import VisitType
from claims.paging import KeyColumn
from claims.queues import DueStatus, due_soon_until
from claims.rules.workdays import status_for, working_days_between
from claims.services.reimbursement import ConcurrentChange
from claims.views import queue_page
from enrollment.exports import SAFE_EXPORT_FORMATS
from enrollment.scoping import scope_queryset, user_can_reach_region

from . import rules
from .exports import ApplicationExportResource, SpecialAidCaseExportResource
from .filters import ApplicationQueueFilter, SpecialAidQueueFilter
from .forms import APPLICATION_FORMS, CASE_FORMS, OpenCaseForm, RegisterApplicationForm
from .models import Application, DeclaredAsset, DeclaredIncome, OutsideCost, SpecialAidCase, SpecialAidMeeting
from .models.choices import ApplicationState, CaseState
from .queues import application_due_conditions, application_queue, special_aid_queue
from .selectors import claim_lines_in_period
from .services import applications as application_services
from .services import special_aid as case_services

PAGE_SIZE = 50

def _outcome_label(outcome: str) -> str:
    return {rules.PASSES: _("Passes the test"), rules.FAILS: _("Does not pass the test"),
            rules.UNDECIDED: _("Cannot be decided")}.get(outcome, outcome)


def _reason_labels(codes) -> list[str]:
    labels = {
        rules.MISSING_INCOME: _("the household's annual disposable income is unknown"),
        rules.MISSING_ASSETS: _("the household's assets are unknown"),
        rules.MISSING_POLICY: _("the policy in force has no assistance settings"),
        rules.NOTE_ZERO_INCOME: _("the household declared no income: any eligible cost reaches the share"),
        rules.NOTE_COST_BELOW: _("the eligible cost is below the threshold"),
        rules.NOTE_ASSETS_AT_CAP: _("the assets are not below the cap"),
    }
    return [labels.get(code, code) for code in codes]


def _context(request, **extra):
    return {**admin.site.each_context(request), **extra}


def _query(request, **changes) -> str:
    params = request.GET.copy()
    params.pop("p", None)
    for key, value in changes.items():
        params.pop(key, None)
        if value not in (None, ""):
            params[key] = value
    return "?" + urlencode(sorted(params.items())) if params else "?"


def _require(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(_("You may not view this page."))


def _run_service(request, service, **kwargs):
    try:
        service(by=request.user, **kwargs)
    except PermissionDenied as error:
        return 403, str(error) or _("You may not do this.")
    except ConcurrentChange as error:
        return 409, " ".join(error.messages)
    except ValidationError as error:
        return 400, " ".join(error.messages)
    return None


def _labelled_events(events, actions, states) -> list:
    action_labels = {"register": _("Registered"), "open": _("Opened"),
                     **{name: label for name, (_method, label) in actions.items()}}
    state_labels = dict(states.choices)
    events = list(events)
    for event in events:
        event.action_label = action_labels.get(event.action, event.action)
        event.from_label = state_labels.get(event.from_state, event.from_state)
        event.to_label = state_labels.get(event.to_state, event.to_state)
    return events


# ---------------------------------------------------------------------------------------------------------------
# Application queue
# ---------------------------------------------------------------------------------------------------------------


def _export_response(request, filterset, resource_class):
    """The queue's rows as filtered, in .xlsx or CSV (``?export=xlsx|csv``), through the admin exports' resource and
    formats: masked ID numbers unless permitted, the region scope re-applied, formulas neutralised, typed cells."""
    file_format = {cls().get_extension(): cls for cls in SAFE_EXPORT_FORMATS}.get(request.GET.get("export"))
    if file_format is None or not filterset.is_valid():
        return None
    file_format = file_format()
    data = file_format.export_data(resource_class(user=request.user).export(
        queryset=filterset.qs, force_native_type=file_format.is_binary()))
    if isinstance(data, str):
        data = data.encode("utf-8-sig")  # Excel on Chinese Windows reads a CSV as GBK unless it starts with a BOM
    model_name = resource_class._meta.model._meta.model_name
    name = f"{model_name}-{timezone.localdate():%Y%m%d}.{file_format.get_extension()}"
    response = HttpResponse(data, content_type=file_format.get_content_type())
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _export_links(request) -> list[dict]:
    return [{"label": label, "url": _query(request, export=extension)}
            for extension, label in (("xlsx", _("Export .xlsx")), ("csv", _("Export CSV")))]


#: The application queue's order (assistance.queues), as the keys of its pages: due date (paused last), applied on, id.
APPLICATION_KEY = (KeyColumn("due_on", dt.date.fromisoformat, nullable=True),
                   KeyColumn("applied_on", dt.date.fromisoformat), KeyColumn("pk", int))


@staff_member_required
def application_queue_view(request):
    """依申请救助 待办: applications waiting for me (or all open ones of my regions), by due date, filtered."""
    _require(request, "assistance.view_application")
    today, calendar = timezone.localdate(), work_calendar()
    scope = "all" if request.GET.get("scope") == "all" else "mine"
    queryset = application_queue(request.user, today=today, calendar=calendar, mine=scope == "mine")
    conditions = application_due_conditions(today, due_soon_until(calendar, today))
    if request.GET.get("export"):
        filterset = ApplicationQueueFilter(request.GET, queryset=queryset, request=request,
                                           due_conditions=conditions)
        response = _export_response(request, filterset, ApplicationExportResource)
        if response is not None:
            return response
    response = queue_page(
        request, queryset=queryset, filterset_class=ApplicationQueueFilter,
        template="assistance/application_queue.html",
        title=_("Assistance applications: my queue") if scope == "mine" else _("Assistance applications: all open"),
        today=today, calendar=calendar, due_attr="due_on", scope=scope, key=APPLICATION_KEY,
        due_conditions=conditions)
    response.context_data["export_links"] = _export_links(request)
    return response


@staff_member_required
def register_application_view(request):
    """受理: register a household's application."""
    _require(request, "assistance.add_application")
    form = RegisterApplicationForm(request.POST or None, request.FILES or None, user=request.user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                application = application_services.register_application(by=request.user, **form.cleaned_data)
            except PermissionDenied as error:
                form.add_error(None, str(error))
                status = 403
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Application %(number)s registered; the initial review is due on "
                                            "%(date)s.") % {"number": application.number,
                                                            "date": application.due_on})
                return redirect("assistance:application_detail", pk=application.pk)
    return TemplateResponse(request, "assistance/register.html", _context(
        request, title=_("Register an assistance application"), form=form), status=status)


# ---------------------------------------------------------------------------------------------------------------
# Application page and slip
# ---------------------------------------------------------------------------------------------------------------


def _application_or_404(request, pk) -> Application:
    queryset = Application.objects.select_related(
        "household", "region", "applicant", "policy", "registered_by", "reviewer", "approver", "paid_by")
    return get_object_or_404(scope_queryset(queryset, request.user), pk=pk)


def _test_context(request, application: Application) -> dict:
    """Every figure of the test, with each member's claims that entered the sum. Claims of members insured in a
    region the user does not work for are summed, not shown."""
    burden = application_services.application_test(application)
    settings = application.policy.assistance_settings
    claims, hidden = [], {}
    if burden.period_start is not None:
        for row in claim_lines_in_period(application.household_id, start=burden.period_start,
                                         end=burden.period_end, cost_basis=settings.cost_basis):
            visible = any(region_id == row["claim__region_id"] for region_id in _reachable_ids(request))
            if visible:
                row["visit_type_label"] = VisitType(row["claim__visit_type"]).label
                claims.append(row)
            else:
                name = row["claim__person__name"]
                hidden[name] = hidden.get(name, 0) + row["counted"]
    return {
        "burden": burden, "test": burden.test, "settings": settings, "claims": claims,
        "hidden_claims": sorted(hidden.items()),
        "outcome_label": _outcome_label(burden.outcome),
        "reasons": _reason_labels([*burden.test.missing, *burden.test.notes]),
        "incomes": list(application.incomes.select_related("person")),
        "assets": list(application.assets.all()),
        "outside_costs": list(application.household.outside_costs.filter(
            verified=True, incurred_on__range=(burden.period_start, burden.period_end)).select_related("person"))
        if burden.period_start else [],
        "supplements": list(application.supplements.select_related("claim")),
        "patients": list(application.patients.all()),
    }


def _reachable_ids(request) -> set[int]:
    cached = getattr(request, "_assistance_region_ids", None)
    if cached is None:
        from enrollment.models import Region

        cached = set(scope_queryset(Region.objects.all(), request.user).values_list("pk", flat=True))
        request._assistance_region_ids = cached
    return cached


def _application_page(request, application, *, bound_form=None, bound_action=None, error=None, status=200):
    today, calendar = timezone.localdate(), work_calendar()
    actions = []
    for name in application_services.available_actions(application, request.user):
        form = bound_form if name == bound_action else APPLICATION_FORMS[name](prefix=name)
        actions.append({"name": name, "label": application_services.APPLICATION_ACTIONS[name][1], "form": form,
                        "url": reverse("assistance:application_action", args=[application.pk, name])})
    clock = None
    if application.state == ApplicationState.RETURNED:
        clock = {"due_status": DueStatus.PAUSED}
    elif application.due_on and application.is_open:
        remaining = working_days_between(calendar, today, application.due_on)
        clock = {"due_status": status_for(calendar, application.due_on, today), "remaining_working_days": remaining,
                 "overdue_working_days": max(0, -remaining)}
    return TemplateResponse(request, "assistance/application_detail.html", _context(
        request, title=_("Assistance application %(number)s") % {"number": application.number},
        application=application, actions=actions, clock=clock, error=error, today=today,
        pauses=list(application.pauses.select_related("paused_by")),
        events=_labelled_events(application.events.select_related("by"), application_services.APPLICATION_ACTIONS,
                                ApplicationState),
        **_test_context(request, application)), status=status)


@staff_member_required
def application_detail_view(request, pk):
    _require(request, "assistance.view_application")
    return _application_page(request, _application_or_404(request, pk))


# The scans an application page links to, by kind: the model and its view permission. Each row is found through
# ``scope_queryset`` (its own region path), so a user of another region gets 404 as for the application itself.
SCAN_MODELS = {"income": (DeclaredIncome, "assistance.view_declaredincome"),
               "asset": (DeclaredAsset, "assistance.view_declaredasset"),
               "outside": (OutsideCost, "assistance.view_outsidecost")}


@staff_member_required
def scan_view(request, kind, pk):
    """A scan (evidence of income or assets, an outside receipt) from MEDIA_ROOT, for users of its region."""
    _require(request, "assistance.view_application")
    if kind not in SCAN_MODELS:
        raise Http404
    model, permission = SCAN_MODELS[kind]
    _require(request, permission)
    return _attachment_response(get_object_or_404(scope_queryset(model.objects.all(), request.user), pk=pk))


@staff_member_required
def meeting_attachment_view(request, pk):
    """A deliberation meeting's attachment (minutes, sign-in sheet), for users who may see the case's region."""
    _require(request, "assistance.view_specialaidcase")
    _require(request, "assistance.view_specialaidmeeting")
    return _attachment_response(
        get_object_or_404(scope_queryset(SpecialAidMeeting.objects.all(), request.user), pk=pk))


def _attachment_response(row):
    # Files under MEDIA_ROOT are never served by URL (MEDIA_URL is mounted only under DEBUG): every download passes
    # the region scope of the row that holds it.
    if not row.attachment:
        raise Http404
    try:
        handle = row.attachment.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    name = row.attachment.name.rsplit("/", 1)[-1]
    return FileResponse(handle, as_attachment=False, filename=name)


@staff_member_required
def application_slip_view(request, pk):
    """The printable sheet of the test (like the 一单清 slip of a claim)."""
    _require(request, "assistance.view_application")
    application = _application_or_404(request, pk)
    return TemplateResponse(request, "assistance/application_slip.html", {
        "title": _("Medical assistance application: household test"), "application": application,
        "printed_at": timezone.localtime(), **_test_context(request, application)})


@require_POST
@staff_member_required
def application_action_view(request, pk, action):
    _require(request, "assistance.view_application")
    application = _application_or_404(request, pk)
    if action not in APPLICATION_FORMS:
        raise PermissionDenied(_("Unknown action."))
    form = APPLICATION_FORMS[action](request.POST, prefix=action)
    if not form.is_valid():
        return _application_page(request, application, bound_form=form, bound_action=action,
                                 error=_("Please correct the errors below."), status=400)
    kwargs = dict(form.cleaned_data)
    if action == "resubmit":
        kwargs.pop("note", None)
    refusal = _run_service(request, getattr(application_services, action), application=application, **kwargs)
    if refusal:
        status, message = refusal
        return _application_page(request, _application_or_404(request, pk), bound_form=form, bound_action=action,
                                 error=message, status=status)
    messages.success(request, _("%(action)s: done.") % {
        "action": application_services.APPLICATION_ACTIONS[action][1]})
    return redirect("assistance:application_detail", pk=pk)


# ---------------------------------------------------------------------------------------------------------------
# Special aid
# ---------------------------------------------------------------------------------------------------------------


@staff_member_required
def case_queue_view(request):
    """一事一议 待办, filtered."""
    _require(request, "assistance.view_specialaidcase")
    scope = "all" if request.GET.get("scope") == "all" else "mine"
    queryset = special_aid_queue(request.user, mine=scope == "mine")
    filterset = SpecialAidQueueFilter(request.GET, queryset=queryset, request=request)
    if request.GET.get("export"):
        response = _export_response(request, filterset, SpecialAidCaseExportResource)
        if response is not None:
            return response
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("p"))
    return TemplateResponse(request, "assistance/case_queue.html", _context(
        request, title=_("Special aid cases: my queue") if scope == "mine" else _("Special aid cases: all open"),
        filter=filterset, rows=page.object_list, page_obj=page, paginator=page.paginator, scope=scope,
        scope_mine_url=_query(request, scope=None), scope_all_url=_query(request, scope="all"),
        export_links=_export_links(request),
        pages={"previous": _query(request, p=page.previous_page_number()) if page.has_previous() else None,
               "next": _query(request, p=page.next_page_number()) if page.has_next() else None}))


@staff_member_required
def open_case_view(request):
    _require(request, "assistance.open_special_aid")
    form = OpenCaseForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                case = case_services.open_case(by=request.user, **form.cleaned_data)
            except PermissionDenied as error:
                form.add_error(None, str(error))
                status = 403
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Special aid case %(number)s opened.") % {"number": case.number})
                return redirect("assistance:case_detail", pk=case.pk)
    return TemplateResponse(request, "assistance/open_case.html", _context(
        request, title=_("Open a special aid case"), form=form), status=status)


def _case_or_404(request, pk) -> SpecialAidCase:
    queryset = SpecialAidCase.objects.select_related(
        "person", "household", "region", "policy", "opened_by", "decided_by", "rural_approver", "health_approver",
        "paid_by")
    return get_object_or_404(scope_queryset(queryset, request.user), pk=pk)


def _case_page(request, case, *, bound_form=None, bound_action=None, error=None, status=200):
    actions = []
    for name in case_services.available_case_actions(case, request.user):
        form = bound_form if name == bound_action else CASE_FORMS[name](prefix=name)
        actions.append({"name": name, "label": case_services.CASE_ACTIONS[name][1], "form": form,
                        "url": reverse("assistance:case_action", args=[case.pk, name])})
    figures = case.trigger_figures or {}
    return TemplateResponse(request, "assistance/case_detail.html", _context(
        request, title=_("Special aid case %(number)s") % {"number": case.number}, case=case, actions=actions,
        error=error, figures=figures, outcome_label=_outcome_label(figures.get("outcome", "")),
        named_claims=list(case.named_claims.all()) if user_can_reach_region(request.user, case.region) else [],
        named_outside_costs=list(case.named_outside_costs.all()),
        meetings=list(case.meetings.select_related("recorded_by")),
        follow_ups=list(case.follow_ups.select_related("by")),
        events=_labelled_events(case.events.select_related("by"), case_services.CASE_ACTIONS, CaseState)),
        status=status)


@staff_member_required
def case_detail_view(request, pk):
    _require(request, "assistance.view_specialaidcase")
    return _case_page(request, _case_or_404(request, pk))


@require_POST
@staff_member_required
def case_action_view(request, pk, action):
    _require(request, "assistance.view_specialaidcase")
    case = _case_or_404(request, pk)
    if action not in CASE_FORMS:
        raise PermissionDenied(_("Unknown action."))
    form = CASE_FORMS[action](request.POST, request.FILES, prefix=action)
    if not form.is_valid():
        return _case_page(request, case, bound_form=form, bound_action=action,
                          error=_("Please correct the errors below."), status=400)
    refusal = _run_service(request, getattr(case_services, action), case=case, **form.cleaned_data)
    if refusal:
        status, message = refusal
        return _case_page(request, _case_or_404(request, pk), bound_form=form, bound_action=action, error=message,
                          status=status)
    messages.success(request, _("%(action)s: done.") % {"action": case_services.CASE_ACTIONS[action][1]})
    return redirect("assistance:case_detail", pk=pk)
