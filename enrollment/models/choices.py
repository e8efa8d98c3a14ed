from django.db import models
from django.utils.translation import gettext_lazy as _


class Department(models.TextChoices):
    CIVIL_AFFAIRS = "civil_affairs", _("Civil affairs (民政)")
    RURAL_REVITALIZATION = "rural_revitalization", _("Rural revitalization (乡村振兴)")
    POVERTY_OFFICE = "poverty_office", _("Poverty alleviation office (扶贫办)")
    MEDICAL_INSURANCE = "medical_insurance", _("Medical insurance (医保)")
    HEALTH = "health", _("Health commission (卫健)")


class FundingSource(models.TextChoices):
    BASIC_FUND = "basic_fund", _("Basic medical insurance fund")
    CRITICAL_ILLNESS = "critical_illness", _("Critical illness insurance fund")
    MEDICAL_ASSISTANCE = "medical_assistance", _("Medical assistance fund")
    TRANSITION = "transition", _("Rural revitalization transition fund")
    DONATION = "donation", _("Social donation")
    HOSPITAL = "hospital", _("Borne by hospital")
    FISCAL = "fiscal", _("Government budget")
    OTHER = "other", _("Other")


class Scheme(models.TextChoices):
    RESIDENT_TIER1 = "resident_tier1", _("Resident scheme, tier 1")
    RESIDENT_TIER2 = "resident_tier2", _("Resident scheme, tier 2")
    EMPLOYEE = "employee", _("Employee scheme")
