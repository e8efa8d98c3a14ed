"""Identity categories (身份类别) and the identities people hold over time (身份/属性)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from simple_history.admin import SimpleHistoryAdmin

from ..exports import IdentityExportResource
from ..models import Identity, IdentityCategory
from .base import (
    EstimatedCountPaginator,
    ImportLinkMixin,
    PersonRowAdminMixin,
    ProvinceWritesMixin,
    RegionScopedAdminMixin,
    SafeExportMixin,
    StrictLookupsMixin,
    ValidTodayFilter,
    region_list_filter,
)


@admin.register(IdentityCategory)
class IdentityCategoryAdmin(ProvinceWritesMixin, StrictLookupsMixin, SimpleHistoryAdmin):
    list_display = ("code", "name", "certified_by", "is_monitored", "sort_order")
    list_filter = ("certified_by", "is_monitored")
    search_fields = ("code", "name")
    ordering = ("sort_order", "code")


@admin.register(Identity)
class IdentityAdmin(PersonRowAdminMixin, RegionScopedAdminMixin, ImportLinkMixin, SafeExportMixin, ExportMixin,
                    SimpleHistoryAdmin):
    resource_classes = [IdentityExportResource]
    export_file_title = "身份认定"
    import_kind = "identities"
    list_display = ("person_name", "id_number_display", "category", "valid_from", "valid_to", "certified_by",
                    "source_batch", "region")
    list_select_related = ("person__region", "category")
    list_filter = ("category", "certified_by", ValidTodayFilter, region_list_filter("person__region"))
    search_fields = ("person__name",)
    search_help_text = _("A person's exact ID number (18 or 15 digits), or the beginning of their name.")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    autocomplete_fields = ("person",)
    fields = ("person", "category", "valid_from", "valid_to", "certified_by", "source_document", "source_batch")

    @admin.display(description=_("region"))
    def region(self, identity):
        return identity.person.region

