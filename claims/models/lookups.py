"""The record of every eligibility look-up (资格确认记录): who asked, when, for which ID number, and the answer.

Append-only like a history table: a row is written once by the look-up and never changed or deleted, by the
admin, a service or a queryset (the bureau reads it to see who asked about whom).
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext_lazy as _

from enrollment.models import Region

from .hospitals import Hospital


class LookupOutcome(models.TextChoices):
    INSURED = "insured", _("Insured on the date")
    NOT_INSURED = "not_insured", _("On file, not insured on the date")
    NOT_FOUND = "not_found", _("Not on file")
    INVALID = "invalid", _("Invalid ID number")


class _AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionDenied(_("Eligibility look-up records cannot be changed."))

    def delete(self):
        raise PermissionDenied(_("Eligibility look-up records cannot be deleted."))


class EligibilityLookup(models.Model):
    region_scope = "region"
    hospital_scope = "hospital"

    at = models.DateTimeField(_("looked up at"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT,
                             related_name="+")
    hospital = models.ForeignKey(Hospital, verbose_name=_("hospital"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    # The hospital's region for a hospital user, the person's region for bureau staff: whose office may read it.
    region = models.ForeignKey(Region, verbose_name=_("region"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    id_number = models.CharField(_("ID number"), max_length=24)
    on_date = models.DateField(_("date of admission"), null=True, blank=True)
    outcome = models.CharField(_("result"), max_length=12, choices=LookupOutcome.choices)
    categories = models.CharField(_("categories"), max_length=200, blank=True)
    no_deposit = models.BooleanField(_("admission without a deposit"), null=True, blank=True)

    objects = _AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("eligibility look-up record")
        verbose_name_plural = _("eligibility look-up records")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["id_number", "at"], name="lookup_id_number_at"),
                   models.Index(fields=["user", "at"], name="lookup_user_at")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.user}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionDenied(_("Eligibility look-up records cannot be changed."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied(_("Eligibility look-up records cannot be deleted."))
