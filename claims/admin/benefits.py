"""Benefit rules (三重保障: 基本医保, 大病保险, 医疗救助) edited on the policy version's page.

The rules belong to a policy version, and clerks think of "the 2022 policy" as one document: subsidies and intake
rules (enrollment) and benefits (claims) on one page. Enrollment may not import claims, so the claims app adds
its inlines to the policy version admin that enrollment registered. They use enrollment's rule-inline base, so
scoping and the edit guard (no changes once claims were settled under a version) are the same for every rule.

(The alternative — a separate benefit-settings admin with the rules as inlines — does not fit the data: the rules
point at the policy version, not at the settings row, so they could not be its inlines.)
"""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from enrollment.admin.policy import _PolicyRuleInline
from enrollment.models import PolicyVersion

from ..models import (
    AssistanceBenefitRule,
    BasicBenefitRule,
    BenefitPolicy,
    CategoryTilt,
    CriticalSegment,
    SpecialDisease,
)
from ..models.benefits import TILT_LIMITS


class BenefitPolicyInline(_PolicyRuleInline, admin.StackedInline):
    model = BenefitPolicy
    template = "admin/edit_inline/stacked.html"  # the base inline is tabular
    max_num = 1
    can_delete = False
    verbose_name_plural = _("benefit settings")
    filter_horizontal = ("no_deposit_categories", "continuous_deductible_categories")
    fieldsets = (
        (_("Basic medical insurance"), {"fields": ("basic_annual_cap", "funding_basic", "tilt_requires_referral",
                                                   "continuous_deductible_categories")}),
        (_("Critical illness insurance"), {"fields": (("critical_deductible_basis", "critical_deductible"),
                                                      "critical_annual_cap", "funding_critical")}),
        (_("Hospitals"), {"fields": ("out_of_catalog_limit", "no_deposit_categories")}),
        (_("Review deadlines (working days)"), {"fields": (("advance_ratio", "advance_working_days"),
                                                           "final_working_days", "manual_working_days")}),
    )


class BasicBenefitRuleInline(_PolicyRuleInline):
    model = BasicBenefitRule
    fields = ("visit_type", "hospital_level", "scheme", "deductible", "ratio", "unreferred_ratio")
    ordering = ("visit_type", "hospital_level", "scheme")


class CriticalSegmentInline(_PolicyRuleInline):
    model = CriticalSegment
    fields = ("upper_bound", "ratio")


class CategoryTiltForm(forms.ModelForm):
    """The tilt's limits (lists of codes in JSON columns) as checkboxes; none ticked means no limit."""

    class Meta:
        model = CategoryTilt
        fields = ("category", "layer", "deductible_reduction", "ratio_plus", "ratio_floor", "cap_removed",
                  "visit_types", "hospital_levels", "schemes")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, choices in TILT_LIMITS.items():
            model_field = CategoryTilt._meta.get_field(name)
            self.fields[name] = forms.TypedMultipleChoiceField(
                choices=choices.choices, required=False, widget=forms.CheckboxSelectMultiple,
                label=model_field.verbose_name, help_text=model_field.help_text)


class CategoryTiltInline(_PolicyRuleInline):
    model = CategoryTilt
    form = CategoryTiltForm
    fields = ("category", "layer", "deductible_reduction", "ratio_plus", "ratio_floor", "cap_removed",
              "visit_types", "hospital_levels", "schemes")
    ordering = ("layer", "category__sort_order")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("category")


class AssistanceBenefitRuleInline(_PolicyRuleInline):
    model = AssistanceBenefitRule
    fields = ("category", "ratio", "deductible", "annual_limit", "covers_inpatient", "covers_outpatient",
              "covers_chronic", "funding_source")
    ordering = ("category__sort_order",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("category")


class SpecialDiseaseInline(_PolicyRuleInline):
    model = SpecialDisease
    fields = ("code", "name", "icd10_prefixes", "quota")


BENEFIT_INLINES = (BenefitPolicyInline, BasicBenefitRuleInline, CriticalSegmentInline, CategoryTiltInline,
                   AssistanceBenefitRuleInline, SpecialDiseaseInline)


def attach_benefit_inlines(site: admin.AdminSite = admin.site) -> None:
    """Add the benefit inlines to the registered policy version admin (once; enrollment's admin loads first)."""
    policy_admin = site.get_model_admin(PolicyVersion)
    missing = tuple(inline for inline in BENEFIT_INLINES if inline not in policy_admin.inlines)
    policy_admin.inlines = (*policy_admin.inlines, *missing)


attach_benefit_inlines()
