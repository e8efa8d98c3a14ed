"""Identity categories (身份类别) and the identities people hold over time (身份/属性)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from simple_history.admin import SimpleHistoryAdmin

from ..exports import IdentityExportResource
from ..idnumbers import mask_id_number
from ..models import Identity, IdentityCategory
from .base import (
    EstimatedCountPaginator,
    ImportLinkMixin,
    RegionScopedAdminMixin,
    SafeExportMixin,
    ValidTodayFilter,
    id_number_column,
    person_search_q,
    region_list_filter,
    replace_id_column,
)


@admin.register(IdentityCategory)
class IdentityCategoryAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "certified_by", "is_monitored", "sort_order")
    list_filter = ("certified_by", "is_monitored")
    search_fields = ("code", "name")
    ordering = ("sort_order", "code")


@admin.register(Identity)
class IdentityAdmin(RegionScopedAdminMixin, ImportLinkMixin, SafeExportMixin, ExportMixin, SimpleHistoryAdmin):
    resource_classes = [IdentityExportResource]
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

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(person_search_q(search_term, prefix="person__")), False

    def get_list_display(self, request):
        return replace_id_column(super().get_list_display(request), id_number_column(request, "person__id_number"))

    @admin.display(description=_("name"), ordering="person__name")
    def person_name(self, identity):
        return identity.person.name

    @admin.display(description=_("ID number"), ordering="person__id_number")
    def id_number_display(self, identity):
        return mask_id_number(identity.person.id_number)  # replaced per request by get_list_display

    @admin.display(description=_("region"))
    def region(self, identity):
        return identity.person.region

