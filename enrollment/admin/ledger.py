"""The enrolment ledger (参保台账), its problems (对账销号) and the coverage-rate page (参保率).

Writes that carry a rule go through `enrollment.services.ledger`; this module only collects input and shows
results. Amounts, subsidies and shares are therefore read-only here.
"""

from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from simple_history.admin import SimpleHistoryAdmin

from .. import selectors
from ..exports import EnrollmentExportResource
from ..models import Enrollment, LedgerProblem
from ..models.ledger import CannotEnrolReason, ProblemKind, ProblemStatus
from ..services import ledger as ledger_services
from .base import (
    EstimatedCountPaginator,
    ImportLinkMixin,
    PersonRowAdminMixin,
    PlanYearFilter,
    RegionScopedAdminMixin,
    SafeExportMixin,
    plan_year_choices,
    region_list_filter,
)


class _Rollback(Exception):
    """Raised inside a savepoint to undo a trial run of a service."""


class RegionFromPersonForm(forms.ModelForm):
    """A new row takes the person's region (the ledger keeps the region it was kept in, see the model)."""

    def clean(self):
        cleaned = super().clean()
        person = cleaned.get("person")
        if self.instance.pk is None and person is not None:
            self.instance.region = person.region
        return cleaned


class EnrollmentAddForm(RegionFromPersonForm):
    """Registering a person for a plan year (参保登记) runs `enrol_person`.

    The service is tried in a savepoint while the form is validated, so its refusals (no policy version, no
    contribution standard, died before the year) show on the form instead of failing after the page was sent.
    """

    class Meta:
        model = Enrollment
        fields = ("person", "plan_year", "scheme")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan_year"].initial = timezone.localdate().year

    #: Set per request by the admin's get_form: the dry run acts as the user, as the real call will.
    acting_user = None

    def _post_clean(self):
        super()._post_clean()
        if self._errors:
            return
        try:
            with transaction.atomic():
                ledger_services.enrol_person(**self.service_kwargs(by=self.acting_user))
                raise _Rollback
        except _Rollback:
            pass
        except ValidationError as error:
            self.add_error(None, error)
        except PermissionDenied as error:
            self.add_error(None, str(error))

    def service_kwargs(self, *, by):
        return {"person": self.cleaned_data["person"], "plan_year": self.cleaned_data["plan_year"],
                "scheme": self.cleaned_data["scheme"], "by": by}


def _run_per_row(request, queryset, service, *, done_message, **service_kwargs):
    """Call a single-row service for each selected row; report successes and each refusal with its row."""
    done = 0
    for obj in queryset:
        try:
            service(obj, by=request.user, **service_kwargs)
            done += 1
        except ValidationError as error:
            messages.error(request, f"{obj}: {' '.join(error.messages)}")
    if done:
        messages.success(request, done_message % {"count": done})


def _action_form_page(modeladmin, request, queryset, *, form, title, action):
    """The intermediate page of an action that needs input (a note, a reason); posts back to the same action."""
    objects = list(queryset[:100])
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "form": form,
        "objects": objects,
        "more": max(0, queryset.count() - len(objects)),
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "media": modeladmin.media,
    }
    return TemplateResponse(request, "admin/enrollment/action_form.html", context)


class CannotEnrolForm(forms.Form):
    reason = forms.ChoiceField(label=_("reason not insurable"), choices=CannotEnrolReason.choices)
    evidence = forms.CharField(label=_("evidence"), max_length=200)


