from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .choices import Department
from .people import Person


class IdentityCategory(models.Model):
    """A category of person the policies treat specially (身份/属性), e.g. 特困人员 or 低保对象."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=64)
    certified_by = models.CharField(_("certifying department"), max_length=32, choices=Department.choices)
    is_monitored = models.BooleanField(
        _("monitored (监测对象)"), default=False,
        help_text=_("Monitoring targets of rural revitalization: unstable lifted, edge-vulnerable, sudden hardship."))
    sort_order = models.PositiveSmallIntegerField(_("sort order"), default=0)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("identity category")
        verbose_name_plural = _("identity categories")
        ordering = ["sort_order", "code"]

    def __str__(self):
        return self.name


class Identity(models.Model):
    """A category held by a person for a validity period, certified by a department (with the source batch)."""

    region_scope = "person__region"

    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.CASCADE, related_name="identities")
    category = models.ForeignKey(
        IdentityCategory, verbose_name=_("category"), on_delete=models.PROTECT, related_name="identities")
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True, help_text=_("Empty while still valid."))
    certified_by = models.CharField(_("certifying department"), max_length=32, choices=Department.choices)
    source_document = models.CharField(_("source document"), max_length=200, blank=True)
    source_batch = models.CharField(_("source batch"), max_length=64, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        ordering = ["person_id", "valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="identity_period_ordered",
                violation_error_message=_("An identity cannot end before it starts."),
            ),
            models.UniqueConstraint(
                fields=["person", "category", "valid_from"], name="identity_unique_start",
                violation_error_message=_("This person already holds this category from that date."),
            ),
        ]
        indexes = [
            models.Index(fields=["category", "valid_from"], name="identity_category_from"),
            # "People holding category X (valid on D)": the category filter of the person list probes this per
            # person and answers from the index alone.
            models.Index(fields=["category", "person", "valid_from", "valid_to"], name="identity_category_person"),
        ]

    def __str__(self):
        return f"{self.person_id} {self.category} {self.valid_from}–{self.valid_to or ''}"

    def is_valid_on(self, day) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def valid_on(day, prefix: str = "") -> Q:
    """Q for identities valid on `day`; `prefix` lets callers filter through a relation (e.g. "identities__")."""
    return Q(**{f"{prefix}valid_from__lte": day}) & (
        Q(**{f"{prefix}valid_to__isnull": True}) | Q(**{f"{prefix}valid_to__gte": day}))
