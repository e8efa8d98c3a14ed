from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField
from simple_history.models import HistoricalRecords

from claims.models import Claim
from enrollment.models import Household, Person, PolicyVersion, Region

from .applications import OutsideCost
from .choices import OPEN_CASE_STATES, AidFunding, CaseState
from .files import ATTACHMENT_PATH, ATTACHMENT_VALIDATORS

MONEY = {"max_digits": 14, "decimal_places": 2}


class SpecialAidCase(ConcurrentTransitionMixin, models.Model):
    """Case-by-case special aid (一事一议, seed 001 §三(三) and Q8) for a lifted or monitored person whose large
    out-of-pocket costs still threaten the household's basic living.

    Opened by a township or department with the triggering figures, deliberated in meetings, decided (amount,
    funding, payer), approved by a 乡村振兴 user and a 卫健 user (neither the opener), paid and followed up.
    Moved only by ``assistance.services.special_aid``.
    """

    region_scope = "region"

    number = models.CharField(_("case number"), max_length=32, unique=True)
    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="+")
    household = models.ForeignKey(
        Household, verbose_name=_("household"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="special_aid_cases")
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.PROTECT, related_name="+")
    opened_on = models.DateField(_("opened on"))
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("opened by"), on_delete=models.PROTECT, related_name="+")
    opening_unit = models.CharField(_("opening township or department"), max_length=64)
    state = FSMField(_("state"), max_length=12, choices=CaseState.choices, default=CaseState.OPENED, protected=True)
    trigger_figures = models.JSONField(_("triggering figures"), default=dict, blank=True, editable=False)
    situation = models.TextField(_("situation"), blank=True)
    named_claims = models.ManyToManyField(Claim, verbose_name=_("claims the aid is for"), blank=True,
                                          related_name="+")
    named_outside_costs = models.ManyToManyField(
        OutsideCost, verbose_name=_("outside costs the aid is for"), blank=True, related_name="special_aid_cases")
    named_out_of_pocket = models.DecimalField(
        _("out-of-pocket cost of the costs named"), default=0, editable=False, **MONEY)
    amount = models.DecimalField(_("aid amount"), null=True, blank=True, **MONEY)
    funding_source = models.CharField(_("funding source"), max_length=32, choices=AidFunding.choices, blank=True)
    payer = models.CharField(_("payer"), max_length=100, blank=True)
    decided_on = models.DateField(_("decided on"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decision recorded by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    rural_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved for rural revitalization by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    rural_approved_at = models.DateTimeField(_("rural revitalization approval at"), null=True, blank=True)
    health_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved for health by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    health_approved_at = models.DateTimeField(_("health approval at"), null=True, blank=True)
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    payment_reference = models.CharField(_("payment reference"), max_length=64, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("paid by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    rejection_reason = models.CharField(_("reason for not granting"), max_length=300, blank=True)
    history = HistoricalRecords(m2m_fields=[named_claims, named_outside_costs])

    class Meta:
        verbose_name = _("special aid case")
        verbose_name_plural = _("special aid cases")
        ordering = ["-opened_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__isnull=True) | Q(amount__gt=0), name="specialaid_amount"),
            models.CheckConstraint(
                condition=Q(rural_approver__isnull=True) | ~Q(rural_approver=models.F("opened_by")),
                name="specialaid_rural_not_opener"),
            models.CheckConstraint(
                condition=Q(health_approver__isnull=True) | ~Q(health_approver=models.F("opened_by")),
                name="specialaid_health_not_opener"),
            models.CheckConstraint(
                condition=Q(health_approver__isnull=True) | Q(rural_approver__isnull=True)
                | ~Q(health_approver=models.F("rural_approver")),
                name="specialaid_two_approvers"),
        ]
        indexes = [
            models.Index(fields=["region", "state"], name="specialaid_queue"),
            models.Index(fields=["household", "state", "paid_on"], name="specialaid_household_paid"),
        ]
        permissions = [
            ("open_special_aid", _("Can open special aid cases (一事一议立案)")),
            ("decide_special_aid", _("Can record meetings and decisions of special aid")),
            ("approve_special_aid_rural", _("Can approve special aid for rural revitalization (乡村振兴)")),
            ("approve_special_aid_health", _("Can approve special aid for health (卫健)")),
            ("pay_special_aid", _("Can record payments of special aid")),
        ]

    def __str__(self):
        return self.number

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_CASE_STATES


class SpecialAidMeeting(models.Model):
    """A deliberation meeting of a case: date, participants with their departments, minutes, an attachment."""

    region_scope = "case__region"

    case = models.ForeignKey(
        SpecialAidCase, verbose_name=_("case"), on_delete=models.CASCADE, related_name="meetings")
    held_on = models.DateField(_("held on"))
    participants = models.TextField(_("participants and their departments"))
    minutes = models.TextField(_("minutes"))
    attachment = models.FileField(
        _("attachment"), upload_to=ATTACHMENT_PATH, blank=True, validators=ATTACHMENT_VALIDATORS)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("deliberation meeting")
        verbose_name_plural = _("deliberation meetings")
        ordering = ["held_on", "id"]

    def __str__(self):
        return f"{self.case} {self.held_on}"


class SpecialAidFollowUp(models.Model):
    """A follow-up note after payment (跟踪回访)."""

    region_scope = "case__region"

    case = models.ForeignKey(
        SpecialAidCase, verbose_name=_("case"), on_delete=models.CASCADE, related_name="follow_ups")
    noted_on = models.DateField(_("date"))
    note = models.TextField(_("note"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("follow-up note")
        verbose_name_plural = _("follow-up notes")
        ordering = ["noted_on", "id"]

    def __str__(self):
        return f"{self.case} {self.noted_on}"


class SpecialAidEvent(models.Model):
    """Who moved a special aid case from which state to which, when, and why."""

    region_scope = "case__region"

    case = models.ForeignKey(SpecialAidCase, verbose_name=_("case"), on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=32)
    from_state = models.CharField(_("from"), max_length=16)
    to_state = models.CharField(_("to"), max_length=16)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("at"), auto_now_add=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("special aid event")
        verbose_name_plural = _("special aid events")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.action} {self.from_state}→{self.to_state}"


__all__ = ["SpecialAidCase", "SpecialAidEvent", "SpecialAidFollowUp", "SpecialAidMeeting"]
