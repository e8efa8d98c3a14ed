"""Designated hospitals (定点医疗机构) and the hospital users who look up eligibility."""

from django.contrib import admin
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from enrollment.admin.base import (
    EstimatedCountPaginator,
    RegionScopedAdminMixin,
    RegionScopedInlineMixin,
    id_number_column,
    region_list_filter,
    replace_id_column,
)
from enrollment.admin.users import StaffUserAdmin
from enrollment.scoping import scope_queryset

from ..models import EligibilityLookup, Hospital, HospitalStaff


class HospitalStaffInline(RegionScopedInlineMixin, admin.TabularInline):
    """The hospital's users, read-only: a user is linked to a hospital on the user's own page."""

    model = HospitalStaff
    fields = ("user",)
    readonly_fields = ("user",)
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


class HospitalLinkInline(admin.StackedInline):
    """On a user's page: the hospital a hospital user works for, chosen by name or code (autocomplete)."""

    model = HospitalStaff
    fields = ("hospital",)
    autocomplete_fields = ("hospital",)
    extra = 0
    max_num = 1
    verbose_name = _("hospital worked for (hospital users only)")
    verbose_name_plural = _("hospital worked for (hospital users only)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("hospital")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # An administrator links users only to hospitals of their own regions (a forged id is refused on save).
        if db_field.name == "hospital":
            kwargs["queryset"] = scope_queryset(Hospital.objects.all(), request.user, for_change=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # The user page decides who may edit users; the link is part of that page.
    def has_view_permission(self, request, obj=None):
        return True

    def has_add_permission(self, request, obj=None):
        return True

    def has_change_permission(self, request, obj=None):
        return True

    def has_delete_permission(self, request, obj=None):
        return True


class UserWithHospitalAdmin(StaffUserAdmin):
    """Enrollment owns the user page and may not import claims; claims adds the hospital link to it. The link is
    offered once the account exists (the add page stays username and password only)."""

    def get_inlines(self, request, obj):
        inlines = super().get_inlines(request, obj)
        return (*inlines, HospitalLinkInline) if obj is not None else inlines


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, UserWithHospitalAdmin)


@admin.register(EligibilityLookup)
class EligibilityLookupAdmin(RegionScopedAdminMixin, admin.ModelAdmin):
    """Who looked up whom: read-only for the bureau, never changed or deleted."""

    list_display = ("at", "user", "hospital", "id_number_display", "on_date", "outcome", "categories", "no_deposit")
    list_select_related = ("user", "hospital")
    list_filter = ("outcome", region_list_filter("region"))
    date_hierarchy = "at"
    search_fields = ("=id_number", "=user__username", "=hospital__code")
    search_help_text = _("An exact ID number, user name or hospital code.")
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_list_display(self, request):
        return replace_id_column(super().get_list_display(request), id_number_column(request))

    @admin.display(description=_("ID number"))
    def id_number_display(self, record):
        return record.id_number  # replaced per request by get_list_display

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
