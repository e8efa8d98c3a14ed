from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .choices import FundingSource, Scheme
from .identities import IdentityCategory
from .people import Person
from .policy import PolicyVersion
from .regions import Region

MONEY = {"max_digits": 14, "decimal_places": 2}


class EnrollmentStatus(models.TextChoices):
    SHOULD_ENROL = "should", _("Should be insured")
    INSURED = "insured", _("Insured")
    NOT_INSURED = "not_insured", _("Not insured")
    CANNOT_ENROL = "cannot", _("Cannot be insured")


class CannotEnrolReason(models.TextChoices):
    MILITARY = "military", _("Joined the military")
    SCHOOL = "school", _("Enrolled at school elsewhere")
    EMPLOYEE_SCHEME = "employee_scheme", _("Insured under the employee scheme")
    DECEASED = "deceased", _("Deceased")
    IMPRISONED = "imprisoned", _("Serving a sentence")
    ABROAD = "abroad", _("Settled abroad")
    INSURED_ELSEWHERE = "insured_elsewhere", _("Insured in another region")
    OTHER = "other", _("Other")


class Enrollment(models.Model):
    """One row of the enrolment ledger (参保台账): a person in a plan year."""

    region_scope = "region"

    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="enrollments")
    plan_year = models.PositiveSmallIntegerField(_("plan year"))
    # Denormalised from the person at creation: the ledger stays where it was kept even if the person moves,
    # and region-scoped lists and coverage rates need no join.
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    scheme = models.CharField(_("scheme"), max_length=16, choices=Scheme.choices, default=Scheme.RESIDENT_TIER1)
    status = models.CharField(
        _("status"), max_length=16, choices=EnrollmentStatus.choices, default=EnrollmentStatus.SHOULD_ENROL)
    cannot_reason = models.CharField(_("reason not insurable"), max_length=32, choices=CannotEnrolReason.choices,
                                     blank=True)
    cannot_evidence = models.CharField(_("evidence"), max_length=200, blank=True)
    coverage_start = models.DateField(_("covered from"), null=True, blank=True)
    coverage_end = models.DateField(_("covered until"), null=True, blank=True)
    contribution_due = models.DecimalField(_("contribution due"), default=0, **MONEY)
    subsidy_amount = models.DecimalField(_("subsidy"), default=0, **MONEY)
    subsidy_category = models.ForeignKey(
        IdentityCategory, verbose_name=_("subsidy category"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    subsidy_funding_source = models.CharField(
        _("subsidy funding source"), max_length=32, choices=FundingSource.choices, blank=True)
    subsidy_province = models.DecimalField(_("province share"), default=0, **MONEY)
    subsidy_prefecture = models.DecimalField(_("prefecture share"), default=0, **MONEY)
    subsidy_county = models.DecimalField(_("county share"), default=0, **MONEY)
    subsidy_granted_on = models.DateField(_("subsidy granted on"), null=True, blank=True)
    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    person_paid = models.DecimalField(_("paid by the person"), default=0, **MONEY)
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolment ledger")
        ordering = ["-plan_year", "region_id", "person_id"]
        constraints = [
            models.UniqueConstraint(fields=["person", "plan_year"], name="enrollment_person_year"),
            models.CheckConstraint(
                condition=Q(subsidy_amount__gte=0, subsidy_amount__lte=F("contribution_due")),
                name="enrollment_subsidy_within_due",
                violation_error_message=_("The subsidy cannot exceed the contribution due."),
            ),
            models.CheckConstraint(
                condition=Q(subsidy_amount=F("subsidy_province") + F("subsidy_prefecture") + F("subsidy_county"))
                | Q(subsidy_province=0, subsidy_prefecture=0, subsidy_county=0),
                name="enrollment_shares_add_up",
                violation_error_message=_("Government shares must add up to the subsidy."),
            ),
            models.CheckConstraint(
                condition=~Q(status="cannot") | ~Q(cannot_reason=""),
                name="enrollment_cannot_has_reason",
                violation_error_message=_("Give the reason why the person cannot be insured."),
            ),
        ]
        indexes = [models.Index(fields=["region", "plan_year", "status"], name="enrollment_region_year_status")]

    def __str__(self):
        return f"{self.person_id} {self.plan_year}"

    @property
    def person_share(self):
        """What the person owes after the subsidy."""
        return self.contribution_due - self.subsidy_amount


class ProblemStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed (对账销号)")


class ProblemKind(models.TextChoices):
    NOT_INSURED = "not_insured", _("Identity holder not insured")
    SUBSIDY_MISSING = "subsidy_missing", _("Subsidy missing")
    SUBSIDY_EXCEEDS_DUE = "subsidy_exceeds", _("Subsidy above the contribution")
    PAID_ABOVE_DUE = "paid_above", _("Paid above the contribution")
    DUPLICATE_REGIONS = "duplicate", _("In the ledger of two regions")
    IDENTITY_ENDED = "identity_ended", _("Identity ended: subsidy to review")
    OTHER = "other", _("Other")


class LedgerProblem(models.Model):
    """A discrepancy in the ledger, assigned to a responsible unit with a deadline, and closed off (对账销号)."""

    region_scope = "region"

    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.CASCADE, related_name="problems")
    plan_year = models.PositiveSmallIntegerField(_("plan year"))
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=20, choices=ProblemKind.choices)
    description = models.CharField(_("description"), max_length=300)
    responsible_unit = models.CharField(_("responsible unit"), max_length=100, blank=True)
    deadline = models.DateField(_("deadline"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=ProblemStatus.choices, default=ProblemStatus.OPEN)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("closed by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    closing_note = models.CharField(_("closing note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("found at"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("ledger problem")
        verbose_name_plural = _("ledger problems")
        ordering = ["status", "deadline", "id"]
        constraints = [
            # A problem is found once per person, year and kind while it is open; re-running detection adds nothing.
            models.UniqueConstraint(
                fields=["person", "plan_year", "kind"], condition=Q(status="open"), name="problem_open_unique"),
            models.CheckConstraint(
                condition=Q(status="open") | Q(closed_on__isnull=False),
                name="problem_closed_has_date",
            ),
        ]

    def __str__(self):
        # Messages name the person, not an internal id; callers listing many problems select_related("person").
        return f"{self.person.name} {self.plan_year} {self.get_kind_display()}"
