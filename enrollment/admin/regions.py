"""Regions (统筹区 / 区县) as a tree, and their yearly statistics."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from simple_history.admin import SimpleHistoryAdmin

from ..exports import RegionExportResource
from ..models import Region, RegionYear
from .base import ImportLinkMixin, RegionScopedAdminMixin, SafeExportMixin, region_list_filter


@admin.register(Region)
class RegionAdmin(RegionScopedAdminMixin, ImportLinkMixin, SafeExportMixin, ExportMixin, SimpleHistoryAdmin):
    resource_classes = [RegionExportResource]
    export_file_title = "行政区划"
    import_kind = "regions"
    import_permission = "enrollment.add_region"
    list_display = ("tree_name", "code", "level", "parent", "cost_share_class", "path")
    list_select_related = ("parent",)
    list_filter = ("level", "cost_share_class",
                   region_list_filter("", with_ancestors=True, title=_("within region")))
    search_fields = ("code", "name")
    search_help_text = _("The beginning of a region code, or part of its name.")
    ordering = ("path",)
    fields = ("code", "name", "level", "parent", "cost_share_class", "path")
    readonly_fields = ("path",)
    list_per_page = 200

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(code__startswith=term), False
        # A few thousand rows at most: a substring match on names is cheap here.
        return queryset.filter(name__contains=term), False

    @admin.display(description=_("name"), ordering="path")
    def tree_name(self, region):
        return "\u3000" * (region.path.count("/") - 2) + region.name


@admin.register(RegionYear)
class RegionYearAdmin(RegionScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("region", "year", "income_urban", "income_rural", "income_all", "contribution_tier1",
                    "contribution_tier2", "source")
    list_select_related = ("region",)
    list_filter = ("year", region_list_filter("region", with_ancestors=True))
    search_fields = ("region__code", "region__name")
    ordering = ("region__path", "-year")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(region__code__startswith=term), False
        return queryset.filter(region__name__contains=term), False
