from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField
from simple_history.models import HistoricalRecords

from .claims import Claim


class CaseState(models.TextChoices):
    RECEIVED = "received", _("Received (受理)")
    REVIEWED = "reviewed", _("Initially reviewed (初审)")
    APPROVED = "approved", _("Re-reviewed, awaiting payment (待支付)")
    PAID = "paid", _("Paid (已支付)")
    RETURNED = "returned", _("Returned for documents (退回补件)")
    REFUSED = "refused", _("Refused (不予支付)")
    WITHDRAWN = "withdrawn", _("Withdrawn (撤回)")


OPEN_CASE_STATES = (CaseState.RECEIVED, CaseState.REVIEWED, CaseState.APPROVED, CaseState.RETURNED)


class ReimbursementCase(ConcurrentTransitionMixin, models.Model):
    """A manual reimbursement (零星报销 / 非直接结算) moving through review within 25 working days.

    Transitions are guarded and logged by services in claims.services.reimbursement; ConcurrentTransitionMixin
    makes two people acting on one case at once fail the second save instead of both succeeding.
    """

    region_scope = "claim__region"

    claim = models.OneToOneField(
        Claim, verbose_name=_("claim"), on_delete=models.PROTECT, related_name="reimbursement_case")
    state = FSMField(_("state"), max_length=12, choices=CaseState.choices, default=CaseState.RECEIVED, protected=True)
    received_on = models.DateField(_("received on"))
    documents = models.CharField(_("documents received"), max_length=300, blank=True)
    payee_name = models.CharField(_("payee"), max_length=64, blank=True)
    payee_bank = models.CharField(_("payee bank"), max_length=64, blank=True)
    payee_account = models.CharField(_("payee account"), max_length=32, blank=True)
    sla_working_days = models.PositiveSmallIntegerField(_("allowed working days"))
    sla_due_on = models.DateField(_("due on"), null=True, blank=True, help_text=_("Empty while paused or exempted."))
    sla_provisional = models.BooleanField(_("deadline provisional"), default=False)
    exempt = models.BooleanField(_("exempted from the clock"), default=False)
    exempt_kind = models.CharField(
        _("exemption"), max_length=16, blank=True,
        choices=[("special", _("Special case (特殊病案)")), ("doubtful", _("Doubtful case (疑问病案)"))])
    exempt_reason = models.CharField(_("reason for exemption"), max_length=300, blank=True)
    exempt_signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("exemption signed off by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("registered by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    initial_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("initial reviewer"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    initial_reviewed_at = models.DateTimeField(_("initially reviewed at"), null=True, blank=True)
    re_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("re-reviewer"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    re_reviewed_at = models.DateTimeField(_("re-reviewed at"), null=True, blank=True)
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    payment_reference = models.CharField(_("payment reference"), max_length=64, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("paid by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    refusal_reason = models.CharField(_("reason for refusal"), max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("manual reimbursement")
        verbose_name_plural = _("manual reimbursements")
        ordering = ["sla_due_on", "id"]
        constraints = [
            # Four eyes (SPEC §4.4), also in the database: the re-reviewer is never the initial reviewer.
            models.CheckConstraint(
                condition=Q(re_reviewer__isnull=True) | ~Q(re_reviewer=F("initial_reviewer")),
                name="case_four_eyes",
                violation_error_message=_("The re-reviewer must be a different person from the initial reviewer."),
            ),
            models.CheckConstraint(
                condition=Q(exempt=False) | (~Q(exempt_reason="") & Q(exempt_signed_off_by__isnull=False)),
                name="case_exemption_signed",
                violation_error_message=_("An exemption needs a reason and a head's sign-off."),
            ),
        ]
        indexes = [
            models.Index(fields=["state", "sla_due_on"], name="case_state_due"),
            # The queues' order: lets PostgreSQL walk the first page in due order instead of sorting every open case.
            # Open cases only: closed ones keep their (old, early) due dates and would otherwise sit at the front of
            # the index, walked past on every page view — more of them every year.
            models.Index(fields=["sla_due_on", "received_on", "id"], name="case_open_due_order",
                         condition=Q(state__in=OPEN_CASE_STATES)),
            # Keyset pages (claims.paging) read undated cases (paused, exempted: last in the order) as their own
            # range. With only the index above PostgreSQL preferred `case_state_due` and sorted every undated case
            # for the last page (68 ms for a county's 16 000; 0.8 ms walking this one backwards, bench/README.md).
            models.Index(fields=["received_on", "id"], name="case_open_undated_order",
                         condition=Q(state__in=OPEN_CASE_STATES, sla_due_on__isnull=True)),
        ]
        permissions = [
            ("initial_review", _("Can do the initial review (初审)")),
            ("re_review", _("Can do the re-review (复核)")),
            ("pay_case", _("Can record payments")),
            ("exempt_case", _("Can exempt a case from the clock (head)")),
        ]

    def __str__(self):
        return str(self.claim)


class SlaPause(models.Model):
    """The clock stops while a case waits for the applicant's documents (退回补件) and resumes on resubmission."""

    region_scope = "case__claim__region"

    case = models.ForeignKey(ReimbursementCase, verbose_name=_("case"), on_delete=models.CASCADE, related_name="pauses")
    paused_on = models.DateField(_("paused on"))
    resumed_on = models.DateField(_("resumed on"), null=True, blank=True)
    reason = models.CharField(_("documents requested"), max_length=300)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("paused by"), on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("clock pause")
        verbose_name_plural = _("clock pauses")
        ordering = ["paused_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(resumed_on__isnull=True) | Q(resumed_on__gte=F("paused_on")), name="pause_ordered"),
            models.UniqueConstraint(
                fields=["case"], condition=Q(resumed_on__isnull=True), name="pause_one_open"),
        ]

    def __str__(self):
        return f"{self.case} {self.paused_on}–{self.resumed_on or ''}"


class CaseEvent(models.Model):
    """Who moved a case (manual reimbursement or hospital batch) from which state to which, when, and why."""

    case = models.ForeignKey(
        ReimbursementCase, verbose_name=_("case"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="events")
    batch = models.ForeignKey(
        "claims.HospitalBatch", verbose_name=_("batch"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="events")
    transition = models.CharField(_("action"), max_length=32)
    from_state = models.CharField(_("from"), max_length=16)
    to_state = models.CharField(_("to"), max_length=16)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("at"), auto_now_add=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(case__isnull=False, batch__isnull=True) | Q(case__isnull=True, batch__isnull=False),
                name="caseevent_one_subject"),
        ]

    def __str__(self):
        return f"{self.transition} {self.from_state}→{self.to_state}"
