"""Admin pages of monitoring: run records (read-only), items (a read-only list linking to the item page where
the handling happens), and the monitoring thresholds of policy versions."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from enrollment.admin.base import RegionScopedAdminMixin, RegionScopedInlineMixin, region_list_filter

from .models import MonitoringPolicy, NightRun, RunList, RunPart, WarningItem


class _ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RunPartInline(_ReadOnly, RegionScopedInlineMixin, admin.TabularInline):
    model = RunPart
    fields = ("region", "kind", "status", "policy", "new_count", "unchanged_count", "closed_count", "attempts",
              "error", "finished_at")
    readonly_fields = fields
    extra = 0


class RunListInline(_ReadOnly, admin.TabularInline):
    """Each list computed once for the run's region: how many candidates it found and how long it took."""

    model = RunList
    fields = ("kind", "status", "candidates", "seconds", "attempts", "error", "finished_at")
    readonly_fields = fields
    extra = 0


@admin.register(NightRun)
class NightRunAdmin(_ReadOnly, RegionScopedAdminMixin, admin.ModelAdmin):
    list_display = ("data_date", "region", "status", "started_at", "finished_at", "new_total", "errors")
    list_filter = ("status",)
    list_select_related = ("region",)
    date_hierarchy = "data_date"
    inlines = [RunListInline, RunPartInline]
    readonly_fields = ("region", "data_date", "status", "started_at", "finished_at", "triggered_by")
    fields = readonly_fields

    def get_queryset(self, request):
        from django.db.models import Count, Q, Sum

        return super().get_queryset(request).annotate(
            new_total=Sum("parts__new_count"), error_count=Count("parts", filter=Q(parts__status="failed")))

    @admin.display(description=_("new items"))
    def new_total(self, obj):
        return obj.new_total or 0

    @admin.display(description=_("failed parts"))
    def errors(self, obj):
        return obj.error_count


@admin.register(WarningItem)
class WarningItemAdmin(_ReadOnly, RegionScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("pk", "kind", "reason", "region", "subject", "amount", "status", "assignee", "verify_due_on",
                    "cause_gone_on", "page_link")
    list_filter = ("kind", "status", "reason", region_list_filter("region"))
    list_select_related = ("region", "person", "household", "hospital", "assignee")
    show_full_result_count = False
    raw_id_fields = ("person", "household", "hospital", "case", "batch", "claim", "assignee", "handled_by")
    # The figures are shown with their Chinese names on the item's own page (page_link), not as raw JSON here.
    exclude = ("figures",)

    @admin.display(description=_("subject"))
    def subject(self, obj):
        if obj.person_id:
            return obj.person.name
        if obj.household_id:
            return obj.household.number
        if obj.hospital_id:
            return obj.hospital.name
        return obj.subject_key

    @admin.display(description=_("page"))
    def page_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("monitoring:item", args=[obj.pk]), gettext("Open"))


@admin.register(MonitoringPolicy)
class MonitoringPolicyAdmin(RegionScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("policy", "relapse_basis", "relapse_value", "poverty_basis", "poverty_value", "key_floor",
                    "other_floor", "verify_working_days")
    list_select_related = ("policy",)
    filter_horizontal = ("relapse_categories", "key_categories", "other_categories")
from . import admin_schedule  # noqa: E402,F401  (after the beat app registered its own)
