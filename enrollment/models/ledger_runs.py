from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .regions import Region


class LedgerRunStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class LedgerRun(models.Model):
    """One build of a plan year's ledger for a region (生成参保台账), county by county, with its progress.

    Started from the admin (a Celery task), by ``manage.py build_ledger`` or after a roster or identity import; the
    counts say what it did. Runs are a log, not edited: history is the row itself.
    """

    region_scope = "region"

    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    plan_year = models.PositiveSmallIntegerField(_("plan year"))
    trigger = models.CharField(_("started by"), max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=LedgerRunStatus.choices,
                              default=LedgerRunStatus.PENDING)
    total_steps = models.PositiveIntegerField(_("counties"), default=0)
    done_steps = models.PositiveIntegerField(_("counties done"), default=0)
    created_rows = models.PositiveIntegerField(_("ledger rows created"), default=0)
    problems_found = models.PositiveIntegerField(_("problems found"), default=0)
    identities_ended = models.PositiveIntegerField(_("rows whose identity ended"), default=0)
    message = models.CharField(_("message"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("ledger build")
        verbose_name_plural = _("ledger builds")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.region.name} {self.plan_year}"

    @property
    def progress_percent(self) -> int:
        if self.status == LedgerRunStatus.DONE:
            return 100
        return int(100 * self.done_steps / self.total_steps) if self.total_steps else 0

    @property
    def finished(self) -> bool:
        return self.status in (LedgerRunStatus.DONE, LedgerRunStatus.FAILED)
