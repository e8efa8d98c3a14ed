from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from enrollment.models import Person, Region

from .choices import Referral, VisitType
from .hospitals import Hospital

MONEY = {"max_digits": 14, "decimal_places": 2}


class ClaimSource(models.TextChoices):
    DIRECT = "direct", _("Direct settlement at the hospital")
    MANUAL = "manual", _("Manual reimbursement")
    IMPORT = "import", _("Imported from a hospital file")


class ClaimStatus(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    SETTLED = "settled", _("Settled")
    REJECTED = "rejected", _("Rejected")


class Claim(models.Model):
    """A medical bill (费用单据) of one visit."""

    region_scope = "region"
    hospital_scope = "hospital"

    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="claims")
    # The person's region when the claim was registered: scoping and queues need no join through people.
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    hospital = models.ForeignKey(Hospital, verbose_name=_("hospital"), on_delete=models.PROTECT, related_name="claims")
    number = models.CharField(_("claim number"), max_length=40, unique=True)
    visit_type = models.CharField(_("visit type"), max_length=16, choices=VisitType.choices)
    admitted_on = models.DateField(_("admitted / visit date"))
    discharged_on = models.DateField(_("discharged on"), null=True, blank=True)
    diagnosis_code = models.CharField(_("diagnosis (ICD-10)"), max_length=16, blank=True)
    diagnosis_name = models.CharField(_("diagnosis"), max_length=100, blank=True)
    is_special_disease = models.BooleanField(_("special-treatment disease"), default=False)
    referral = models.CharField(_("referral"), max_length=16, choices=Referral.choices, default=Referral.NOT_REQUIRED)
    total_cost = models.DecimalField(_("total cost"), **MONEY)
    policy_scope_cost = models.DecimalField(_("policy-scope cost"), **MONEY)
    source = models.CharField(_("source"), max_length=8, choices=ClaimSource.choices, default=ClaimSource.DIRECT)
    status = models.CharField(_("status"), max_length=12, choices=ClaimStatus.choices, default=ClaimStatus.REGISTERED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("registered by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    created_at = models.DateTimeField(_("registered at"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        ordering = ["-admitted_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(policy_scope_cost__gte=0, total_cost__gte=F("policy_scope_cost")),
                name="claim_costs_consistent",
                violation_error_message=_("The policy-scope cost must be between 0 and the total cost."),
            ),
            models.CheckConstraint(
                condition=Q(discharged_on__isnull=True) | Q(discharged_on__gte=F("admitted_on")),
                name="claim_dates_ordered",
                violation_error_message=_("Discharge cannot be before admission."),
            ),
        ]
        indexes = [
            models.Index(fields=["person", "admitted_on"], name="claim_person_date"),
            models.Index(fields=["region", "status"], name="claim_region_status"),
        ]
        permissions = [("lookup_eligibility", _("Can look up patients' eligibility (资格确认)"))]

    def __str__(self):
        return self.number

    @property
    def out_of_catalog_cost(self):
        return self.total_cost - self.policy_scope_cost

    @property
    def service_date(self):
        """Rules are looked up on the discharge date for inpatient care, the visit date otherwise."""
        if self.visit_type == VisitType.INPATIENT and self.discharged_on:
            return self.discharged_on
        return self.admitted_on
