"""Designated hospitals (定点医疗机构) and the hospital users who look up eligibility."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from enrollment.admin.base import RegionScopedAdminMixin, RegionScopedInlineMixin, region_list_filter

from ..models import Hospital, HospitalStaff


class HospitalStaffInline(RegionScopedInlineMixin, admin.TabularInline):
    model = HospitalStaff
    fields = ("user",)
    # A raw id: the user list is not for clerks to browse, and an autocomplete would need view rights on users.
    raw_id_fields = ("user",)
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


@admin.register(Hospital)
class HospitalAdmin(RegionScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("code", "name", "level", "region", "in_region", "in_county", "networked")
    list_select_related = ("region",)
    list_filter = ("level", "in_region", "in_county", "networked",
                   region_list_filter("region", with_ancestors=True))
    # Exact code or the beginning of the name; also what the claim form's autocomplete searches.
    search_fields = ("=code", "^name")
    search_help_text = _("An exact hospital code, or the beginning of its name.")
    show_full_result_count = False
    ordering = ("code",)
    inlines = (HospitalStaffInline,)
    fieldsets = (
        (None, {"fields": ("code", "name", "level", "region")}),
        (_("Settlement"), {"fields": ("in_region", "in_county", "networked")}),
    )
