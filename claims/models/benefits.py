"""Benefit rules of a policy version: the three layers (基本医保, 大病保险, 医疗救助), out-of-catalog control,
special-treatment diseases and SLA days. All of it is policy data, loaded from the policy file's `benefits:`
section and edited in the admin; none of these numbers appear in rule code.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from enrollment.models import IdentityCategory, PolicyVersion
from enrollment.models.choices import FundingSource, Scheme
from enrollment.percent import format_percent

from .choices import DeductibleBasis, HospitalLevel, Layer, VisitType

MONEY = {"max_digits": 14, "decimal_places": 2}
RATIO = {"max_digits": 5, "decimal_places": 4}


class BenefitPolicy(models.Model):
    """Per-version scalars of the benefit rules."""

    region_scope = "policy__region"
    region_scope_reads_ancestors = True

    policy = models.OneToOneField(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.CASCADE, related_name="benefits")
    basic_annual_cap = models.DecimalField(_("basic fund annual cap"), **MONEY)
    critical_deductible_basis = models.CharField(
        _("critical illness deductible basis"), max_length=16, choices=DeductibleBasis.choices,
        default=DeductibleBasis.AMOUNT)
    critical_deductible = models.DecimalField(
        _("critical illness deductible"), max_digits=14, decimal_places=4,
        help_text=_("Yuan for a fixed amount; a fraction (e.g. 0.5) of last year's income statistic otherwise."))
    critical_annual_cap = models.DecimalField(
        _("critical illness annual cap"), null=True, blank=True, help_text=_("Empty: no cap."), **MONEY)
    out_of_catalog_limit = models.DecimalField(
        _("out-of-catalog share limit for poverty targets"), null=True, blank=True,
        help_text=_("Fraction of the total cost, e.g. 0.10; the excess is borne by the hospital."), **RATIO)
    tilt_requires_referral = models.BooleanField(_("tilts need a proper referral"), default=True)
    funding_basic = models.CharField(
        _("funding of the basic layer"), max_length=32, choices=FundingSource.choices,
        default=FundingSource.BASIC_FUND)
    funding_critical = models.CharField(
        _("funding of the critical illness layer"), max_length=32, choices=FundingSource.choices,
        default=FundingSource.CRITICAL_ILLNESS)
    no_deposit_categories = models.ManyToManyField(
        IdentityCategory, verbose_name=_("no-deposit admission categories"), blank=True, related_name="+",
        help_text=_("Categories admitted without a deposit at county-internal hospitals (先诊疗后付费)."))
    continuous_deductible_categories = models.ManyToManyField(
        IdentityCategory, verbose_name=_("continuous inpatient deductible categories"), blank=True,
        related_name="+",
        help_text=_("Categories whose inpatient deductible is counted continuously within the year when referred "
                    "within the province (起付线连续计算): a referred admission pays only what its deductible exceeds "
                    "the deductible already borne."))
    advance_ratio = models.DecimalField(_("advance payment ratio"), default=Decimal("0.70"), **RATIO)
    advance_working_days = models.PositiveSmallIntegerField(_("advance due in (working days)"), default=10)
    final_working_days = models.PositiveSmallIntegerField(_("final payment due in (working days)"), default=15)
    manual_working_days = models.PositiveSmallIntegerField(_("manual reimbursement due in (working days)"), default=25)
    history = HistoricalRecords(m2m_fields=[no_deposit_categories, continuous_deductible_categories])

    class Meta:
        verbose_name = _("benefit settings")
        verbose_name_plural = _("benefit settings")

    def __str__(self):
        return str(self.policy)


class BasicBenefitRule(models.Model):
    """Basic layer: deductible and ratio by visit type, hospital level and, optionally, insurance scheme.

    A rule with a scheme (金安: 职工医保 80 %, 居民医保 70 %) wins over the rule without one for that scheme's
    claims."""

    region_scope = "policy__region"
    region_scope_reads_ancestors = True

    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.CASCADE, related_name="basic_rules")
    visit_type = models.CharField(_("visit type"), max_length=16, choices=VisitType.choices)
    hospital_level = models.CharField(_("hospital level"), max_length=16, choices=HospitalLevel.choices)
    scheme = models.CharField(
        _("insurance scheme"), max_length=16, choices=Scheme.choices, blank=True,
        help_text=_("Empty: every scheme without a rule of its own."))
    deductible = models.DecimalField(_("deductible"), **MONEY)
    ratio = models.DecimalField(_("ratio"), **RATIO)
    unreferred_ratio = models.DecimalField(
        _("ratio without required referral"), null=True, blank=True, **RATIO)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("basic layer rule")
        verbose_name_plural = _("basic layer rules")
        ordering = ["policy_id", "visit_type", "hospital_level", "scheme"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "visit_type", "hospital_level", "scheme"], name="basicrule_unique"),
            models.CheckConstraint(condition=Q(ratio__gte=0, ratio__lte=1), name="basicrule_ratio_range"),
        ]

    def __str__(self):
        scheme = f" {self.get_scheme_display()}" if self.scheme else ""
        return f"{self.get_visit_type_display()} {self.get_hospital_level_display()}{scheme}"


class CriticalSegment(models.Model):
    """One segment of the critical illness layer: `ratio` applies up to `upper_bound` above the deductible."""

    region_scope = "policy__region"
    region_scope_reads_ancestors = True

    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.CASCADE, related_name="critical_segments")
    upper_bound = models.DecimalField(_("up to (above the deductible)"), null=True, blank=True, **MONEY)
    ratio = models.DecimalField(_("ratio"), **RATIO)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("critical illness segment")
        verbose_name_plural = _("critical illness segments")
        ordering = ["policy_id", models.F("upper_bound").asc(nulls_last=True)]
        constraints = [models.CheckConstraint(condition=Q(ratio__gte=0, ratio__lte=1), name="segment_ratio_range")]

    def __str__(self):
        return f"≤{self.upper_bound or '∞'}: {format_percent(self.ratio)}"


#: CategoryTilt's limits: field → the choices its codes come from. An empty list means no limit.
TILT_LIMITS = {"hospital_levels": HospitalLevel, "visit_types": VisitType, "schemes": Scheme}


class CategoryTilt(models.Model):
    """A category's preferential tilt (倾斜) on the basic or critical illness layer, optionally limited to visit
    types, hospital levels and insurance schemes (重庆 2021: basic tilt for county-level hospital inpatient care)."""

    region_scope = "policy__region"
    region_scope_reads_ancestors = True

    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.CASCADE, related_name="tilts")
    category = models.ForeignKey(
        IdentityCategory, verbose_name=_("category"), on_delete=models.PROTECT, related_name="+")
    layer = models.CharField(
        _("layer"), max_length=16, choices=[(Layer.BASIC, Layer.BASIC.label), (Layer.CRITICAL, Layer.CRITICAL.label)])
    deductible_reduction = models.DecimalField(
        _("deductible reduction"), default=0, help_text=_("Fraction, e.g. 0.5 halves the deductible."), **RATIO)
    ratio_plus = models.DecimalField(
        _("ratio increase"), default=0, help_text=_("Added to the ratio, e.g. 0.05 for +5 points."), **RATIO)
    ratio_floor = models.DecimalField(_("ratio at least"), null=True, blank=True, **RATIO)
    cap_removed = models.BooleanField(_("annual cap removed"), default=False)
    visit_types = models.JSONField(
        _("only for visit types"), default=list, blank=True, help_text=_("Empty: every visit type."))
    hospital_levels = models.JSONField(
        _("only at hospital levels"), default=list, blank=True, help_text=_("Empty: every hospital level."))
    schemes = models.JSONField(
        _("only for insurance schemes"), default=list, blank=True, help_text=_("Empty: every scheme."))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("category tilt")
        verbose_name_plural = _("category tilts")
        constraints = [models.UniqueConstraint(fields=["policy", "category", "layer"], name="tilt_unique")]

    def __str__(self):
        return f"{self.category} {self.get_layer_display()}"

    def clean(self):
        super().clean()
        errors = {}
        for name, choices in TILT_LIMITS.items():
            codes = getattr(self, name)
            if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
                errors[name] = _("Give a list of codes.")
            elif unknown := sorted(set(codes) - set(choices.values)):
                errors[name] = _("Unknown codes: %(codes)s.") % {"codes": ", ".join(unknown)}
            elif len(set(codes)) != len(codes):
                errors[name] = _("A code is listed twice.")
        if errors:
            raise ValidationError(errors)

    def limits_text(self) -> str:
        """The limits as the slip shows them, e.g. '县级医院·住院' ('' without limits); labels in the current
        language, so callers writing stored text activate Chinese first."""
        parts = []
        for name, choices in TILT_LIMITS.items():
            labels = dict(choices.choices)
            if codes := getattr(self, name):
                text = "、".join(str(labels[code]) for code in codes if code in labels)
                parts.append(f"{text}医院" if name == "hospital_levels" else text)
        return "·".join(parts)


class AssistanceBenefitRule(models.Model):
    """Medical assistance (医疗救助) for one category; the annual limit is shared by outpatient and inpatient care."""

    region_scope = "policy__region"
    region_scope_reads_ancestors = True

    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.CASCADE, related_name="assistance_rules")
    category = models.ForeignKey(
        IdentityCategory, verbose_name=_("category"), on_delete=models.PROTECT, related_name="+")
    ratio = models.DecimalField(_("ratio"), **RATIO)
    deductible = models.DecimalField(_("annual deductible"), default=0, **MONEY)
    annual_limit = models.DecimalField(_("annual limit"), **MONEY)
    covers_inpatient = models.BooleanField(_("covers inpatient care"), default=True)
    covers_outpatient = models.BooleanField(_("covers general outpatient care"), default=False)
    covers_chronic = models.BooleanField(_("covers chronic / special outpatient care"), default=True)
    funding_source = models.CharField(
        _("funding source"), max_length=32, choices=FundingSource.choices, default=FundingSource.MEDICAL_ASSISTANCE)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("assistance rule")
        verbose_name_plural = _("assistance rules")
        constraints = [
            models.UniqueConstraint(fields=["policy", "category"], name="assistancerule_unique"),
            models.CheckConstraint(condition=Q(ratio__gte=0, ratio__lte=1), name="assistancerule_ratio_range"),
        ]

    def __str__(self):
        return f"{self.category} {format_percent(self.ratio)}"

    def covers(self, visit_type: str) -> bool:
        return {
            VisitType.INPATIENT: self.covers_inpatient,
            VisitType.OUTPATIENT: self.covers_outpatient,
            VisitType.CHRONIC: self.covers_chronic,
        }[visit_type]


class SpecialDisease(models.Model):
    """One of the special-treatment diseases (大病专项救治), optionally with a fixed quota (按病种定额)."""

    region_scope = "policy__region"
    region_scope_reads_ancestors = True

    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.CASCADE, related_name="special_diseases")
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    icd10_prefixes = models.CharField(
        _("ICD-10 codes"), max_length=300, blank=True, help_text=_("Comma-separated code prefixes, e.g. C50,C53."))
    quota = models.DecimalField(_("fixed quota"), null=True, blank=True, **MONEY)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("special-treatment disease")
        verbose_name_plural = _("special-treatment diseases")
        ordering = ["policy_id", "code"]
        constraints = [models.UniqueConstraint(fields=["policy", "code"], name="specialdisease_unique")]

    def __str__(self):
        return self.name

    def matches(self, icd10: str) -> bool:
        code = (icd10 or "").upper().replace(".", "")
        prefixes = [p.strip().upper().replace(".", "") for p in self.icd10_prefixes.split(",") if p.strip()]
        return any(code.startswith(prefix) for prefix in prefixes)
