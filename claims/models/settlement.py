from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from enrollment.models import Identity, IdentityCategory, Person, PolicyVersion
from enrollment.models.choices import FundingSource

from .choices import Layer
from .claims import Claim

MONEY = {"max_digits": 14, "decimal_places": 2}


class FreezeReason(models.TextChoices):
    RE_REVIEWED = "re_reviewed", _("Manual claim re-reviewed (复核)")
    BATCH_PAID = "batch_paid", _("Paid to the hospital in a batch")
    CORRECTION = "correction", _("Written by a reviewed correction")


#: The only columns an existing settlement may change: its reversal and its freezing. Amounts never change.
SETTLEMENT_MUTABLE_FIELDS = frozenset({
    "reversed_at", "reversed_by", "reversal_reason", "reversal_approved_by", "frozen_at", "frozen_reason"})


class Settlement(models.Model):
    """One settlement (结算) of a claim: the policy version and identities applied and the calculation steps.

    Immutable once written. A correction marks it reversed and writes a new one; the money lives in PaymentLine.
    Once frozen (a manual claim passed 复核, or the claim was paid to its hospital in a batch) it is reversed only
    through a reviewed correction (``SettlementCorrection``): proposed by one user, approved by another.
    """

    region_scope = "claim__region"
    hospital_scope = "claim__hospital"

    claim = models.ForeignKey(Claim, verbose_name=_("claim"), on_delete=models.PROTECT, related_name="settlements")
    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.PROTECT, related_name="settlements")
    year = models.PositiveSmallIntegerField(_("year"))
    basic = models.DecimalField(_("basic insurance"), **MONEY)
    critical = models.DecimalField(_("critical illness insurance"), **MONEY)
    assistance = models.DecimalField(_("medical assistance"), **MONEY)
    hospital_borne = models.DecimalField(_("borne by hospital"), **MONEY)
    patient_pays = models.DecimalField(_("paid by patient"), **MONEY)
    basic_category = models.ForeignKey(
        IdentityCategory, verbose_name=_("category applied (basic)"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    critical_category = models.ForeignKey(
        IdentityCategory, verbose_name=_("category applied (critical illness)"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    assistance_category = models.ForeignKey(
        IdentityCategory, verbose_name=_("category applied (assistance)"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    identity = models.ForeignKey(
        Identity, verbose_name=_("identity applied"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    steps = models.JSONField(_("calculation"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("settled by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    created_at = models.DateTimeField(_("settled at"), auto_now_add=True)
    reversed_at = models.DateTimeField(_("reversed at"), null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reversed by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    reversal_reason = models.CharField(_("reason for correction"), max_length=200, blank=True)
    reversal_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reversal approved by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text=_("A settlement written by a correction: the second person who approved it."))
    frozen_at = models.DateTimeField(_("frozen at"), null=True, blank=True)
    frozen_reason = models.CharField(_("frozen because"), max_length=16, choices=FreezeReason.choices, blank=True)

    class Meta:
        verbose_name = _("settlement")
        verbose_name_plural = _("settlements")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    basic__gte=0, critical__gte=0, assistance__gte=0, hospital_borne__gte=0, patient_pays__gte=0),
                name="settlement_non_negative",
            ),
            # At most one live settlement per claim.
            models.UniqueConstraint(
                fields=["claim"], condition=models.Q(reversed_at__isnull=True), name="settlement_one_current"),
            # Four eyes in the database (the services check first): a frozen settlement is reversed only with a
            # second person's approval ...
            models.CheckConstraint(
                condition=models.Q(reversed_at__isnull=True) | models.Q(frozen_at__isnull=True) | (
                    models.Q(reversed_by__isnull=False, reversal_approved_by__isnull=False)
                    & ~models.Q(reversal_approved_by=models.F("reversed_by"))),
                name="settlement_frozen_reversal_four_eyes",
                violation_error_message=_("A frozen settlement is reversed only with another person's approval."),
            ),
            # ... and a settlement written by a correction was approved by someone other than its author.
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True) | (
                    models.Q(created_by__isnull=False) & ~models.Q(approved_by=models.F("created_by"))),
                name="settlement_approval_four_eyes",
                violation_error_message=_("A correction is approved by a different person from its proposer."),
            ),
            models.CheckConstraint(
                condition=models.Q(frozen_at__isnull=True, frozen_reason="")
                | (models.Q(frozen_at__isnull=False) & ~models.Q(frozen_reason="")),
                name="settlement_frozen_has_reason",
            ),
        ]

    def __str__(self):
        # Beijing time: the UTC day of a settlement made before 08:00 is the day before (USE_TZ stores UTC).
        settled = timezone.localtime(self.created_at) if self.created_at else None
        return f"{self.claim} @ {settled:%Y-%m-%d}" if settled else str(self.claim)

    @property
    def total(self):
        return self.basic + self.critical + self.assistance + self.hospital_borne + self.patient_pays

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    def save(self, *args, **kwargs):
        # A settlement's money, policy and steps never change once written; only its reversal and freezing may be
        # recorded, and only by naming those columns.
        if self.pk is not None and not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is None or not set(fields) <= SETTLEMENT_MUTABLE_FIELDS:
                raise ValidationError(_("A settlement cannot be changed; propose a correction instead."),
                                      code="settlement_immutable")
        super().save(*args, **kwargs)


class PaymentLine(models.Model):
    """An immutable line of a settlement: a layer, an amount and who funds it.

    Year-to-date figures are sums over these lines; a reversal adds negative lines instead of editing old ones.
    """

    region_scope = "claim__region"
    hospital_scope = "claim__hospital"

    settlement = models.ForeignKey(
        Settlement, verbose_name=_("settlement"), on_delete=models.PROTECT, related_name="lines")
    claim = models.ForeignKey(Claim, verbose_name=_("claim"), on_delete=models.PROTECT, related_name="payment_lines")
    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("year"))
    layer = models.CharField(_("layer"), max_length=20, choices=Layer.choices)
    amount = models.DecimalField(_("amount"), **MONEY)
    funding_source = models.CharField(_("funding source"), max_length=32, choices=FundingSource.choices, blank=True)
    is_reversal = models.BooleanField(_("reversal"), default=False)
    created_at = models.DateTimeField(_("posted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment line")
        verbose_name_plural = _("payment lines")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["person", "year", "layer"], name="paymentline_ytd"),
            # What households bore (the patient's part and medical assistance) over a look-back period, for a
            # whole county: read from this index alone (no visit to the wide lines), years outside the period
            # skipped; 40 % of the lines.
            models.Index(fields=["layer", "year"], include=["claim", "person", "amount"],
                         condition=models.Q(layer__in=[Layer.PATIENT, Layer.ASSISTANCE]),
                         name="paymentline_out_of_pocket"),
        ]

    def __str__(self):
        return f"{self.get_layer_display()} {self.amount}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError(_("Payment lines cannot be changed; reverse the settlement instead."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(_("Payment lines cannot be deleted; reverse the settlement instead."))
