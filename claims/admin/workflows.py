"""Manual reimbursements (零星报销) and hospital advance-payment batches (垫付资金申报): read-only lists.

Their work happens on the queue and case pages (`claims:case_detail`, `claims:batch_detail`), where the review
services guard every transition (four eyes, SLA clocks); the admin lists and links, it does not edit.
"""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from enrollment.admin.base import (
    EstimatedCountPaginator,
    RegionScopedAdminMixin,
    id_number_column,
    region_list_filter,
    replace_id_column,
)

from ..models import HospitalBatch, ReimbursementCase
from .claims import ClaimSearchMixin


def _page_link(url_name: str, pk: int):
    try:
        url = reverse(url_name, args=[pk])
    except NoReverseMatch:
        return "-"
    return format_html('<a href="{}">{}</a>', url, gettext("Open"))


class _ReadOnlyWorkflowAdmin(RegionScopedAdminMixin, SimpleHistoryAdmin):
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "id"] + ["page_link"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)


@admin.register(ReimbursementCase)
class ReimbursementCaseAdmin(ClaimSearchMixin, _ReadOnlyWorkflowAdmin):
    list_display = ("claim", "person_name", "id_number_display", "state", "received_on", "sla_due_on",
                    "sla_provisional", "exempt", "page_link")
    list_select_related = ("claim", "claim__person")
    list_filter = ("state", "exempt", "sla_provisional", region_list_filter("claim__region"))
    search_fields = ("claim__number",)
    claim_prefix = "claim__"

    @admin.display(description=_("name"), ordering="claim__person__name")
    def person_name(self, case):
        return case.claim.person.name

    @admin.display(description=_("ID number"))
    def id_number_display(self, case):
        return case.claim.person.masked_id_number  # replaced per request by get_list_display

    @admin.display(description=_("case page"))
    def page_link(self, case):
        return _page_link("claims:case_detail", case.pk)

    def get_list_display(self, request):
        return replace_id_column(super().get_list_display(request),
                                 id_number_column(request, "claim__person__id_number"))


@admin.register(HospitalBatch)
class HospitalBatchAdmin(_ReadOnlyWorkflowAdmin):
    list_display = ("number", "hospital", "period_start", "period_end", "received_on", "state", "declared_total",
                    "advance_due_on", "final_due_on", "page_link")
    list_select_related = ("hospital",)
    list_filter = ("state", "advance_provisional", "final_provisional", region_list_filter("region"))
    search_fields = ("=number", "=hospital__code")
    search_help_text = _("An exact batch number or hospital code.")

    @admin.display(description=_("batch page"))
    def page_link(self, batch):
        return _page_link("claims:batch_detail", batch.pk)
