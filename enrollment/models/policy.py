from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .choices import FundingSource
from .identities import IdentityCategory
from .regions import Region


class FullSubsidyBase(models.TextChoices):
    OWN_CONTRIBUTION = "own", _("The person's own scheme tier")
    TIER1_CONTRIBUTION = "tier1", _("The tier-1 contribution, whatever tier the person chose")


class PolicyVersion(models.Model):
    """A region's policy (政策版本) in force from `effective_from` to `effective_to` (inclusive).

    Rules are looked up in the version in force on the date of service; for enrolment, in the version that
    covers the plan year. Sub-regions inherit the nearest ancestor's version.
    """

    region_scope = "region"
    region_scope_reads_ancestors = True

    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="policies")
    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    document = models.CharField(_("policy document"), max_length=200, blank=True)
    effective_from = models.DateField(_("effective from"))
    effective_to = models.DateField(_("effective to"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # Intake (参保) rules
    intake_cutoff_month = models.PositiveSmallIntegerField(_("intake cut-off month"), default=8)
    intake_cutoff_day = models.PositiveSmallIntegerField(_("intake cut-off day"), default=31)
    green_channel_categories = models.ManyToManyField(
        IdentityCategory, verbose_name=_("mid-year green-channel categories"), blank=True, related_name="+",
        help_text=_("People of these categories may enrol mid-year, covered from the day of registration."))
    newborn_window_months = models.PositiveSmallIntegerField(
        _("newborn window (months)"), default=0,
        help_text=_("Newborns enrolled within this many months of birth are covered from birth; 0 = no rule."))
    full_subsidy_base = models.CharField(
        _("base of a full subsidy"), max_length=8, choices=FullSubsidyBase.choices,
        default=FullSubsidyBase.OWN_CONTRIBUTION)
    top_up_on_identity_change = models.BooleanField(
        _("top up after an identity change"), default=False,
        help_text=_("Off: a subsidy granted stays as it is when the person's identity later changes."))
    source_file = models.CharField(_("loaded from"), max_length=200, blank=True, editable=False)
    history = HistoricalRecords(m2m_fields=[green_channel_categories])

    class Meta:
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")
        ordering = ["region__code", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=models.F("effective_from")),
                name="policy_period_ordered",
                violation_error_message=_("A policy version cannot end before it starts."),
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if not (1 <= self.intake_cutoff_month <= 12 and 1 <= self.intake_cutoff_day <= 31):
            raise ValidationError(_("The intake cut-off is not a valid month and day."))
        overlapping = PolicyVersion.objects.filter(region_id=self.region_id).exclude(pk=self.pk)
        if self.effective_to:
            overlapping = overlapping.filter(effective_from__lte=self.effective_to)
        overlapping = overlapping.filter(Q(effective_to__isnull=True) | Q(effective_to__gte=self.effective_from))
        if overlapping.exists():
            raise ValidationError(_("Another policy version of this region is in force in the same period."))


class SubsidyKind(models.TextChoices):
    # xgettext:no-python-format
    FULL = "full", _("Full (100 % of the individual contribution)")
    PERCENT = "percent", _("Percent of the tier-1 individual contribution")
    FIXED = "fixed", _("Fixed amount")
    NONE = "none", _("None")


class SubsidyRule(models.Model):
    """Contribution subsidy (资助参保) for one category, in a policy version, optionally for one plan year only."""

    region_scope = "policy__region"
    region_scope_reads_ancestors = True

    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.CASCADE, related_name="subsidy_rules")
    category = models.ForeignKey(
        IdentityCategory, verbose_name=_("category"), on_delete=models.PROTECT, related_name="+")
    plan_year = models.PositiveSmallIntegerField(
        _("plan year"), null=True, blank=True, help_text=_("Empty: every plan year the version covers."))
    kind = models.CharField(_("kind"), max_length=8, choices=SubsidyKind.choices)
    value = models.DecimalField(
        _("value"), max_digits=14, decimal_places=2, null=True, blank=True,
        help_text=_("Percent (e.g. 90) for a percent rule, yuan for a fixed rule."))
    funding_source = models.CharField(
        _("funding source"), max_length=32, choices=FundingSource.choices, default=FundingSource.MEDICAL_ASSISTANCE)
    cost_shared = models.BooleanField(
        _("shared by government levels"), default=False,
        help_text=_("Split between province, prefecture and county by the county's cost-sharing class."))
    note = models.CharField(_("note"), max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("subsidy rule")
        verbose_name_plural = _("subsidy rules")
        ordering = ["policy_id", "category__sort_order", "plan_year"]
        constraints = [
            # Two partial constraints instead of NULLS NOT DISTINCT, which SQLite lacks.
            models.UniqueConstraint(
                fields=["policy", "category", "plan_year"], condition=Q(plan_year__isnull=False),
                name="subsidyrule_unique_year",
                violation_error_message=_("This category already has a rule for that plan year."),
            ),
            models.UniqueConstraint(
                fields=["policy", "category"], condition=Q(plan_year__isnull=True),
                name="subsidyrule_unique_all_years",
                violation_error_message=_("This category already has a rule for every plan year."),
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["full", "none"]) | Q(value__isnull=False, value__gte=0),
                name="subsidyrule_value_required",
                violation_error_message=_("A percent or fixed subsidy needs a value."),
            ),
            models.CheckConstraint(
                condition=~Q(kind="percent") | Q(value__lte=100),
                name="subsidyrule_percent_le_100",
                violation_error_message=_("A percentage cannot exceed 100."),
            ),
        ]

    def __str__(self):
        return f"{self.category} {self.plan_year or ''} {self.get_kind_display()}"


class CostShareRule(models.Model):
    """How a cost-shared subsidy is split for counties of one class (Qiannan: 1 → province; 2 → 5:2:3; 3 → county)."""

    region_scope = "policy__region"
    region_scope_reads_ancestors = True

    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.CASCADE, related_name="cost_share_rules")
    county_class = models.PositiveSmallIntegerField(_("county class"))
    province_share = models.DecimalField(_("province share"), max_digits=6, decimal_places=2)
    prefecture_share = models.DecimalField(_("prefecture share"), max_digits=6, decimal_places=2)
    county_share = models.DecimalField(_("county share"), max_digits=6, decimal_places=2)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("cost-sharing rule")
        verbose_name_plural = _("cost-sharing rules")
        constraints = [
            models.UniqueConstraint(fields=["policy", "county_class"], name="costshare_unique"),
            models.CheckConstraint(
                condition=Q(province_share__gte=0, prefecture_share__gte=0, county_share__gte=0),
                name="costshare_nonnegative"),
        ]

    def __str__(self):
        return _("%(policy)s, county class %(n)s") % {"policy": self.policy, "n": self.county_class}
