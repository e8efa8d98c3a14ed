"""Policy versions (政策版本) with their subsidy (资助参保) and cost-sharing rules.

Policy data is read from above (a county reads the province's version) and changed only by users of the
version's own region; a version the edit guards refuse (e.g. claims were settled under it) is read-only.
"""


from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from ..models import CostShareRule, PolicyVersion, SubsidyRule
from ..models.policy import SubsidyKind
from ..percent import PercentField, format_percent, percent_problem
from ..scoping import user_can_reach_region
from ..services.policy import PolicyNotEditable, ensure_policy_editable
from ..services.policy_versions import close_version
from .base import RegionScopedAdminMixin, RegionScopedInlineMixin, region_list_filter

_EDITABLE_CACHE = "_admin_policy_editable"


def policy_locked_reason(policy) -> str:
    """Why ``policy`` is read-only (the edit guard's own message), or "" when it may be edited."""
    if policy is None or policy.pk is None:
        return ""
    try:
        ensure_policy_editable(policy)
    except PolicyNotEditable as error:
        return " ".join(error.messages)
    return ""


class CloseVersionForm(forms.Form):
    end_on = forms.DateField(label=_("last day in force"), widget=forms.DateInput(attrs={"type": "date"},
                                                                                   format="%Y-%m-%d"))
    successor_code = forms.SlugField(
        label=_("code of the successor"), required=False, max_length=64,
        help_text=_("Leave empty to close the version only; otherwise a copy with all its rules starts the next "
                    "day, to be edited for the new policy."))
    successor_name = forms.CharField(label=_("name of the successor"), required=False, max_length=200)
    confirm = forms.BooleanField(label=_("I confirm: the version ends on this date; this cannot be undone here."))


def policy_is_editable(policy) -> bool:
    """Whether the edit guards let `policy` change; remembered on the instance for the rest of the request."""
    if policy is None or policy.pk is None:
        return True
    cached = getattr(policy, _EDITABLE_CACHE, None)
    if cached is None:
        try:
            ensure_policy_editable(policy)
            cached = True
        except PolicyNotEditable:
            cached = False
        setattr(policy, _EDITABLE_CACHE, cached)
    return cached


# Suffix of the display that stands in for a ratio field wherever the field is only shown, not edited.
AS_PERCENT = "_as_percent"


def _percent_display(field):
    def show(obj):
        return format_percent(getattr(obj, field.name))

    show.short_description = field.verbose_name
    return show


