from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from enrollment.models import PolicyVersion

from .choices import CostBasis, LookBack

MONEY = {"max_digits": 14, "decimal_places": 2}
RATIO = {"max_digits": 5, "decimal_places": 4}


class AssistancePolicy(models.Model):
    """The assistance settings of a policy version (the policy file's ``assistance:`` section).

    Apply-to-receive (依申请救助): the look-back period, the income share and asset cap of the household test, which
    costs and assets count, how long the granted ``illness_poor`` identity lasts, and the working days of each
    review step. Case-by-case special aid (一事一议): the funding sources a decision may name.
    """

    region_scope = "policy__region"
    region_scope_reads_ancestors = True

    policy = models.OneToOneField(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.CASCADE, related_name="assistance_settings")
    look_back = models.CharField(_("look-back period"), max_length=16, choices=LookBack.choices,
                                 default=LookBack.MONTHS)
    look_back_months = models.PositiveSmallIntegerField(
        _("look-back months"), default=12, help_text=_("Used when the look-back period is a number of months."))
    income_share = models.DecimalField(
        _("income share"), default=Decimal("0.60"),
        help_text=_("Fraction of the household's annual disposable income the burden must reach, e.g. 0.60."),
        **RATIO)
    asset_cap = models.DecimalField(
        _("household asset cap"), null=True, blank=True,
        help_text=_("Household assets must be below this amount; empty: assets are not tested."), **MONEY)
    counted_asset_kinds = models.JSONField(
        _("asset kinds counted"), default=list, blank=True,
        help_text=_("Codes of the asset kinds that count towards the cap."))
    cost_basis = models.CharField(_("costs counted"), max_length=20, choices=CostBasis.choices,
                                  default=CostBasis.AFTER_INSURANCE)
    identity_months = models.PositiveSmallIntegerField(
        _("identity validity (months)"), default=12,
        help_text=_("How long an approved illness_poor identity lasts."))
    review_working_days = models.PositiveSmallIntegerField(
        _("initial review due in (working days)"), default=10, help_text=_("Counted from receipt."))
    approval_working_days = models.PositiveSmallIntegerField(
        _("approval due in (working days)"), default=5, help_text=_("Counted from the initial review."))
    payment_working_days = models.PositiveSmallIntegerField(
        _("payment due in (working days)"), default=5, help_text=_("Counted from the approval."))
    special_aid_funding = models.JSONField(
        _("special aid funding sources"), default=list, blank=True,
        help_text=_("Codes of the funding sources a special aid decision may name."))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("assistance settings")
        verbose_name_plural = _("assistance settings")
        constraints = [
            models.CheckConstraint(condition=Q(income_share__gte=0, income_share__lte=1),
                                   name="assistancepolicy_share_range"),
        ]

    def __str__(self):
        return str(self.policy)
