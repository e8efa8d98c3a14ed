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
from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

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

# What axes leaves in English whatever the language (its texts are translated through enrollment/axes_messages.py):
# the app's name in the menu ("Axes", AppConfig's default) and the records' names in titles and breadcrumbs
# ("Access Log for …", f-strings in axes/models.py).
apps.get_app_config("axes").verbose_name = _("Login logs")


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


AccessAttempt.__str__ = lambda self: gettext("Login attempts of %(user)s since %(time)s") % {
    "user": self.username, "time": _when(self.attempt_time)}
AccessLog.__str__ = lambda self: gettext("Login of %(user)s at %(time)s") % {
    "user": self.username, "time": _when(self.attempt_time)}
AccessFailureLog.__str__ = lambda self: gettext("Failed login of %(user)s at %(time)s") % {
    "user": self.username, "time": _when(self.attempt_time)}


@admin.register(AccessAttempt)
class ScopedAccessAttemptAdmin(LoginLogAdminMixin, AccessAttemptAdmin):
    actions = ("unlock_accounts",)

    def has_unlock_permission(self, request):
        return request.user.has_perm("auth.change_user")

    # axes' own columns, with headers (axes gives none, so Django would print the method names in English).
    @admin.display(description=_("lockout expires"))
    def expiration(self, obj):
        return super().expiration(obj)

    @admin.display(description=_("status"))
    def status(self, obj):
        left = settings.AXES_FAILURE_LIMIT - obj.failures_since_start
        if left > 0:
            return ngettext("%(count)d attempt left", "%(count)d attempts left", left) % {"count": left}
        return gettext("Locked Out")

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
