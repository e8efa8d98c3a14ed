from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AccessKind(models.TextChoices):
    LIST = "list", _("List")
    DETAIL = "detail", _("Record page")
    HISTORY = "history", _("History")
    EXPORT = "export", _("Export")
    PAGE = "page", _("Other page (slip, eligibility)")


class IdNumberAccess(models.Model):
    """One request in which a user was shown (or exported) full ID numbers or bank accounts.

    Written by the code that decides to show them unmasked (enrollment.access_log), never edited afterwards.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT,
                             related_name="+")
    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    kind = models.CharField(_("kind"), max_length=16, choices=AccessKind.choices)
    model = models.CharField(_("records of"), max_length=64, blank=True)
    object_id = models.CharField(_("record"), max_length=64, blank=True)
    rows = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    path = models.CharField(_("page address"), max_length=500)

    class Meta:
        verbose_name = _("full ID number access")
        verbose_name_plural = _("full ID number accesses")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "at"], name="idaccess_user_at")]

    def __str__(self):
        return f"{self.user} {self.get_kind_display()} {self.at:%Y-%m-%d %H:%M}"
