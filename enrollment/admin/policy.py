"""Policy versions (政策版本) with their subsidy (资助参保) and cost-sharing rules.

Policy data is read from above (a county reads the province's version) and changed only by users of the
version's own region; a version the edit guards refuse (e.g. claims were settled under it) is read-only.
"""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from ..models import CostShareRule, PolicyVersion, SubsidyRule
from ..models.policy import SubsidyKind
from ..percent import PercentField, percent_problem
from ..services.policy import PolicyNotEditable, ensure_policy_editable
from .base import RegionScopedAdminMixin, RegionScopedInlineMixin, region_list_filter

_EDITABLE_CACHE = "_admin_policy_editable"


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


class PolicyRuleInline(RegionScopedInlineMixin, admin.TabularInline):
    """Base of every inline of rules that belong to a policy version (the claims app's benefit rules too)."""

    extra = 0
    # Ratio fields stored as fractions but typed in percent, like the policy files (enrollment.percent).
    percent_fields: tuple[str, ...] = ()

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in self.percent_fields:
            return PercentField(label=db_field.verbose_name, required=not db_field.blank,
                                help_text=_("In percent: 75 means 75 %."))
        return super().formfield_for_dbfield(db_field, request, **kwargs)

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
