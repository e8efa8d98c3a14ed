from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

region_code_validator = RegexValidator(r"^\d{6}$", _("A region code is six digits."))


class RegionLevel(models.TextChoices):
    PROVINCE = "province", _("Province")
    PREFECTURE = "prefecture", _("Prefecture")
    COUNTY = "county", _("County")


class Region(models.Model):
    """A pooling region (统筹区 / 区县) identified by its 6-digit administrative code.

    `path` materialises the ancestry ("/520000/522700/522732/") so "this region and everything under it" is a
    single indexed prefix match instead of a recursive query.
    """

    region_scope = ""
    region_scope_reads_ancestors = True

    code = models.CharField(_("code"), max_length=6, unique=True, validators=[region_code_validator])
    name = models.CharField(_("name"), max_length=64)
    level = models.CharField(_("level"), max_length=16, choices=RegionLevel.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent region"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="children",
    )
    path = models.CharField(_("path"), max_length=64, editable=False)
    cost_share_class = models.PositiveSmallIntegerField(
        _("cost-sharing class"), null=True, blank=True,
        help_text=_("County class for splitting subsidies between province, prefecture and county (Qiannan)."),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["code"]
        indexes = [models.Index(fields=["path"], name="region_path_prefix", opclasses=["varchar_pattern_ops"])]

    def __str__(self):
        return f"{self.name}（{self.code}）"

    def compute_path(self) -> str:
        prefix = self.parent.path if self.parent_id else "/"
        return f"{prefix}{self.code}/"

    def save(self, *args, **kwargs):
        old_path = None
        if self.pk:
            old_path = Region.objects.filter(pk=self.pk).values_list("path", flat=True).first()
        self.path = self.compute_path()
        super().save(*args, **kwargs)
        if old_path and old_path != self.path:
            # Re-parenting moves the whole subtree; rewrite descendants' paths in one statement.
            from django.db.models import F, Value
            from django.db.models.functions import Concat, Substr

            Region.objects.filter(path__startswith=old_path).exclude(pk=self.pk).update(
                path=Concat(Value(self.path), Substr(F("path"), len(old_path) + 1))
            )

    def ancestors_and_self(self) -> list["Region"]:
        codes = [c for c in self.path.strip("/").split("/") if c]
        by_code = {r.code: r for r in Region.objects.filter(code__in=codes)}
        return [by_code[c] for c in codes if c in by_code]


class RegionYear(models.Model):
    """Yearly statistics of a region: disposable income and the individual contribution standard."""

    region_scope = "region"
    region_scope_reads_ancestors = True

    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.CASCADE, related_name="years")
    year = models.PositiveSmallIntegerField(_("year"))
    income_urban = models.DecimalField(
        _("per-capita disposable income, urban"), max_digits=14, decimal_places=2, null=True, blank=True)
    income_rural = models.DecimalField(
        _("per-capita disposable income, rural"), max_digits=14, decimal_places=2, null=True, blank=True)
    income_all = models.DecimalField(
        _("per-capita disposable income, all residents"), max_digits=14, decimal_places=2, null=True, blank=True)
    contribution_tier1 = models.DecimalField(
        _("individual contribution, tier 1"), max_digits=14, decimal_places=2, null=True, blank=True,
        help_text=_("Individual contribution standard of the resident scheme (tier 1) for this plan year."))
    contribution_tier2 = models.DecimalField(
        _("individual contribution, tier 2"), max_digits=14, decimal_places=2, null=True, blank=True)
    source = models.CharField(_("source"), max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("regional yearly statistics")
        verbose_name_plural = _("regional yearly statistics")
        constraints = [models.UniqueConstraint(fields=["region", "year"], name="regionyear_unique")]
        ordering = ["region__code", "-year"]

    def __str__(self):
        return f"{self.region.name} {self.year}"


class RegionMembership(models.Model):
    """Which regions a staff user works for; they see those regions and everything under them."""

    region_scope = "region"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="region_memberships")
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.CASCADE, related_name="+")
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("region membership")
        verbose_name_plural = _("region memberships")
        constraints = [models.UniqueConstraint(fields=["user", "region"], name="regionmembership_unique")]

    def __str__(self):
        return f"{self.user} → {self.region}"
