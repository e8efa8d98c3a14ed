from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField
from simple_history.models import HistoricalRecords

from claims.models import Claim, PaymentLine, Settlement
from enrollment.models import Household, Identity, IdentityCategory, Person, PolicyVersion, Region

from .choices import OPEN_APPLICATION_STATES, ApplicationState, AssetKind
from .files import ATTACHMENT_PATH, ATTACHMENT_VALIDATORS

MONEY = {"max_digits": 14, "decimal_places": 2}


class Application(ConcurrentTransitionMixin, models.Model):
    """A household's application for medical assistance (依申请救助, SPEC §5.1).

    Moved only by ``assistance.services.applications``; the current step's deadline is ``due_on`` (working days of
    the policy in force on the application date), empty while the application waits for documents.
    """

    region_scope = "region"

    number = models.CharField(_("application number"), max_length=32, unique=True)
    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, related_name="assistance_applications")
    # The household's region at registration: scoping and queues need no join.
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    applicant = models.ForeignKey(Person, verbose_name=_("applicant"), on_delete=models.PROTECT, related_name="+")
    patients = models.ManyToManyField(Person, verbose_name=_("patients"), related_name="assistance_applications")
    applied_on = models.DateField(_("application date"))
    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.PROTECT, related_name="+")
    state = FSMField(_("state"), max_length=12, choices=ApplicationState.choices,
                     default=ApplicationState.RECEIVED, protected=True)
    step_started_on = models.DateField(_("current step started on"))
    step_working_days = models.PositiveSmallIntegerField(_("working days for the current step"))
    due_on = models.DateField(_("due on"), null=True, blank=True, help_text=_("Empty while paused or closed."))
    due_provisional = models.BooleanField(_("deadline provisional"), default=False)
    note = models.CharField(_("note"), max_length=300, blank=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("registered by"), on_delete=models.PROTECT, related_name="+")
    registered_at = models.DateTimeField(_("registered at"), auto_now_add=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("initial reviewer"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(_("initially reviewed at"), null=True, blank=True)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approver"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    test_figures = models.JSONField(
        _("figures of the test at approval"), default=dict, blank=True, editable=False)
    assistance_granted = models.DecimalField(_("assistance granted"), null=True, blank=True, **MONEY)
    granted_identities = models.ManyToManyField(
        Identity, verbose_name=_("identities granted"), blank=True, related_name="+")
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    payment_reference = models.CharField(_("payment reference"), max_length=64, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("paid by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    refusal_reason = models.CharField(_("reason for refusal"), max_length=300, blank=True)
    history = HistoricalRecords(m2m_fields=[patients])

    class Meta:
        verbose_name = _("assistance application")
        verbose_name_plural = _("assistance applications")
        ordering = ["due_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(approver__isnull=True) | ~Q(approver=F("reviewer")),
                name="application_four_eyes",
                violation_error_message=_("The approver must be a different person from the initial reviewer."),
            ),
        ]
        indexes = [
            models.Index(fields=["region", "state", "due_on"], name="application_queue"),
            models.Index(fields=["household", "state"], name="application_household"),
        ]
        permissions = [
            ("review_application", _("Can do the initial review of assistance applications (初审)")),
            ("approve_application", _("Can approve assistance applications (审批)")),
            ("pay_application", _("Can record payments of assistance")),
        ]

    def __str__(self):
        return self.number

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_APPLICATION_STATES


class DeclaredIncome(models.Model):
    """A member's declared annual disposable income, with its evidence."""

    region_scope = "application__region"

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="incomes")
    person = models.ForeignKey(Person, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    annual_income = models.DecimalField(_("annual disposable income"), **MONEY)
    evidence = models.CharField(_("evidence"), max_length=200)
    attachment = models.FileField(_("scan"), upload_to=ATTACHMENT_PATH, blank=True, validators=ATTACHMENT_VALIDATORS)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("declared income")
        verbose_name_plural = _("declared incomes")
        constraints = [
            models.UniqueConstraint(fields=["application", "person"], name="declaredincome_once"),
            models.CheckConstraint(condition=Q(annual_income__gte=0), name="declaredincome_nonnegative"),
        ]

    def __str__(self):
        return f"{self.person_id} {self.annual_income}"


class DeclaredAsset(models.Model):
    """A household asset declared in an application, by kind, with its evidence."""

    region_scope = "application__region"

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="assets")
    kind = models.CharField(_("kind"), max_length=16, choices=AssetKind.choices)
    value = models.DecimalField(_("value"), **MONEY)
    evidence = models.CharField(_("evidence"), max_length=200)
    attachment = models.FileField(_("scan"), upload_to=ATTACHMENT_PATH, blank=True, validators=ATTACHMENT_VALIDATORS)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("declared asset")
        verbose_name_plural = _("declared assets")
        constraints = [models.CheckConstraint(condition=Q(value__gte=0), name="declaredasset_nonnegative")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.value}"


class OutsideCost(models.Model):
    """A medical cost from outside the system (receipt checked by a clerk): counted in the household burden once
    verified, whether or not it came with an application."""

    region_scope = "household__region"

    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, related_name="outside_costs")
    person = models.ForeignKey(Person, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="+")
    application = models.ForeignKey(
        Application, verbose_name=_("application"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="outside_costs")
    incurred_on = models.DateField(_("date of the cost"))
    description = models.CharField(_("description"), max_length=200)
    total_cost = models.DecimalField(_("total cost"), **MONEY)
    insurance_paid = models.DecimalField(
        _("paid by insurance"), default=0, help_text=_("Basic, critical illness and other insurance."), **MONEY)
    other_paid = models.DecimalField(
        _("paid by assistance or others"), default=0, **MONEY)
    attachment = models.FileField(_("scan"), upload_to=ATTACHMENT_PATH, blank=True, validators=ATTACHMENT_VALIDATORS)
    verified = models.BooleanField(_("verified"), default=False)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("verified by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("outside cost")
        verbose_name_plural = _("outside costs")
        ordering = ["household_id", "incurred_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(insurance_paid__gte=0, other_paid__gte=0,
                            total_cost__gte=F("insurance_paid") + F("other_paid")),
                name="outsidecost_payers_within_total",
                violation_error_message=_("What insurance and others paid cannot exceed the total cost."),
            ),
            models.CheckConstraint(
                condition=Q(verified=False) | Q(verified_by__isnull=False), name="outsidecost_verified_by"),
        ]
        indexes = [models.Index(fields=["household", "incurred_on"], name="outsidecost_household")]

    def __str__(self):
        return f"{self.description} {self.incurred_on}"

    @property
    def borne_after_insurance(self):
        return self.total_cost - self.insurance_paid

    @property
    def borne_after_all(self):
        return self.total_cost - self.insurance_paid - self.other_paid


