"""Login logs (django-axes: lockout counters, successful logins, failures), read-only and scoped to the accounts the
viewer manages (`scoping.reachable_users`).

django-axes' own admin lets anyone with the model's permission read every region's logs, delete them, and offers a
"clean up expired attempts" action that fails with a server error outside a login request (it reads
`request.axes_attempt_time`, which AxesMiddleware sets only while logging in) and would delete every region's
counters. Here the logs can be read, never changed or deleted below a superuser, and the one action — unlocking the
selected accounts — touches only accounts the administrator manages.
"""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from axes.utils import reset
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..scoping import reachable_usernames
from .base import NotFoundMixin


class LoginLogAdminMixin(NotFoundMixin):
    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        usernames = reachable_usernames(request.user)
        return queryset if usernames is None else queryset.filter(username__in=usernames)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


for model in (AccessAttempt, AccessLog, AccessFailureLog):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(AccessAttempt)
class ScopedAccessAttemptAdmin(LoginLogAdminMixin, AccessAttemptAdmin):
    actions = ("unlock_accounts",)

    def has_unlock_permission(self, request):
        return request.user.has_perm("auth.change_user")

    @admin.action(description=_("Unlock the selected accounts (解除锁定)"), permissions=["unlock"])
    def unlock_accounts(self, request, queryset):
        # The queryset is already limited to managed accounts (get_queryset); reset() clears their counters only.
        usernames = sorted(set(queryset.values_list("username", flat=True)) - {None, ""})
        cleared = sum(reset(username=username) for username in usernames)
        self.message_user(request, ngettext(
            "Unlocked %(count)d account (%(cleared)d lockout records cleared).",
            "Unlocked %(count)d accounts (%(cleared)d lockout records cleared).",
            len(usernames)) % {"count": len(usernames), "cleared": cleared}, messages.SUCCESS)


@admin.register(AccessLog)
class ScopedAccessLogAdmin(LoginLogAdminMixin, AccessLogAdmin):
    pass


@admin.register(AccessFailureLog)
class ScopedAccessFailureLogAdmin(LoginLogAdminMixin, AccessFailureLogAdmin):
    pass


__all__ = ["ScopedAccessAttemptAdmin", "ScopedAccessFailureLogAdmin", "ScopedAccessLogAdmin"]
