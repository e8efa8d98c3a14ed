from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from ..idnumbers import mask_id_number
from .regions import Region


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class Household(models.Model):
    """A household (家庭户) with its declared income and assets, each with the year and source of the figure."""

    region_scope = "region"

    number = models.CharField(_("household number"), max_length=32, unique=True)
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="households")
    township = models.CharField(_("township"), max_length=64, blank=True)
    village = models.CharField(_("village"), max_length=64, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    annual_income = models.DecimalField(
        _("household annual disposable income"), max_digits=14, decimal_places=2, null=True, blank=True)
    income_year = models.PositiveSmallIntegerField(_("income year"), null=True, blank=True)
    income_source = models.CharField(_("income source"), max_length=100, blank=True)
    assets_value = models.DecimalField(
        _("household assets"), max_digits=14, decimal_places=2, null=True, blank=True)
    assets_year = models.PositiveSmallIntegerField(_("assets year"), null=True, blank=True)
    assets_source = models.CharField(_("assets source"), max_length=100, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["number"]

    def __str__(self):
        return self.number


class Person(models.Model):
    """A person identified by an 18-digit resident ID number (居民身份证号码)."""

    region_scope = "region"

    id_number = models.CharField(_("ID number"), max_length=18, unique=True)
    id_converted_from = models.CharField(
        _("original 15-digit ID"), max_length=15, blank=True,
        help_text=_("Set when the number was converted from a first-generation 15-digit ID."))
    name = models.CharField(pgettext_lazy("person", "name"), max_length=64)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, editable=False)
    birth_date = models.DateField(_("birth date"), editable=False)
    household = models.ForeignKey(
        Household, verbose_name=_("household"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="members")
    relation_to_head = models.CharField(_("relation to head of household"), max_length=16, blank=True)
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="people")
    township = models.CharField(_("township"), max_length=64, blank=True)
    village = models.CharField(_("village"), max_length=64, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    bank_name = models.CharField(_("bank"), max_length=64, blank=True)
    bank_account = models.CharField(_("bank account"), max_length=32, blank=True)
    death_date = models.DateField(_("date of death"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["region_id", "id"]
        permissions = [("view_full_id_number", _("Can view full ID numbers"))]
        indexes = [
            models.Index(fields=["name"], name="person_name_prefix", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["region", "id"], name="person_region_id"),
        ]

    def __str__(self):
        return f"{self.name}（{self.masked_id_number}）"

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    def save(self, *args, **kwargs):
        from ..idnumbers import parse_id_number

        parsed = parse_id_number(self.id_number)
        self.id_number = parsed.number
        self.sex = parsed.sex
        self.birth_date = parsed.birth_date
        if parsed.converted_from:
            self.id_converted_from = parsed.converted_from
        super().save(*args, **kwargs)