class ApplicationPause(models.Model):
    """The clock stops while the application waits for documents (退回补充材料) and resumes on resubmission."""

    region_scope = "application__region"

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="pauses")
    paused_on = models.DateField(_("paused on"))
    resumed_on = models.DateField(_("resumed on"), null=True, blank=True)
    reason = models.CharField(_("documents requested"), max_length=300)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("paused by"), on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("clock pause")
        verbose_name_plural = _("clock pauses")
        ordering = ["paused_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["application"], condition=Q(resumed_on__isnull=True),
                                    name="applicationpause_one_open"),
        ]

    def __str__(self):
        return f"{self.application} {self.paused_on}–{self.resumed_on or ''}"


class ApplicationEvent(models.Model):
    """Who moved an application from which state to which, when, and why."""

    region_scope = "application__region"

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=32)
    from_state = models.CharField(_("from"), max_length=16)
    to_state = models.CharField(_("to"), max_length=16)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("at"), auto_now_add=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("application event")
        verbose_name_plural = _("application events")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.action} {self.from_state}→{self.to_state}"


class AssistanceSupplement(models.Model):
    """The assistance layer of an already settled claim, re-settled after an approval (a reviewed supplement).

    The frozen settlement is never edited: the supplement adds a medical-assistance line and an equal negative
    patient line to it, so the settlement's lines still add up to the claim's total and year-to-date sums (and the
    annual limit shared by outpatient and inpatient care) include the supplement.
    """

    region_scope = "claim__region"

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.PROTECT, related_name="supplements")
    claim = models.ForeignKey(Claim, verbose_name=_("claim"), on_delete=models.PROTECT, related_name="+")
    settlement = models.ForeignKey(
        Settlement, verbose_name=_("settlement supplemented"), on_delete=models.PROTECT, related_name="+")
    category = models.ForeignKey(
        IdentityCategory, verbose_name=_("category applied"), on_delete=models.PROTECT, related_name="+")
    base = models.DecimalField(_("policy-scope cost still borne"), **MONEY)
    amount = models.DecimalField(_("assistance"), **MONEY)
    funding_source = models.CharField(_("funding source"), max_length=32, blank=True)
    assistance_line = models.OneToOneField(
        PaymentLine, verbose_name=_("assistance line"), on_delete=models.PROTECT, related_name="+")
    patient_line = models.OneToOneField(
        PaymentLine, verbose_name=_("patient line"), on_delete=models.PROTECT, related_name="+")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reviewed by"), on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("booked at"), auto_now_add=True)

    class Meta:
        verbose_name = _("assistance supplement")
        verbose_name_plural = _("assistance supplements")
        ordering = ["application_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="supplement_positive"),
            models.UniqueConstraint(fields=["application", "settlement"], name="supplement_once_per_settlement"),
        ]

    def __str__(self):
        return f"{self.claim} +{self.amount}"
