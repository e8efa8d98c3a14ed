"""Staff accounts: roles (groups) and the regions each user works for. Managed by 系统管理员 and superusers only.

An administrator below the top manages only the accounts within reach (`scoping.reachable_users`: every region of
the account lies within the administrator's regions). Others' accounts are absent from the list and 404 on every
page (change, password, history, delete). Roles offered are the role table's; regions offered are the
administrator's own subtree; an administrator cannot change their own roles or regions (no self-promotion into a
business role), and only a superuser makes superusers.
"""

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group, User
from django.http import Http404
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from ..models import RegionMembership
from ..roles import ROLE_PERMISSIONS
from ..scoping import reachable_users, sees_everything, visible_regions
from .base import NotFoundMixin, StrictLookupsMixin


def user_is_within_reach(manager, account) -> bool:
    if account is None or account.pk is None or sees_everything(manager):
        return True
    return reachable_users(User.objects.filter(pk=account.pk), manager).exists()


class RegionMembershipFormSet(forms.BaseInlineFormSet):
    """A manager below the top must leave every account with at least one region: an account without one would
    fall out of their reach (and nobody's region scope would apply to it)."""

    def clean(self):
        super().clean()
        if getattr(self, "manager_sees_everything", True):
            return
        kept = [form for form in self.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("region")]
        if not kept:
            raise forms.ValidationError(_("Choose at least one region the user works for."), code="no_region")


class RegionMembershipInline(admin.TabularInline):
    model = RegionMembership
    formset = RegionMembershipFormSet
    fields = ("region",)
    extra = 1
    verbose_name = _("region worked for")
    verbose_name_plural = _("regions worked for")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("region")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.manager_sees_everything = sees_everything(request.user)
        return formset

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # An administrator hands out only regions within their own (a superuser: any).
        if db_field.name == "region":
            kwargs["queryset"] = visible_regions(request.user)
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        formfield.choices = [choice for choice in formfield.choices]  # noqa: C416 - once per page, no COUNT
        return formfield

    def _may_edit(self, request, obj):
        # Own regions are not self-service: widening them would widen what the administrator sees.
        return request.user.has_perm("auth.change_user") and not (
            obj is not None and obj.pk == request.user.pk and not request.user.is_superuser)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("auth.view_user")

    def has_add_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_edit(request, obj)


if admin.site.is_registered(User):
    admin.site.unregister(User)
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


class PasswordChangeForm(AdminPasswordChangeForm):
    """Django builds this help text by joining a translated sentence to an English one it never translates."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "usable_password" in self.fields:
            self.fields["usable_password"].help_text = format_html(
                '{}<ul id="id_unusable_warning" class="messagelist"><li class="warning">{}</li></ul>',
                gettext("Whether the user will be able to authenticate using a password or not. If disabled, they "
                        "may still be able to authenticate using other backends, such as Single Sign-On or LDAP."),
                gettext("If disabled, the current password for this user will be lost."))


@admin.register(User)
class StaffUserAdmin(StrictLookupsMixin, NotFoundMixin, DjangoUserAdmin):
    """Roles are groups kept in step with `enrollment.roles`; per-user permissions are not offered, so the role
    table stays the single statement of who may do what."""

    inlines = (RegionMembershipInline,)
    change_password_form = PasswordChangeForm
    list_display = ("username", "last_name", "first_name", "is_active", "is_staff", "roles", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "groups")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("last_name", "first_name", "email")}),
        (_("Roles"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )

    def get_queryset(self, request):
        return reachable_users(super().get_queryset(request), request.user).prefetch_related("groups")

    def get_readonly_fields(self, request, obj=None):
        readonly = ["last_login", "date_joined"]
        if not request.user.is_superuser:
            readonly.append("is_superuser")  # nobody grants more than they have
            if obj is not None and obj.pk == request.user.pk:
                readonly.append("groups")  # no self-promotion into a business role
        return readonly

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            # The roles of the table only; a group a superuser made by hand may carry anything.
            kwargs["queryset"] = Group.objects.filter(name__in=list(ROLE_PERMISSIONS))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def user_change_password(self, request, id, form_url=""):
        # Django's page answers 404 only for a missing account; one out of reach must look the same.
        if not str(id).isdigit() or not self.get_queryset(request).filter(pk=int(id)).exists():
            raise Http404
        return super().user_change_password(request, id, form_url)

    @admin.display(description=_("roles"))
    def roles(self, user):
        return "、".join(group.name for group in user.groups.all())

    # The permissions come from the role table (系统管理员: view, add, change — no delete: accounts are deactivated,
    # so their history and their records' authorship stay readable); the reach limits which accounts.
    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and user_is_within_reach(request.user, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and user_is_within_reach(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and user_is_within_reach(request.user, obj)


# Django's own words for the four model permissions (its catalogue: 增加 / 修改 / 删除 / 查看).
_MODEL_ACTIONS = {"add": pgettext_lazy("permission", "Add"), "change": pgettext_lazy("permission", "Change"),
                  "delete": pgettext_lazy("permission", "Delete"), "view": pgettext_lazy("permission", "View")}


def permission_label(permission) -> str:
    """A permission as a Chinese reader reads it ("参保台账 | 查看人员"). Django stores the names in English when it
    creates them ("Can view person"); the model permissions are named from the model's Chinese name, the project's
    own permissions through the catalogue (their names are marked for translation in the models' Meta)."""
    content_type = permission.content_type
    model = content_type.model_class()
    action, _sep, model_name = permission.codename.partition("_")
    if model is not None and action in _MODEL_ACTIONS and model_name == model._meta.model_name:
        name = f"{_MODEL_ACTIONS[action]}{model._meta.verbose_name}"
    else:
        name = gettext(permission.name)
    try:
        app = apps.get_app_config(content_type.app_label).verbose_name
    except LookupError:  # the content type of an app no longer installed
        app = content_type.app_label
    return f"{app} | {name}"


@admin.register(Group)
class RoleGroupAdmin(DjangoGroupAdmin):
    """Roles are the role table (`enrollment.roles`, synced after every migrate); editing a group here would be
    undone by the next sync, so groups are read-only for everyone but a superuser. Permissions read in Chinese."""

    readonly_fields = ("permission_list",)

    def get_fields(self, request, obj=None):
        return ["name", "permissions"] if self.has_change_permission(request, obj) else ["name", "permission_list"]

    @admin.display(description=_("permissions"))
    def permission_list(self, group):
        permissions = group.permissions.select_related("content_type").order_by("content_type__app_label", "codename")
        return format_html_join(mark_safe("<br>"), "{}", ((permission_label(p),) for p in permissions))

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "permissions":
            field.label_from_instance = permission_label
        return field

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


__all__ = ["RoleGroupAdmin", "StaffUserAdmin", "user_is_within_reach"]
