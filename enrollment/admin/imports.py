"""Import jobs: a read-only list; each links to its result page (row errors, counts)."""

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..models import ImportJob, RegionMembership
from ..scoping import sees_everything, visible_regions
from .base import NotFoundMixin, StrictLookupsMixin


@admin.register(ImportJob)
class ImportJobAdmin(StrictLookupsMixin, NotFoundMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "original_name", "created_by", "status", "progress", "created_count",
                    "updated_count", "rejected_count", "result_link")
    list_select_related = ("created_by",)
    list_filter = ("kind", "status")
    date_hierarchy = "created_at"
    # The error list can quote rows of the file (names, ID numbers): it is shown on the result page only.
    fields = ("kind", "original_name", "created_by", "created_at", "finished_at", "status", "total_rows",
              "processed_rows", "created_count", "updated_count", "rejected_count", "result_link")
    readonly_fields = fields

    def get_queryset(self, request):
        """A job has no region of its own: a user sees their own jobs and those of the staff of their regions."""
        queryset = super().get_queryset(request)
        user = request.user
        if sees_everything(user):
            return queryset
        colleagues = RegionMembership.objects.filter(
            user_id=OuterRef("created_by_id"), region__in=visible_regions(user))
        return queryset.filter(Q(created_by_id=user.pk) | Exists(colleagues))

    def has_add_permission(self, request):
        return False  # jobs start from the import pages

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("progress"))
    def progress(self, job):
        return f"{job.progress_percent} %"

    @admin.display(description=_("result"))
    def result_link(self, job):
        try:
            url = reverse("enrollment:import-result", args=[job.pk])
        except NoReverseMatch:
            return "-"
        return format_html('<a href="{}">{}</a>', url, _("View result"))
