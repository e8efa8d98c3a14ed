from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .claims import Claim
from .settlement import Settlement


class CorrectionKind(models.TextChoices):
    CORRECT = "correct", _("Reverse and settle again with corrected data")
    REVERSE = "reverse", _("Reverse only")


class CorrectionState(models.TextChoices):
    PROPOSED = "proposed", _("Proposed, awaiting approval")
    APPROVED = "approved", _("Approved and booked")
    REJECTED = "rejected", _("Rejected")


class SettlementCorrection(models.Model):
    """A correction (更正) of a frozen settlement: proposed with a reason by one user, approved by another.

    Nothing about the money changes while it is proposed. Approval books, in one transaction, the reversal of the
    original settlement (negative payment lines; the original row stays, marked reversed) and — for a correction —
    the claim's changes and a new settlement, both carrying the proposer as author and the approver as reviewer.
    ``changes`` holds the claim fields to change as JSON (ids, ISO dates, decimal strings), exactly what the
    reviewer saw.
    """

    region_scope = "claim__region"

    claim = models.ForeignKey(Claim, verbose_name=_("claim"), on_delete=models.PROTECT, related_name="corrections")
    original = models.ForeignKey(
        Settlement, verbose_name=_("settlement corrected"), on_delete=models.PROTECT, related_name="corrections")
    kind = models.CharField(_("kind"), max_length=8, choices=CorrectionKind.choices, default=CorrectionKind.CORRECT)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    reason = models.CharField(_("reason for correction"), max_length=200)
    state = models.CharField(
        _("state"), max_length=8, choices=CorrectionState.choices, default=CorrectionState.PROPOSED)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("proposed by"), on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(_("proposed at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=300, blank=True)
    new_settlement = models.OneToOneField(
        Settlement, verbose_name=_("new settlement"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="written_by_correction")
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("settlement correction")
        verbose_name_plural = _("settlement corrections")
        ordering = ["-proposed_at", "-id"]
        constraints = [
            # Four eyes (also checked by the services): the decision is never the proposer's.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("proposed_by")),
                name="correction_four_eyes",
                violation_error_message=_("A correction is approved by a different person from its proposer."),
            ),
            models.CheckConstraint(
                condition=Q(state=CorrectionState.PROPOSED, decided_by__isnull=True, decided_at__isnull=True)
                | (~Q(state=CorrectionState.PROPOSED) & Q(decided_by__isnull=False, decided_at__isnull=False)),
                name="correction_decision_recorded",
            ),
            models.CheckConstraint(
                condition=Q(new_settlement__isnull=True)
                | Q(state=CorrectionState.APPROVED, kind=CorrectionKind.CORRECT),
                name="correction_new_settlement_approved",
            ),
            models.UniqueConstraint(
                fields=["original"], condition=Q(state=CorrectionState.PROPOSED), name="correction_one_open"),
        ]
        permissions = [
            ("propose_correction", _("Can propose a correction of a frozen settlement")),
            ("approve_correction", _("Can approve or reject a proposed correction (four eyes)")),
        ]

    def __str__(self):
        return f"{self.claim} {self.get_kind_display()} ({self.get_state_display()})"
