"""Who was shown full ID numbers: a read-only log, scoped like import jobs (a user's own rows and those of the
staff of their regions)."""

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q

from ..models import IdNumberAccess, RegionMembership
from ..scoping import sees_everything, visible_regions
from .base import NotFoundMixin, StrictLookupsMixin


@admin.register(IdNumberAccess)
class IdNumberAccessAdmin(StrictLookupsMixin, NotFoundMixin, admin.ModelAdmin):
    list_display = ("at", "user", "kind", "model", "object_id", "rows", "path")
    list_select_related = ("user",)
    list_filter = ("kind",)
    date_hierarchy = "at"
    fields = list_display
    readonly_fields = list_display
    show_full_result_count = False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        user = request.user
        if sees_everything(user):
            return queryset
        colleagues = RegionMembership.objects.filter(user_id=OuterRef("user_id"), region__in=visible_regions(user))
        return queryset.filter(Q(user_id=user.pk) | Exists(colleagues))

    def has_add_permission(self, request):
        return False  # written only by the code that shows the numbers

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
