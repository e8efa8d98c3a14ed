"""Early-warning lists (防范化解因病返贫致贫, SPEC §6): the nightly run record, the items and their evidence, and the
monitoring thresholds of a policy version."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from claims.models import Claim, Hospital, HospitalBatch, ReimbursementCase
from enrollment.models import Household, IdentityCategory, Person, PolicyVersion, Region

RATIO = {"max_digits": 5, "decimal_places": 4}
MONEY = {"max_digits": 14, "decimal_places": 2}


class ThresholdBasis(models.TextChoices):
    AMOUNT = "amount", _("Fixed amount (yuan)")
    RURAL_INCOME_SHARE = "rural_income_share", _("Share of last year's rural per-capita disposable income")


class MonitoringPolicy(models.Model):
    """Thresholds of the warning lists in a policy version (the policy file's ``monitoring:`` section)."""

    region_scope = "policy__region"
    region_scope_reads_ancestors = True

    policy = models.OneToOneField(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.CASCADE, related_name="monitoring")
    relapse_basis = models.CharField(
        _("threshold basis, lifted and monitored people (因病返贫)"), max_length=24, choices=ThresholdBasis.choices)
    relapse_value = models.DecimalField(
        _("threshold, lifted and monitored people"), max_digits=14, decimal_places=4,
        help_text=_("Yuan for a fixed amount; a fraction (e.g. 0.5) of the income statistic otherwise."))
    poverty_basis = models.CharField(
        _("threshold basis, other rural residents (因病致贫)"), max_length=24, choices=ThresholdBasis.choices)
    poverty_value = models.DecimalField(_("threshold, other rural residents"), max_digits=14, decimal_places=4)
    relapse_categories = models.ManyToManyField(
        IdentityCategory, verbose_name=_("lifted and monitored categories"), related_name="+", blank=True)
    key_categories = models.ManyToManyField(
        IdentityCategory, verbose_name=_("key assistance groups"), related_name="+", blank=True)
    other_categories = models.ManyToManyField(
        IdentityCategory, verbose_name=_("other low-income groups"), related_name="+", blank=True)
    key_floor = models.DecimalField(_("assistance floor, key groups"), **RATIO)
    other_floor = models.DecimalField(_("assistance floor, other low-income groups"), **RATIO)
    verify_working_days = models.PositiveSmallIntegerField(_("verification due in (working days)"))
    history = HistoricalRecords(m2m_fields=[relapse_categories, key_categories, other_categories])

    class Meta:
        verbose_name = _("monitoring thresholds")
        verbose_name_plural = _("monitoring thresholds")
        constraints = [
            models.CheckConstraint(
                condition=Q(key_floor__gte=0, key_floor__lte=1, other_floor__gte=0, other_floor__lte=1),
                name="monitoringpolicy_floors_range"),
            models.CheckConstraint(condition=Q(relapse_value__gte=0, poverty_value__gte=0),
                                   name="monitoringpolicy_thresholds_nonnegative"),
        ]

    def __str__(self):
        return str(self.policy)


class ListKind(models.TextChoices):
    HIGH_COST = "high_cost", _("High medical cost (高额医疗费用预警)")
    APPLY_CANDIDATE = "apply_candidate", _("Apply-to-receive candidates")
    INSURANCE_GAP = "insurance_gap", _("Insurance gaps (应保尽保)")
    DEADLINE = "deadline", _("Deadlines due or overdue")
    OUT_OF_CATALOG = "out_of_catalog", _("Out-of-catalog overruns by hospital")
    ASSISTANCE_FLOOR = "assistance_floor", _("Assistance below the floor")


class Reason(models.TextChoices):
    """What exactly triggered an item, within its list."""

    RELAPSE_PERSON = "relapse_person", _("Person, lifted or monitored (因病返贫)")
    RELAPSE_HOUSEHOLD = "relapse_household", _("Household, lifted or monitored (因病返贫)")
    POVERTY_PERSON = "poverty_person", _("Person, other rural resident (因病致贫)")
    POVERTY_HOUSEHOLD = "poverty_household", _("Household, other rural resident (因病致贫)")
    BURDEN_60 = "burden_60", _("Household meets the 60 % burden test")
    NOT_INSURED = "not_insured", _("Identity holder not insured")
    SUBSIDY_MISSING = "subsidy_missing", _("Subsidy missing")
    SUBSIDY_AFTER_IDENTITY = "subsidy_after_identity", _("Subsidy after the identity ended")
    MANUAL_CLAIM = "manual_claim", _("Manual reimbursement")
    BATCH_ADVANCE = "batch_advance", _("Hospital batch, advance payment")
    BATCH_FINAL = "batch_final", _("Hospital batch, final payment")
    APPLICATION = "application", _("Assistance application")
    OUT_OF_CATALOG = "out_of_catalog", _("Out-of-catalog share above the limit")
    KEY_BELOW_FLOOR = "key_below_floor", _("Key group below the assistance floor")
    OTHER_BELOW_FLOOR = "other_below_floor", _("Other low-income person below the assistance floor")


class AnswerMark(models.TextChoices):
    """A department's answer about the identity of an item's person (seed 001 Q13)."""

    NEW = "new", _("New identity")
    CONFIRMED = "confirmed", _("Identity confirmed")
    ENDED = "ended", _("Identity ended")


class ItemStatus(models.TextChoices):
    PENDING = "pending", _("To verify (待核实)")
    VERIFIED = "verified", _("Verified (已核实)")
    EXCLUDED = "excluded", _("Not included (不纳入)")
    ASSISTING = "assisting", _("Being assisted (帮扶中)")
    CLOSED = "closed", _("Closed off (已销号)")


OPEN_STATUSES = (ItemStatus.PENDING, ItemStatus.VERIFIED, ItemStatus.ASSISTING)


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")
    FAILED = "failed", _("Finished with errors")


class NightRun(models.Model):
    """One night (or a rerun) of the warning lists for a region and everything under it."""

    region_scope = "region"

    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    data_date = models.DateField(_("data date"))
    status = models.CharField(_("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")

    class Meta:
        verbose_name = _("warning run")
        verbose_name_plural = _("warning runs")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["region", "status", "data_date"], name="nightrun_region_status")]

    def __str__(self):
        return f"{self.region.name} {self.data_date}"


class PartStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class RunPart(models.Model):
    """One list for one county within a night: the unit a Celery task computes, with its counts."""

    region_scope = "region"

    run = models.ForeignKey(NightRun, verbose_name=_("warning run"), on_delete=models.CASCADE, related_name="parts")
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("list"), max_length=20, choices=ListKind.choices)
    status = models.CharField(_("status"), max_length=8, choices=PartStatus.choices, default=PartStatus.PENDING)
    policy = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    new_count = models.PositiveIntegerField(_("new"), default=0)
    unchanged_count = models.PositiveIntegerField(_("still present"), default=0)
    closed_count = models.PositiveIntegerField(_("cause gone"), default=0)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("warning run part")
        verbose_name_plural = _("warning run parts")
        ordering = ["run_id", "region__code", "kind"]
        constraints = [models.UniqueConstraint(fields=["run", "region", "kind"], name="runpart_unique")]

    def __str__(self):
        return f"{self.run} {self.region.code} {self.get_kind_display()}"


class RunList(models.Model):
    """One list of a night, computed once for the run's whole region: its candidates land in `NightCandidate`,
    from which each county's `RunPart` keeps its items."""

    region_scope = "run__region"

    run = models.ForeignKey(NightRun, verbose_name=_("warning run"), on_delete=models.CASCADE, related_name="lists")
    kind = models.CharField(_("list"), max_length=20, choices=ListKind.choices)
    status = models.CharField(_("status"), max_length=8, choices=PartStatus.choices, default=PartStatus.PENDING)
    candidates = models.PositiveIntegerField(_("candidates"), default=0)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    seconds = models.DecimalField(_("seconds"), max_digits=8, decimal_places=2, null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("warning run list")
        verbose_name_plural = _("warning run lists")
        ordering = ["run_id", "kind"]
        constraints = [models.UniqueConstraint(fields=["run", "kind"], name="runlist_unique")]

    def __str__(self):
        return f"{self.run} {self.get_kind_display()}"


STAGED_LINK = {"related_name": "+", "db_constraint": False, "db_index": False}


class NightCandidate(models.Model):
    """What a list should hold tonight, one row per entry, already split by county: the staging rows the county
    parts merge into items with INSERT … SELECT. Deleted when the run closes (the evidence keeps the figures)."""

    region_scope = "region"

    # Only the indexes the merges use (below): every other one would slow the night's COPY and UPDATEs.
    run = models.ForeignKey(NightRun, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=20, choices=ListKind.choices)
    reason = models.CharField(max_length=24, choices=Reason.choices)
    subject_key = models.CharField(max_length=40)
    period = models.PositiveSmallIntegerField()
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+", db_index=False)
    person = models.ForeignKey(Person, null=True, on_delete=models.CASCADE, **STAGED_LINK)
    household = models.ForeignKey(Household, null=True, on_delete=models.CASCADE, **STAGED_LINK)
    hospital = models.ForeignKey(Hospital, null=True, on_delete=models.CASCADE, **STAGED_LINK)
    case = models.ForeignKey(ReimbursementCase, null=True, on_delete=models.CASCADE, **STAGED_LINK)
    batch = models.ForeignKey(HospitalBatch, null=True, on_delete=models.CASCADE, **STAGED_LINK)
    claim = models.ForeignKey(Claim, null=True, on_delete=models.CASCADE, **STAGED_LINK)
    figures = models.JSONField(default=dict)
    amount = models.DecimalField(null=True, **MONEY)
    # Filled by the merge: the item this candidate became, and whether the night created it.
    item_id = models.BigIntegerField(null=True)
    is_new = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("staged warning entry")
        verbose_name_plural = _("staged warning entries")
        constraints = [models.UniqueConstraint(fields=["run", "kind", "reason", "subject_key", "period"],
                                               name="nightcandidate_once")]
        indexes = [models.Index(fields=["run", "kind", "region"], name="nightcandidate_part"),
                   models.Index(fields=["item_id"], name="nightcandidate_item")]

    def __str__(self):
        return f"{self.run_id} {self.kind} {self.subject_key}"


class DashboardSnapshot(models.Model):
    """The dashboard's expensive figures (coverage, reimbursement ratios, deadlines kept, assistance against the
    annual limits) for one region as the night that closed computed them, so a page view reads one row."""

    region_scope = "region"

    run = models.ForeignKey(NightRun, verbose_name=_("warning run"), on_delete=models.CASCADE,
                            related_name="snapshots")
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField(_("year"))
    figures = models.JSONField(_("figures"))
    computed_at = models.DateTimeField(_("computed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("dashboard snapshot")
        verbose_name_plural = _("dashboard snapshots")
        constraints = [models.UniqueConstraint(fields=["run", "region"], name="dashboardsnapshot_once")]

    def __str__(self):
        return f"{self.run} {self.region.code}"


class WarningItem(models.Model):
    """An entry of a warning list: who (a person, household, hospital, claim or batch), why, and its handling.

    One row per list, reason, subject and period, enforced by the database, so a rerun or a redelivered task can
    never add a second one. A night never changes the handling; when the cause has gone it sets ``cause_gone_on``.
    """

    region_scope = "region"

    kind = models.CharField(_("list"), max_length=20, choices=ListKind.choices)
    reason = models.CharField(_("reason"), max_length=24, choices=Reason.choices)
    subject_key = models.CharField(_("subject"), max_length=40, editable=False)
    period = models.PositiveSmallIntegerField(_("year"))
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(
        Person, verbose_name=_("person"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    household = models.ForeignKey(
        Household, verbose_name=_("household"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    hospital = models.ForeignKey(
        Hospital, verbose_name=_("hospital"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(
        ReimbursementCase, verbose_name=_("manual reimbursement"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    batch = models.ForeignKey(
        HospitalBatch, verbose_name=_("hospital batch"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    claim = models.ForeignKey(
        Claim, verbose_name=_("claim"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    figures = models.JSONField(_("figures"), default=dict, help_text=_("As of the last night that saw the cause."))
    amount = models.DecimalField(_("amount"), null=True, blank=True, **MONEY)
    first_seen_on = models.DateField(_("first seen"))
    last_seen_on = models.DateField(_("last seen"))
    cause_gone_on = models.DateField(
        _("cause gone on"), null=True, blank=True, help_text=_("Set by a night that no longer finds the cause."))
    status = models.CharField(_("status"), max_length=10, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("assignee"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    verify_due_on = models.DateField(_("verification due on"), null=True, blank=True)
    verify_due_provisional = models.BooleanField(_("due date provisional"), default=False)
    exclusion_reason = models.CharField(_("reason not included"), max_length=300, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    answer = models.CharField(_("department's answer"), max_length=10, choices=AnswerMark.choices, blank=True)
    answer_detail = models.CharField(_("answer details"), max_length=200, blank=True)
    answered_on = models.DateField(_("answered on"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("last handled by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+")
    handled_at = models.DateTimeField(_("last handled at"), null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["last_seen_on", "figures", "amount"])

    class Meta:
        verbose_name = _("warning item")
        verbose_name_plural = _("warning items")
        ordering = ["kind", "status", "verify_due_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "reason", "subject_key", "period"], name="warningitem_once"),
            models.CheckConstraint(
                condition=~Q(status="excluded") | ~Q(exclusion_reason=""),
                name="warningitem_exclusion_has_reason",
                violation_error_message=_("Give the reason why the item is not included."),
            ),
            models.CheckConstraint(
                condition=Q(person__isnull=False) | Q(household__isnull=False) | Q(hospital__isnull=False)
                | Q(case__isnull=False) | Q(batch__isnull=False) | Q(claim__isnull=False),
                name="warningitem_has_subject"),
        ]
        indexes = [
            models.Index(fields=["region", "kind", "status"], name="warningitem_region_kind"),
            models.Index(fields=["assignee", "status"], name="warningitem_assignee"),
        ]
        permissions = [
            ("handle_warningitem", _("Can verify, exclude, assist and close warning items")),
            ("export_warnings", _("Can export warning lists for departments")),
            ("run_warnings", _("Can start a warning run")),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.get_reason_display()} · {self.subject_key}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class WarningEvidence(models.Model):
    """The figures of an item as a night found them, written when they first appear and whenever they change,
    so a later night with different data adds a row instead of overwriting what staff verified against."""

    region_scope = "item__region"

    item = models.ForeignKey(WarningItem, verbose_name=_("warning item"), on_delete=models.CASCADE,
                             related_name="evidence")
    run = models.ForeignKey(NightRun, verbose_name=_("warning run"), null=True, blank=True,
                            on_delete=models.SET_NULL, related_name="+")
    data_date = models.DateField(_("data date"))
    figures = models.JSONField(_("figures"))
    cause_gone = models.BooleanField(_("cause gone"), default=False)

    class Meta:
        verbose_name = _("warning evidence")
        verbose_name_plural = _("warning evidence")
        ordering = ["item_id", "data_date", "id"]
        constraints = [models.UniqueConstraint(fields=["item", "data_date"], name="warningevidence_once_per_night")]

    def __str__(self):
        return f"{self.item_id} {self.data_date}"
