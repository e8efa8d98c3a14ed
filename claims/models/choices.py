from django.db import models
from django.utils.translation import gettext_lazy as _


class HospitalLevel(models.TextChoices):
    TOWNSHIP = "township", _("Township / level 1")
    COUNTY = "county", _("County / level 2")
    CITY = "city", _("City / level 3")
    PROVINCE = "province", _("Provincial")


class VisitType(models.TextChoices):
    INPATIENT = "inpatient", _("Inpatient")
    OUTPATIENT = "outpatient", _("General outpatient")
    CHRONIC = "chronic", _("Outpatient chronic / special disease")


class Referral(models.TextChoices):
    REFERRED = "referred", _("Referred")
    NOT_REQUIRED = "not_required", _("No referral required")
    MISSING = "missing", _("Required referral missing")


class Layer(models.TextChoices):
    """What a payment line records. The last three are year-to-date accumulators, not money paid to anyone."""

    BASIC = "basic", _("Basic medical insurance")
    CRITICAL = "critical", _("Critical illness insurance")
    ASSISTANCE = "assistance", _("Medical assistance")
    HOSPITAL = "hospital", _("Borne by hospital")
    PATIENT = "patient", _("Paid by patient")
    CRITICAL_BASE = "critical_base", _("Critical illness base (accumulator)")
    ASSISTANCE_DEDUCTIBLE = "assist_deductible", _("Assistance deductible used (accumulator)")
    BASIC_DEDUCTIBLE = "basic_deductible", _("Inpatient deductible level (accumulator)")


class DeductibleBasis(models.TextChoices):
    AMOUNT = "amount", _("Fixed amount")
    INCOME_ALL = "income_all", _("Share of per-capita disposable income, all residents")
    INCOME_RURAL = "income_rural", _("Share of per-capita disposable income, rural")
    INCOME_URBAN = "income_urban", _("Share of per-capita disposable income, urban")
