"""Manual reimbursements (零星报销) and hospital advance-payment batches (垫付资金申报): read-only lists.

Their work happens on the queue and case pages (`claims:case_detail`, `claims:batch_detail`), where the review
services guard every transition (four eyes, SLA clocks); the admin lists and links, it does not edit.
"""

import dataclasses

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from enrollment.admin.base import (
    EstimatedCountPaginator,
    RegionScopedAdminMixin,
    can_see_full_id,
    id_number_column,
    region_list_filter,
    replace_id_column,
)
from enrollment.idnumbers import mask_bank_account
from enrollment.percent import format_percent

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

    masked_fields: dict[str, str] = {}  # model field → the admin method that shows it (masked, or as a percent)

    def get_fields(self, request, obj=None):
        return [self.masked_fields.get(f.name, f.name) for f in self.model._meta.fields if f.name != "id"] + [
            "page_link"]

    def get_historical_record_context_helper(self, request, historical_record):
        if not self.masked_fields or can_see_full_id(request):
            return super().get_historical_record_context_helper(request, historical_record)
        return MaskedAccountHistoryHelper(self.model, historical_record)

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)


class MaskedAccountHistoryHelper(HistoricalRecordContextHelper):
    """History diffs of a case show the payee's account masked, like the page itself."""

    def format_delta_change(self, change):
        if change.field == "payee_account":
            change = dataclasses.replace(change, old=mask_bank_account(change.old or ""),
                                         new=mask_bank_account(change.new or ""))
        return super().format_delta_change(change)


@admin.register(ReimbursementCase)
class ReimbursementCaseAdmin(ClaimSearchMixin, _ReadOnlyWorkflowAdmin):
    # Masked for everybody on this read-only page; the case's own page (/claims/cases/<id>/) shows it whole to
    # users who may see full numbers, and records that they did.
    masked_fields = {"payee_account": "masked_payee_account"}

    @admin.display(description=_("payee account"))
    def masked_payee_account(self, case):
        return mask_bank_account(case.payee_account) or "-"

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
    masked_fields = {"advance_ratio": "advance_percent"}  # shown as people read rates (70 %), not 0.7000
    list_display = ("number", "hospital", "period_start", "period_end", "received_on", "state", "declared_total",
                    "advance_due_on", "final_due_on", "page_link")
    list_select_related = ("hospital",)
    list_filter = ("state", "advance_provisional", "final_provisional", region_list_filter("region"))
    search_fields = ("=number", "=hospital__code")
    search_help_text = _("An exact batch number or hospital code.")

    @admin.display(description=_("batch page"))
    def page_link(self, batch):
        return _page_link("claims:batch_detail", batch.pk)

    @admin.display(description=HospitalBatch._meta.get_field("advance_ratio").verbose_name)
    def advance_percent(self, batch):
        return format_percent(batch.advance_ratio)