@admin.register(Enrollment)
class EnrollmentAdmin(PersonRowAdminMixin, RegionScopedAdminMixin, ImportLinkMixin, SafeExportMixin, ExportMixin,
                      SimpleHistoryAdmin):
    resource_classes = [EnrollmentExportResource]
    export_file_title = "参保台账"
    import_kind = "enrollments"
    list_display = ("person_name", "id_number_display", "plan_year", "scheme", "status", "contribution_due",
                    "subsidy_amount", "person_share", "subsidy_category", "subsidy_funding_source", "shares",
                    "region")
    list_select_related = ("person", "region", "subsidy_category")
    list_filter = (PlanYearFilter, "status", "scheme", region_list_filter("region"), "subsidy_category")
    search_fields = ("person__name",)
    search_help_text = _("A person's exact ID number (18 or 15 digits), or the beginning of their name.")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    autocomplete_fields = ("person",)
    actions = ("enrol_again", "mark_not_insured", "mark_cannot_enrol")
    fieldsets = (
        (None, {"fields": ("person", "plan_year", "region", "scheme", "status", "cannot_reason", "cannot_evidence")}),
        (_("Contribution and subsidy"), {"fields": (
            "contribution_due", "subsidy_amount", "person_share", "subsidy_category", "subsidy_funding_source",
            ("subsidy_province", "subsidy_prefecture", "subsidy_county"), "subsidy_granted_on", "policy")}),
        (_("Payment and coverage"), {"fields": ("person_paid", "paid_on", "coverage_start", "coverage_end")}),
        (None, {"fields": ("note",)}),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("person", "plan_year", "scheme")}),)
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # Everything but the note is set by the ledger services (actions below, imports, the person's page).
        return [f for fieldset in self.fieldsets for line in fieldset[1]["fields"]
                for f in (line if isinstance(line, tuple) else (line,)) if f != "note"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type("EnrollmentAddForm", (EnrollmentAddForm,), {"acting_user": request.user})
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        row = ledger_services.enrol_person(**form.service_kwargs(by=request.user))
        obj.pk = row.pk
        obj.refresh_from_db()

    @admin.display(description=_("person's share"))
    def person_share(self, enrollment):
        return enrollment.person_share

    @admin.display(description=_("province / prefecture / county shares"))
    def shares(self, enrollment):
        if not (enrollment.subsidy_province or enrollment.subsidy_prefecture or enrollment.subsidy_county):
            return "-"
        return f"{enrollment.subsidy_province} / {enrollment.subsidy_prefecture} / {enrollment.subsidy_county}"

    # --- Actions: each calls a ledger service per row ---------------------------------------------------------

    @admin.action(description=_("Register again (recompute contribution and subsidy)"), permissions=["change"])
    def enrol_again(self, request, queryset):
        def enrol(row, *, by):
            ledger_services.enrol_person(person=row.person, plan_year=row.plan_year, scheme=row.scheme, by=by)
        _run_per_row(request, queryset, enrol, done_message=gettext("%(count)d ledger rows registered."))

    @admin.action(description=_("Mark as not insured (未参保)"), permissions=["change"])
    def mark_not_insured(self, request, queryset):
        def mark(row, *, by):
            ledger_services.mark_not_insured(enrollment=row, by=by)
        _run_per_row(request, queryset, mark, done_message=gettext("%(count)d ledger rows marked as not insured."))

    @admin.action(description=_("Mark as not insurable (不能参保)…"), permissions=["change"])
    def mark_cannot_enrol(self, request, queryset):
        form = CannotEnrolForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            def mark(row, *, by):
                ledger_services.mark_cannot_enrol(
                    enrollment=row, reason=form.cleaned_data["reason"], evidence=form.cleaned_data["evidence"],
                    by=by)
            _run_per_row(request, queryset, mark,
                         done_message=gettext("%(count)d ledger rows marked as not insurable."))
            return None
        return _action_form_page(self, request, queryset, form=form, title=_("Mark as not insurable"),
                                 action="mark_cannot_enrol")

    # --- Coverage rate page (参保率) ---------------------------------------------------------------------------

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_coverage"
        return [path("coverage/", self.admin_site.admin_view(self.coverage_view), name=name), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "coverage_url": reverse(f"{self.admin_site.name}:enrollment_enrollment_coverage")}
        return super().changelist_view(request, extra_context)

    def coverage_view(self, request):
        """Per region and plan year: should be insured, insured, the rate and whether it meets the target."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        years = plan_year_choices()
        requested = request.GET.get("plan_year", "")
        plan_year = int(requested) if requested.isdigit() else timezone.localdate().year
        rows = list(selectors.coverage_rates(plan_year=plan_year, user=request.user))
        for row in rows:
            # Shown from the exact counts (the selector's rate is a float), half-up to two places.
            row.coverage_percent = (
                (Decimal(row.insured_count) * 100 / Decimal(row.should_count)).quantize(
                    Decimal("0.01"), rounding=ROUND_HALF_UP)
                if row.should_count else None)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Coverage rate"),
            "subtitle": str(plan_year),
            "opts": self.opts,
            "plan_year": plan_year,
            "years": [int(value) for value, _label in years],
            "rows": rows,
            "target_percent": selectors.COVERAGE_TARGET_PERCENT,
        }
        return TemplateResponse(request, "admin/enrollment/enrollment/coverage.html", context)


# --- Ledger problems ----------------------------------------------------------------------------------------------

class CloseProblemForm(forms.Form):
    note = forms.CharField(label=_("how it was resolved"), max_length=300, widget=forms.Textarea(attrs={"rows": 3}))


class LedgerProblemForm(RegionFromPersonForm):
    class Meta:
        model = LedgerProblem
        fields = ("person", "plan_year", "kind", "description", "responsible_unit", "deadline")


@admin.register(LedgerProblem)
class LedgerProblemAdmin(PersonRowAdminMixin, RegionScopedAdminMixin, SimpleHistoryAdmin):
    form = LedgerProblemForm
    list_display = ("person_name", "id_number_display", "plan_year", "kind", "description", "responsible_unit",
                    "deadline", "status", "closed_on", "region")
    list_select_related = ("person", "region")
    list_filter = ("status", "kind", PlanYearFilter, region_list_filter("region"), "deadline")
    search_fields = ("person__name",)
    search_help_text = _("A person's exact ID number (18 or 15 digits), or the beginning of their name.")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    autocomplete_fields = ("person",)
    actions = ("close_off",)
    fields = ("person", "plan_year", "region", "kind", "description", "responsible_unit", "deadline", "status",
              "closed_on", "closed_by", "closing_note", "created_at")

    def get_readonly_fields(self, request, obj=None):
        closing = ("region", "status", "closed_on", "closed_by", "closing_note", "created_at")
        if obj is None:
            return closing
        return ("person", "plan_year", "kind", *closing)

    change_list_template = "admin/enrollment/ledgerproblem/change_list.html"

    def changelist_view(self, request, extra_context=None):
        """Above the list: open problems per kind (one grouped query), each a link to its filtered list."""
        open_problems = self.get_queryset(request).filter(status=ProblemStatus.OPEN)
        year = request.GET.get("plan_year", "")
        base = "?status__exact=open"
        if year.isdigit():
            open_problems = open_problems.filter(plan_year=int(year))
            base += f"&plan_year={year}"
        counts = dict(open_problems.order_by().values_list("kind").annotate(n=Count("pk")))
        summary = [{"kind": kind, "label": label, "count": counts.get(kind, 0),
                    "url": f"{base}&kind__exact={kind}"} for kind, label in ProblemKind.choices]
        extra_context = {**(extra_context or {}), "problem_counts": summary,
                         "problems_total": sum(counts.values()), "problems_all_url": base}
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Close off (对账销号)…"), permissions=["change"])
    def close_off(self, request, queryset):
        queryset = queryset.filter(status=ProblemStatus.OPEN).select_related("person")
        form = CloseProblemForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            def close(problem, *, by):
                ledger_services.close_problem(problem=problem, by=by, note=form.cleaned_data["note"])
            _run_per_row(request, queryset, close, done_message=gettext("%(count)d problems closed off."))
            return None
        return _action_form_page(self, request, queryset, form=form, title=_("Close off ledger problems"),
                                 action="close_off")