class PolicyRuleInline(RegionScopedInlineMixin, admin.TabularInline):
    """Base of every inline of rules that belong to a policy version (the claims app's benefit rules too)."""

    extra = 0
    # Ratio fields stored as fractions but typed and shown in percent, like the policy files (enrollment.percent).
    percent_fields: tuple[str, ...] = ()

    def __init__(self, parent_model, admin_site):
        super().__init__(parent_model, admin_site)
        # Django shows a read-only model field with its raw value (0.7500); a display method named apart stands in.
        for name in self.percent_fields:
            setattr(self, name + AS_PERCENT, _percent_display(self.model._meta.get_field(name)))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in self.percent_fields:
            return PercentField(label=db_field.verbose_name, required=not db_field.blank,
                                help_text=_("In percent: 75 means 75 %."))
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def _shown_only(self, request, obj) -> bool:
        return bool(self.percent_fields) and not (
            self.has_change_permission(request, obj) or self.has_add_permission(request, obj))

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._shown_only(request, obj):
            return fieldsets
        return [(title, {**options, "fields": self._as_percent(options["fields"])}) for title, options in fieldsets]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if not self._shown_only(request, obj):
            return readonly
        return (*readonly, *(name + AS_PERCENT for name in self.percent_fields))

    def _as_percent(self, fields):
        return [self._as_percent(f) if isinstance(f, (list, tuple)) else
                f + AS_PERCENT if f in self.percent_fields else f for f in fields]

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and policy_is_editable(obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and policy_is_editable(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and policy_is_editable(obj)


class SubsidyRuleForm(forms.ModelForm):
    """A percent subsidy is already in percent; a value below 1 was almost certainly meant as a fraction."""

    def clean(self):
        cleaned = super().clean()
        value = cleaned.get("value")
        if cleaned.get("kind") == SubsidyKind.PERCENT and value is not None and (problem := percent_problem(value)):
            self.add_error("value", problem)
        return cleaned


class SubsidyRuleInline(PolicyRuleInline):
    model = SubsidyRule
    form = SubsidyRuleForm
    fields = ("category", "plan_year", "kind", "value", "funding_source", "cost_shared", "note")
    ordering = ("category__sort_order", "plan_year")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("category")


class CostShareRuleInline(PolicyRuleInline):
    model = CostShareRule
    fields = ("county_class", "province_share", "prefecture_share", "county_share")
    ordering = ("county_class",)


_PolicyRuleInline = PolicyRuleInline  # the name the claims app imported first


@admin.register(PolicyVersion)
class PolicyVersionAdmin(RegionScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("code", "name", "region", "effective_from", "effective_to", "document")
    list_select_related = ("region",)
    list_filter = (region_list_filter("region", with_ancestors=True),)
    search_fields = ("code", "name", "document")
    ordering = ("region__path", "-effective_from")
    filter_horizontal = ("green_channel_categories",)
    inlines = (SubsidyRuleInline, CostShareRuleInline)
    readonly_fields = ("source_file",)
    fieldsets = (
        (None, {"fields": ("code", "name", "region", "document", ("effective_from", "effective_to"), "notes",
                           "source_file")}),
        (_("Intake (参保)"), {"fields": (("intake_cutoff_month", "intake_cutoff_day"), "green_channel_categories",
                                       "newborn_window_months")}),
        (_("Contribution subsidy"), {"fields": ("full_subsidy_base", "top_up_on_identity_change")}),
    )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and policy_is_editable(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and policy_is_editable(obj)

    def get_urls(self):
        return [path("<int:pk>/close/", self.admin_site.admin_view(self.close_view),
                     name="enrollment_policyversion_close"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        reason = policy_locked_reason(obj)
        may_close = (obj is not None and obj.effective_to is None
                     and request.user.has_perm("enrollment.change_policyversion")
                     and user_can_reach_region(request.user, obj.region))
        extra_context = {**(extra_context or {}), "locked_reason": reason,
                         "close_url": reverse("admin:enrollment_policyversion_close", args=[obj.pk])
                         if may_close else None}
        return super().change_view(request, object_id, form_url, extra_context)

    def close_view(self, request, pk):
        version = get_object_or_404(self.get_queryset(request).select_related("region"), pk=pk)
        if not request.user.has_perm("enrollment.change_policyversion"):
            raise PermissionDenied
        form = CloseVersionForm(request.POST or None,
                                initial={"successor_code": f"{version.code}-next", "successor_name": version.name,
                                         "end_on": timezone.localdate()})
        if request.method == "POST" and form.is_valid():
            try:
                successor = close_version(
                    version=version, end_on=form.cleaned_data["end_on"], by=request.user,
                    successor_code=form.cleaned_data["successor_code"],
                    successor_name=form.cleaned_data["successor_name"])
            except PermissionDenied as error:
                form.add_error(None, str(error))
            except ValidationError as error:
                form.add_error(None, " ".join(error.messages))
            else:
                if successor is None:
                    messages.success(request, gettext("Policy version %(code)s closed.") % {"code": version.code})
                    return redirect("admin:enrollment_policyversion_change", version.pk)
                messages.success(request, gettext("Policy version %(code)s closed; its successor %(next)s starts on "
                                                  "%(date)s.") % {"code": version.code, "next": successor.code,
                                                                  "date": successor.effective_from})
                return redirect("admin:enrollment_policyversion_change", successor.pk)
        return TemplateResponse(request, "admin/enrollment/policyversion/close.html", {
            **self.admin_site.each_context(request), "title": _("Close policy version %(code)s") % {
                "code": version.code}, "form": form, "version": version, "opts": self.opts})
