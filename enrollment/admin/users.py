"""Staff accounts: roles (groups) and the regions each user works for. Managed by 系统管理员 and superusers only."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _

from ..models import RegionMembership
from ..roles import ADMIN
from ..scoping import visible_regions
from .base import StrictLookupsMixin

_MANAGER_CACHE = "_admin_manages_users"


def manages_users(user) -> bool:
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, _MANAGER_CACHE, None)
    if cached is None:
        cached = user.groups.filter(name=ADMIN).exists()
        setattr(user, _MANAGER_CACHE, cached)
    return cached


class RegionMembershipInline(admin.TabularInline):
    model = RegionMembership
    fields = ("region",)
    extra = 1
    verbose_name = _("region worked for")
    verbose_name_plural = _("regions worked for")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("region")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # An administrator hands out only regions within their own (a superuser: any).
        if db_field.name == "region":
            kwargs["queryset"] = visible_regions(request.user)
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        formfield.choices = [choice for choice in formfield.choices]  # noqa: C416 - once per page, no COUNT
        return formfield


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(StrictLookupsMixin, DjangoUserAdmin):
    """Roles are groups kept in step with `enrollment.roles`; per-user permissions are not offered, so the role
    table stays the single statement of who may do what."""

    inlines = (RegionMembershipInline,)
    list_display = ("username", "last_name", "first_name", "is_active", "is_staff", "roles", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "groups")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("last_name", "first_name", "email")}),
        (_("Roles"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def get_readonly_fields(self, request, obj=None):
        readonly = ["last_login", "date_joined"]
        if not request.user.is_superuser:
            readonly.append("is_superuser")  # nobody grants more than they have
        return readonly

    @admin.display(description=_("roles"))
    def roles(self, user):
        return "、".join(group.name for group in user.groups.all())

    def has_module_permission(self, request):
        return manages_users(request.user)

    def has_view_permission(self, request, obj=None):
        return manages_users(request.user)

    def has_add_permission(self, request):
        return manages_users(request.user)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return manages_users(request.user)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return manages_users(request.user)
