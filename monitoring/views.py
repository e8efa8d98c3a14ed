"""Monitoring pages in the admin's look: the dashboard, the item queues, an item's page with its handling
buttons, bulk assignment, the department export and the answer upload.

Thin: reads come from ``monitoring.selectors``, writes go through ``monitoring.services.handling`` (which checks
permission and region itself), the answer file through the project's import engine.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from claims.models import Claim
from enrollment.models import Region
from enrollment.scoping import scope_queryset, user_can_reach_region, visible_regions

from . import exchange, selectors
from .figures import change_reason, shown_figures
from .models import ItemStatus, ListKind, Reason, WarningItem
from .services import handling

PAGE_SIZE = 50
FILTERS = ("region", "kind", "status", "reason", "assignee", "cause")


def _require(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _page(request, template: str, title: str, **context) -> TemplateResponse:
    return TemplateResponse(request, template, {**admin.site.each_context(request), "title": title, **context})


def _home_region(user) -> Region | None:
    """The highest region the user works in (the whole tree for a superuser)."""
    regions = visible_regions(user).order_by("path")
    return min(regions, key=lambda r: (len(r.path), r.path), default=None)


def _region_from(request) -> Region:
    code = request.GET.get("region", "")
    if code:
        region = Region.objects.filter(code=code).first()
        if region is None or not user_can_reach_region(request.user, region):
            raise Http404(_("No such region among yours."))
        return region
    region = _home_region(request.user)
    if region is None:
        raise PermissionDenied(_("You work in no region."))
    return region


def queue_url(**filters) -> str:
    query = {key: value for key, value in filters.items() if value not in (None, "")}
    return f"{reverse('monitoring:items')}?{urlencode(query)}" if query else reverse("monitoring:items")


# ---------------------------------------------------------------------------------------------------- dashboard

@staff_member_required
def dashboard_view(request):
    _require(request, "monitoring.view_warningitem")
    region = _region_from(request)
    board = selectors.dashboard(region, today=timezone.localdate())
    kinds = []
    for kind, label in board.kinds:
        counts = board.items[kind]
        kinds.append({
            "kind": kind, "label": label, "total": counts["total"], "present": counts["present"],
            "statuses": [(status, str(status_label), counts.get(status, 0),
                          queue_url(region=region.code, kind=kind, status=status))
                         for status, status_label in ItemStatus.choices],
            "url": queue_url(region=region.code, kind=kind, status="open", cause="present"),
        })
    chart = {
        "kinds": [{"kind": k["kind"], "label": k["label"], "present": k["present"],
                   "statuses": [[label, count] for _s, label, count, _u in k["statuses"]]} for k in kinds],
        "status_labels": [str(label) for _s, label in ItemStatus.choices],
        "nights": [{"date": row["date"].isoformat(), **{k: row.get(k, 0) for k in ListKind.values}}
                   for row in board.nights],
        "ratios": [{"category": row["category"] or _("No identity"),
                    "basic": float(row["basic"] or 0), "critical": float(row["critical"] or 0),
                    "assistance": float(row["assistance"] or 0)} for row in board.ratios],
        "layer_labels": [_("Basic medical insurance"), _("Critical illness insurance"), _("Medical assistance")],
        "limits": [{"name": row["name"], "paid": float(row["paid"]), "limit": float(row["limit"])}
                   for row in board.limits],
        "limit_labels": [_("assistance paid"), _("annual limits of the people paid")],
    }
    children = Region.objects.filter(parent=region).order_by("code")
    return _page(
        request, "monitoring/dashboard.html", _("Early-warning dashboard: %(region)s") % {"region": region.name},
        region=region, board=board, kinds=kinds, chart_data=chart,
        children=children, ancestors=[r for r in region.ancestors_and_self()[:-1]
                                      if user_can_reach_region(request.user, r)],
        sla_labels={"manual": _("Manual reimbursements (25 working days)"),
                    "batch": _("Hospital batches, advance (10 working days)"),
                    "application": _("Assistance applications (working days of each step)")},
        sla_links=_sla_links(region, board.year),
        lines_url=_assistance_lines_url(region.pk, board.year),
        limit_rows=[{**row, "url": f"?region={row['code']}",
                     "lines_url": _assistance_lines_url(row["region_id"], board.year)} for row in board.limits],
        floor_url=queue_url(region=region.code, kind=ListKind.ASSISTANCE_FLOOR, status="open", cause="present"),
        gap_url=queue_url(region=region.code, kind=ListKind.INSURANCE_GAP, reason=Reason.NOT_INSURED))


def _assistance_lines_url(region_id: int, year: int) -> str:
    """The payment lines behind "assistance paid": the assistance layer of the year in the region."""
    return (f"{reverse('admin:claims_paymentline_changelist')}?"
            f"{urlencode({'layer__exact': 'assistance', 'year': year, 'region': region_id})}")


def _sla_links(region: Region, year: int) -> dict[str, dict[str, str]]:
    """Per deadline row the lists behind its figures: the cases, batches or applications paid and the open ones."""
    return {
        "manual": {"paid": f"{reverse('admin:claims_reimbursementcase_changelist')}?"
                           f"{urlencode({'state__exact': 'paid', 'region': region.pk})}",
                   "open": f"{reverse('claims:case_queue')}?{urlencode({'scope': 'all', 'due': 'overdue'})}"},
        "batch": {"paid": f"{reverse('admin:claims_hospitalbatch_changelist')}?{urlencode({'region': region.pk})}",
                  "open": f"{reverse('claims:batch_queue')}?{urlencode({'scope': 'all', 'due': 'overdue'})}"},
        "application": {
            "paid": f"{reverse('admin:assistance_application_changelist')}?"
                    f"{urlencode({'state__exact': 'paid', 'region': region.pk})}",
            "open": f"{reverse('assistance:application_queue')}?{urlencode({'scope': 'all', 'due': 'overdue'})}"},
    }


# ---------------------------------------------------------------------------------------------------- queue

class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False,
                                      label=gettext_lazy("assign to"), empty_label=gettext_lazy("nobody"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Colleagues who may handle items and work in one of the user's regions (or above them).
        region_ids = [r.pk for r in visible_regions(user, with_ancestors=True)]
        self.fields["assignee"].queryset = (
            get_user_model().objects.filter(is_active=True, region_memberships__region_id__in=region_ids)
            .filter(groups__permissions__codename="handle_warningitem").distinct().order_by("username"))


def _filters(request) -> dict[str, str]:
    return {key: request.GET.get(key, "") for key in FILTERS}


def _filtered(request):
    filters = _filters(request)
    region = None
    if filters["region"]:
        region = Region.objects.filter(code=filters["region"]).first()
        if region is None or not user_can_reach_region(request.user, region):
            raise Http404(_("No such region among yours."))
    queryset = selectors.item_queue(request.user, region=region, kind=filters["kind"], status=filters["status"],
                                    reason=filters["reason"], assignee=filters["assignee"], cause=filters["cause"])
    return filters, region, queryset


@staff_member_required
def item_queue_view(request):
    _require(request, "monitoring.view_warningitem")
    filters, region, queryset = _filtered(request)
    paginator = Paginator(queryset, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    today = timezone.localdate()
    for item in page.object_list:
        item.verify_overdue = item.status == ItemStatus.PENDING and item.verify_due_on and item.verify_due_on < today
    query = urlencode({k: v for k, v in filters.items() if v})
    return _page(
        request, "monitoring/items.html", _("Warning items"), page=page, filters=filters, region=region,
        kinds=ListKind.choices, statuses=[("open", _("Open")), *ItemStatus.choices], reasons=Reason.choices,
        assign_form=AssignForm(user=request.user), query=query, today=today,
        can_handle=request.user.has_perm(handling.HANDLE_PERMISSION),
        can_export=request.user.has_perm("monitoring.export_warnings"),
        export_url=f"{reverse('monitoring:export')}?{query}")


@staff_member_required
@require_POST
def assign_view(request):
    _require(request, handling.HANDLE_PERMISSION)
    form = AssignForm(request.POST, user=request.user)
    ids = [int(value) for value in request.POST.getlist("items") if value.isdigit()]
    back = request.POST.get("next") or reverse("monitoring:items")
    if not back.startswith("/"):
        back = reverse("monitoring:items")
    if not ids:
        messages.warning(request, _("Choose the items to assign."))
        return redirect(back)
    if not form.is_valid():
        messages.error(request, _("Choose a colleague who may handle warning items."))
        return redirect(back)
    try:
        count = handling.assign_items(item_ids=ids, assignee=form.cleaned_data["assignee"], by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("%(count)d items assigned.") % {"count": count})
    return redirect(back)


# ---------------------------------------------------------------------------------------------------- an item

ACTIONS = {
    "verify": (ItemStatus.VERIFIED, gettext_lazy("Verified (已核实)")),
    "exclude": (ItemStatus.EXCLUDED, gettext_lazy("Not included (不纳入)")),
    "assist": (ItemStatus.ASSISTING, gettext_lazy("Start assistance (帮扶中)")),
    "close": (ItemStatus.CLOSED, gettext_lazy("Close off (销号)")),
}


class ActionForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("note"), required=False, max_length=300)
    reason = forms.CharField(label=gettext_lazy("reason not included"), required=False, max_length=300)


def _item(request, pk: int) -> WarningItem:
    queryset = scope_queryset(WarningItem.objects.select_related(
        "region", "person", "household", "hospital", "case__claim", "batch", "claim", "assignee", "handled_by"),
        request.user)
    return get_object_or_404(queryset, pk=pk)


def _links(item: WarningItem) -> list[tuple[str, str]]:
    links = []
    if item.person_id:
        links.append((_("Person"), reverse("admin:enrollment_person_change", args=[item.person_id])))
        links.append((_("Claims of the person"), f"{reverse('admin:claims_claim_changelist')}?person__id__exact="
                                                   f"{item.person_id}"))
    if item.household_id:
        links.append((_("Household"), reverse("admin:enrollment_household_change", args=[item.household_id])))
    if item.case_id:
        links.append((_("Manual reimbursement"), reverse("claims:case_detail", args=[item.case_id])))
    if item.batch_id:
        links.append((_("Hospital batch"), reverse("claims:batch_detail", args=[item.batch_id])))
    if item.figures.get("application_id"):
        links.append((_("Assistance application"),
                      reverse("admin:assistance_application_change", args=[item.figures["application_id"]])))
    if item.household_id and item.kind in (ListKind.APPLY_CANDIDATE, ListKind.HIGH_COST):
        links.append((_("Applications of the household"),
                      f"{reverse('admin:assistance_application_changelist')}?household__id__exact={item.household_id}"))
    if item.person_id and item.kind in (ListKind.HIGH_COST, ListKind.ASSISTANCE_FLOOR):
        links.append((_("Case-by-case special aid"), reverse("admin:assistance_specialaidcase_changelist")))
    if item.hospital_id and item.kind == ListKind.OUT_OF_CATALOG:
        links.append((_("Claims of the hospital"), f"{reverse('admin:claims_claim_changelist')}?hospital__id__exact="
                                                   f"{item.hospital_id}"))
    return links


@staff_member_required
def item_detail_view(request, pk: int):
    _require(request, "monitoring.view_warningitem")
    item = _item(request, pk)
    claims = []
    numbers = item.figures.get("claim_numbers") or []
    if numbers:
        claims = list(scope_queryset(Claim.objects.filter(number__in=numbers[:50]), request.user)
                      .values("pk", "number", "total_cost", "policy_scope_cost"))
        for claim in claims:
            claim["out_of_catalog"] = claim["total_cost"] - claim["policy_scope_cost"]
    allowed = handling.TRANSITIONS.get(item.status, ())
    actions = [(name, label) for name, (target, label) in ACTIONS.items() if target in allowed]
    evidence = list(item.evidence.order_by("-data_date"))
    for row in evidence:
        row.shown = shown_figures(row.figures)
    history = list(item.history.select_related("history_user").order_by("-history_date")[:30])
    for row in history:
        row.who = row.history_user.username if row.history_user else change_reason(row.history_change_reason)
    return _page(
        request, "monitoring/item_detail.html", str(item), item=item, evidence=evidence, history=history,
        figures=shown_figures(item.figures), claims=claims,
        links=_links(item), actions=actions, form=ActionForm(),
        can_handle=request.user.has_perm(handling.HANDLE_PERMISSION),
        assign_form=AssignForm(user=request.user, initial={"assignee": item.assignee_id}),
        back=queue_url(kind=item.kind, region=item.region.code))


@staff_member_required
@require_POST
def item_action_view(request, pk: int, action: str):
    _require(request, handling.HANDLE_PERMISSION)
    item = _item(request, pk)
    form = ActionForm(request.POST)
    form.is_valid()
    note = form.cleaned_data.get("note", "")
    try:
        if action == "note":
            handling.add_note(item=item, by=request.user, note=note)
        elif action in ACTIONS:
            handling.move_item(item=item, to=ACTIONS[action][0], by=request.user, note=note,
                               reason=form.cleaned_data.get("reason", ""))
        else:
            raise Http404
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("monitoring:item", pk=pk)
    messages.success(request, _("Saved."))
    return redirect("monitoring:item", pk=pk)


# ---------------------------------------------------------------------------------------------------- exchange

@staff_member_required
def export_view(request):
    """The filtered lists as a department workbook (.xlsx), built as a background export; the request goes on to
    the export's progress page, which offers the download."""
    _require(request, exchange.EXPORT_PERMISSION)
    filters, region, _queryset = _filtered(request)
    job = exchange.start_department_export(user=request.user, filters=filters, region=region)
    return redirect("enrollment:export-status", pk=job.pk)


class AnswerUploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("department's answer file (.xlsx or .csv)"))


@staff_member_required
def answer_upload_view(request):
    """Upload a department's filled-in answer sheet; the import engine checks it (dry run) and shows the result
    page with its confirm button — big files in a Celery task with a progress bar."""
    from enrollment.imports.service import may_import, start_import_job

    if not may_import(request.user, exchange.KIND) or not request.user.has_perm(handling.HANDLE_PERMISSION):
        raise PermissionDenied
    form = AnswerUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        job, _result = start_import_job(kind=exchange.KIND, upload=form.cleaned_data["file"], user=request.user)
        return redirect("enrollment:import-result", pk=job.pk)
    return _page(request, "monitoring/answer_upload.html", _("Import a department's answer file"), form=form,
                 columns=[column.header for column in exchange.ANSWER_COLUMNS])
