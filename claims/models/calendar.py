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
