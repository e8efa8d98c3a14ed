"""Assistance in the admin: the policy settings (edited by heads), and read-only lists of applications, outside
costs and special aid cases. The work itself happens on the pages of ``assistance.urls``, whose services guard
every step (four eyes, two departments, deadlines); the admin lists, searches, exports and shows history.
"""

from django import forms
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from simple_history.admin import SimpleHistoryAdmin

from enrollment.admin.base import (
    PersonRowAdminMixin,
    RegionScopedAdminMixin,
    SafeExportMixin,
    region_list_filter,
)
from enrollment.counting import BudgetedCountPaginator
from enrollment.percent import PercentField

from .exports import ApplicationExportResource, SpecialAidCaseExportResource
from .models import Application, AssistancePolicy, OutsideCost, SpecialAidCase
from .models.choices import AidFunding, AssetKind


def _page_link(url_name: str, pk: int):
    try:
        url = reverse(url_name, args=[pk])
    except NoReverseMatch:
        return "-"
    return format_html('<a href="{}">{}</a>', url, gettext("Open"))


class AssistancePolicyForm(forms.ModelForm):
    """The code lists as ticked Chinese labels, and the income share in percent like the policy files."""

    income_share = PercentField(label=_("income share"))
    counted_asset_kinds = forms.MultipleChoiceField(
        label=_("asset kinds counted"), choices=AssetKind.choices, required=False,
        widget=forms.CheckboxSelectMultiple)
    special_aid_funding = forms.MultipleChoiceField(
        label=_("special aid funding sources"), choices=AidFunding.choices, required=False,
        widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = AssistancePolicy
        fields = ("policy", "look_back", "look_back_months", "income_share", "asset_cap", "counted_asset_kinds",
                  "cost_basis", "identity_months", "review_working_days", "approval_working_days",
                  "payment_working_days", "special_aid_funding")


@admin.register(AssistancePolicy)
class AssistancePolicyAdmin(RegionScopedAdminMixin, SimpleHistoryAdmin):
    form = AssistancePolicyForm
    _CODE_LISTS = {"counted_asset_kinds": "asset_kinds_shown", "special_aid_funding": "funding_shown"}

    def _read_only(self, request, obj) -> bool:
        return obj is not None and not self.has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        # Read-only, the code lists would show as raw JSON codes: their Chinese labels are shown instead.
        return (*fields, *self._CODE_LISTS.values()) if self._read_only(request, obj) else fields

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if self._read_only(request, obj):
            fields = [name for name in fields if name not in self._CODE_LISTS]
        return fields

    @admin.display(description=_("asset kinds counted"))
    def asset_kinds_shown(self, obj):
        return "、".join(str(AssetKind(code).label) for code in obj.counted_asset_kinds if code in AssetKind.values)

    @admin.display(description=_("special aid funding sources"))
    def funding_shown(self, obj):
        return "、".join(str(AidFunding(code).label) for code in obj.special_aid_funding if code in AidFunding.values)
    list_display = ("policy", "income_share", "asset_cap", "look_back", "look_back_months", "identity_months")
    list_select_related = ("policy",)
    autocomplete_fields = ("policy",)


class _ReadOnly:
    show_full_result_count = False
    paginator = BudgetedCountPaginator  # exact within LIST_COUNT_BUDGET_MS, else "超过 10000"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class _ReadOnlyAdmin(_ReadOnly, RegionScopedAdminMixin, SimpleHistoryAdmin):
    pass


class _ReadOnlyExportAdmin(_ReadOnly, RegionScopedAdminMixin, SafeExportMixin, ExportMixin, SimpleHistoryAdmin):
    """Read-only, with the export button (.xlsx / CSV, masked, region-scoped; ``assistance.exports``)."""


@admin.register(Application)
class ApplicationAdmin(_ReadOnlyExportAdmin):
    resource_classes = [ApplicationExportResource]
    list_display = ("number", "household", "applicant_name", "applied_on", "state", "due_on", "due_provisional",
                    "assistance_granted", "page_link")
    list_select_related = ("household", "applicant")
    list_filter = ("state", "due_provisional", region_list_filter("region"))
    search_fields = ("=number", "=household__number", "=applicant__id_number", "applicant__name__startswith")
    search_help_text = _("An exact application or household number, a full ID number, or the start of a name.")
    exclude = ("patients", "granted_identities")

    @admin.display(description=_("applicant"), ordering="applicant__name")
    def applicant_name(self, application):
        return application.applicant.name

    @admin.display(description=_("application page"))
    def page_link(self, application):
        return _page_link("assistance:application_detail", application.pk)


@admin.register(OutsideCost)
class OutsideCostAdmin(PersonRowAdminMixin, _ReadOnlyAdmin):
    list_display = ("household", "person_name", "id_number_display", "incurred_on", "description", "total_cost",
                    "insurance_paid", "other_paid", "verified")
    list_select_related = ("household", "person")
    list_filter = ("verified", region_list_filter("household__region"))


@admin.register(SpecialAidCase)
class SpecialAidCaseAdmin(PersonRowAdminMixin, _ReadOnlyExportAdmin):
    resource_classes = [SpecialAidCaseExportResource]
    list_display = ("number", "person_name", "id_number_display", "opened_on", "opening_unit", "state", "amount",
                    "funding_source", "paid_on", "page_link")
    list_select_related = ("person",)
    list_filter = ("state", "funding_source", region_list_filter("region"))
    exclude = ("named_claims", "named_outside_costs")

    @admin.display(description=_("case page"))
    def page_link(self, case):
        return _page_link("assistance:case_detail", case.pk)
