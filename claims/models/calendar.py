from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Statutory holiday")
    MAKEUP_WORKDAY = "makeup_workday", _("Make-up working day (调休上班)")


class CalendarYear(models.Model):
    """A year whose State Council holiday schedule has been loaded; other years count Monday–Friday, provisionally."""

    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    source = models.CharField(_("source"), max_length=200, blank=True)
    loaded_at = models.DateTimeField(_("loaded at"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years")
        ordering = ["-year"]

    def __str__(self):
        return str(self.year)


class CalendarDay(models.Model):
    """A holiday or a make-up working day; every other day follows Monday–Friday."""

    day = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=40, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["day"]

    def __str__(self):
        return f"{self.day} {self.get_kind_display()} {self.name}"


class RecomputeStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class DeadlineRecompute(models.Model):
    """One recomputation of the open deadlines after the calendar changed (工作日历变更后重算期限), run by a Celery
    task; its page follows the progress."""

    trigger = models.CharField(_("trigger"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=RecomputeStatus.choices,
                              default=RecomputeStatus.PENDING)
    total = models.PositiveIntegerField(_("open cases and batches"), default=0)
    processed = models.PositiveIntegerField(_("checked"), default=0)
    cases_changed = models.PositiveIntegerField(_("case deadlines changed"), default=0)
    batches_changed = models.PositiveIntegerField(_("batch deadlines changed"), default=0)
    message = models.TextField(_("message"), blank=True)

    class Meta:
        verbose_name = _("deadline recomputation")
        verbose_name_plural = _("deadline recomputations")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.get_status_display()}"

    @property
    def finished(self) -> bool:
        return self.status in (RecomputeStatus.DONE, RecomputeStatus.FAILED)

    @property
    def progress_percent(self) -> int:
        if not self.total:
            return 100 if self.finished else 0
        return min(100, round(100 * self.processed / self.total))
