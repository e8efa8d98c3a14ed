from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField
from simple_history.models import HistoricalRecords

from enrollment.models import Region

from .claims import Claim
from .hospitals import Hospital

MONEY = {"max_digits": 14, "decimal_places": 2}


class BatchState(models.TextChoices):
    RECEIVED = "received", _("Received")
    ADVANCE_PAID = "advance_paid", _("Advance paid (70 %)")
    AUDITED = "audited", _("Audited")
    CLOSED = "closed", _("Closed")


class HospitalBatch(ConcurrentTransitionMixin, models.Model):
    """A hospital's declaration of what it advanced for settled claims (定点医疗机构垫付资金申报).

    Within 10 working days of receipt the bureau pays the advance (70 % of the declared total); within the
    following 15 working days, counted from that payment, it audits and pays the approved total minus the advance.
    """

    region_scope = "region"
    hospital_scope = "hospital"

    hospital = models.ForeignKey(Hospital, verbose_name=_("hospital"), on_delete=models.PROTECT, related_name="batches")
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    number = models.CharField(_("batch number"), max_length=40, unique=True)
    period_start = models.DateField(_("period from"))
    period_end = models.DateField(_("period to"))
    received_on = models.DateField(_("received on"))
    state = FSMField(_("state"), max_length=16, choices=BatchState.choices, default=BatchState.RECEIVED,
                     protected=True)
    declared_total = models.DecimalField(_("declared total"), default=0, **MONEY)
    advance_ratio = models.DecimalField(_("advance ratio"), max_digits=5, decimal_places=4)
    advance_amount = models.DecimalField(_("advance amount"), default=0, **MONEY)
    # Frozen from the policy at receipt, like final_working_days, so a calendar change recomputes the same allowance.
    advance_working_days = models.PositiveSmallIntegerField(_("advance allowed working days"))
    advance_due_on = models.DateField(_("advance due on"))
    advance_provisional = models.BooleanField(_("advance deadline provisional"), default=False)
    advance_paid_on = models.DateField(_("advance paid on"), null=True, blank=True)
    advance_reference = models.CharField(_("advance payment reference"), max_length=64, blank=True)
    final_working_days = models.PositiveSmallIntegerField(_("final payment allowed working days"))
    final_due_on = models.DateField(_("final payment due on"), null=True, blank=True)
    final_provisional = models.BooleanField(_("final deadline provisional"), default=False)
    approved_total = models.DecimalField(_("approved total"), null=True, blank=True, **MONEY)
    final_amount = models.DecimalField(
        _("final payment"), null=True, blank=True, help_text=_("Negative: an amount to recover from the hospital."),
        **MONEY)
    final_paid_on = models.DateField(_("final payment on"), null=True, blank=True)
    final_reference = models.CharField(_("final payment reference"), max_length=64, blank=True)
    auditor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("auditor"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("hospital advance-payment batch")
        verbose_name_plural = _("hospital advance-payment batches")
        ordering = ["-received_on", "id"]
        indexes = [models.Index(fields=["state", "advance_due_on"], name="batch_state_due")]
        permissions = [
            ("audit_batch", _("Can audit hospital batches")),
            ("pay_batch", _("Can pay hospital batches")),
            ("submit_batch", _("Can submit batches of the own hospital")),
        ]

    def __str__(self):
        return self.number

    @property
    def amount_to_recover(self):
        if self.final_amount is not None and self.final_amount < 0:
            return -self.final_amount
        return 0


class BatchLine(models.Model):
    """A settled claim declared in a batch; the audit approves or rejects it with a reason."""

    region_scope = "batch__region"
    hospital_scope = "batch__hospital"

    batch = models.ForeignKey(HospitalBatch, verbose_name=_("batch"), on_delete=models.CASCADE, related_name="lines")
    claim = models.ForeignKey(Claim, verbose_name=_("claim"), on_delete=models.PROTECT, related_name="batch_lines")
    declared_amount = models.DecimalField(_("declared amount"), **MONEY)
    approved = models.BooleanField(_("approved"), null=True, blank=True)
    rejection_reason = models.CharField(_("reason for rejection or deduction"), max_length=300, blank=True)
    # A partial deduction (扣减) keeps the claim approved for the rest; a rejection deducts everything.
    deduction = models.DecimalField(_("deduction"), default=0, **MONEY)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("batch line")
        verbose_name_plural = _("batch lines")
        ordering = ["batch_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["claim"], name="batchline_claim_once"),
            models.CheckConstraint(
                condition=~models.Q(approved=False) | ~models.Q(rejection_reason=""),
                name="batchline_rejection_has_reason",
                violation_error_message=_("A rejected claim needs a reason."),
            ),
            models.CheckConstraint(
                condition=models.Q(deduction=0) | ~models.Q(rejection_reason=""),
                name="batchline_deduction_has_reason",
                violation_error_message=_("A deduction needs a reason."),
            ),
            models.CheckConstraint(
                condition=models.Q(deduction__gte=0, deduction__lte=models.F("declared_amount")),
                name="batchline_deduction_range",
                violation_error_message=_("A deduction lies between 0 and the declared amount."),
            ),
        ]

    def __str__(self):
        return f"{self.batch} {self.claim}"

    @property
    def approved_amount(self):
        """What the audit approved of this claim: nothing when rejected, the declared amount less any deduction."""
        if self.approved is None:
            return None
        return self.declared_amount - self.deduction if self.approved else 0
