"""Reads of the monitoring app: the item queues and the dashboard's figures, set-based and region-scoped."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum

from claims.models import HospitalBatch, PaymentLine, ReimbursementCase, Settlement
from claims.models.batches import BatchState
from claims.models.choices import Layer, VisitType
from claims.models.reimbursement import CaseState
from enrollment.models import Enrollment, Identity, Region
from enrollment.models.ledger import EnrollmentStatus
from enrollment.scoping import scope_queryset
from enrollment.selectors import COVERAGE_TARGET_PERCENT

from .models import OPEN_STATUSES, ListKind, NightRun, PartStatus, RunPart, RunStatus, WarningItem

HUNDRED = Decimal(100)
CACHE_SECONDS = 6 * 3600
NIGHTS_SHOWN = 30


def percent(part, whole) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part or 0) * HUNDRED / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# ------------------------------------------------------------------------------------------------------ queue

def item_queue(user, *, region: Region | None = None, kind: str = "", status: str = "", reason: str = "",
               assignee: str = "", cause: str = "") -> QuerySet[WarningItem]:
    """Items the user may see, filtered like the queue page's tabs. `assignee` is "me", "none" or a user id;
    `cause` is "present" (the last night still found it) or "gone"; an empty filter means all."""
    queryset = scope_queryset(WarningItem.objects.all(), user)
    if region is not None:
        queryset = queryset.filter(region__path__startswith=region.path)
    if kind:
        queryset = queryset.filter(kind=kind)
    if status == "open":
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    elif status:
        queryset = queryset.filter(status=status)
    if reason:
        queryset = queryset.filter(reason=reason)
    if assignee == "me":
        queryset = queryset.filter(assignee=user)
    elif assignee == "none":
        queryset = queryset.filter(assignee__isnull=True)
    elif assignee.isdigit():
        queryset = queryset.filter(assignee_id=int(assignee))
    if cause == "present":
        queryset = queryset.filter(cause_gone_on__isnull=True)
    elif cause == "gone":
        queryset = queryset.filter(cause_gone_on__isnull=False)
    return queryset.select_related("region", "person", "household", "hospital", "assignee").order_by(
        "verify_due_on", "id")


# ------------------------------------------------------------------------------------------------------ dashboard

@dataclass
class Dashboard:
    region: Region
    year: int
    last_run: dict | None
    items: dict[str, dict[str, int]]  # kind → status → count (plus "total", "present")
    nights: list[dict]
    coverage: dict
    ratios: list[dict]
    sla: list[dict]
    assistance: dict
    kinds: list[tuple[str, str]] = field(default_factory=list)


def latest_run(region: Region) -> NightRun | None:
    """The latest finished night covering `region` (a run of the region itself or of a region above it)."""
    codes = [code for code in region.path.strip("/").split("/") if code]
    return (NightRun.objects.filter(region__code__in=codes).exclude(status=RunStatus.RUNNING)
            .order_by("-data_date", "-finished_at", "-id").first())


def dashboard(region: Region, *, today: dt.date) -> Dashboard:
    """The dashboard of `region` and everything under it, cached per night's run (the key names the run)."""
    run = latest_run(region)
    key = f"monitoring:dashboard:{region.pk}:{run.pk if run else 0}:{today.isoformat()}"
    cached = cache.get(key)
    if cached is None:
        cached = _compute_dashboard(region, run, today=today)
        cache.set(key, cached, CACHE_SECONDS)
    return cached


def _compute_dashboard(region: Region, run: NightRun | None, *, today: dt.date) -> Dashboard:
    year = run.data_date.year if run else today.year
    subtree = Q(region__path__startswith=region.path)

    items: dict[str, dict[str, int]] = {kind: {"total": 0, "present": 0} for kind in ListKind.values}
    for row in (WarningItem.objects.filter(subtree).values("kind", "status").order_by()
                .annotate(n=Count("pk"), present=Count("pk", filter=Q(cause_gone_on__isnull=True)))):
        bucket = items[row["kind"]]
        bucket[row["status"]] = row["n"]
        bucket["total"] += row["n"]
        if row["status"] in OPEN_STATUSES:
            bucket["present"] += row["present"]

    # Warnings over time: per night, the latest run's parts (a rerun replaces the night's figures).
    latest_parts: dict[tuple, dict] = {}
    for row in (RunPart.objects.filter(subtree, status=PartStatus.DONE)
                .values("run_id", "run__data_date", "region_id", "kind", "new_count", "unchanged_count",
                        "closed_count").order_by("run__data_date", "run_id")):
        latest_parts[(row["run__data_date"], row["region_id"], row["kind"])] = row
    nights: dict[dt.date, dict[str, int]] = {}
    for (day, _region, kind), row in latest_parts.items():
        bucket = nights.setdefault(day, {})
        bucket[kind] = bucket.get(kind, 0) + row["new_count"] + row["unchanged_count"]
    night_rows = [{"date": day, **counts} for day, counts in sorted(nights.items())[-NIGHTS_SHOWN:]]

    holders = Exists(Identity.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=dt.date(year, 1, 1)), valid_from__lte=dt.date(year, 12, 31),
        person_id=OuterRef("person_id")))
    ledger = (Enrollment.objects.filter(subtree, plan_year=year).filter(holders).aggregate(
        insured=Count("pk", filter=Q(status=EnrollmentStatus.INSURED)),
        should=Count("pk", filter=Q(status__in=(EnrollmentStatus.SHOULD_ENROL, EnrollmentStatus.INSURED,
                                                EnrollmentStatus.NOT_INSURED))),
        not_insured=Count("pk", filter=Q(status=EnrollmentStatus.NOT_INSURED))))
    coverage = {**ledger, "percent": percent(ledger["insured"], ledger["should"]),
                "target": COVERAGE_TARGET_PERCENT,
                "meets_target": ledger["should"] > 0 and ledger["insured"] * 100 >= ledger["should"]
                * COVERAGE_TARGET_PERCENT}

    ratios = []
    for row in (Settlement.objects.filter(year=year, reversed_at__isnull=True, claim__visit_type=VisitType.INPATIENT,
                                          claim__region__path__startswith=region.path)
                .values("identity__category__name").order_by("identity__category__name")
                .annotate(claims=Count("pk"), scope=Sum("claim__policy_scope_cost"), basic=Sum("basic"),
                          critical=Sum("critical"), assistance=Sum("assistance"))):
        scope = row["scope"] or 0
        ratios.append({
            "category": row["identity__category__name"], "claims": row["claims"], "scope": scope,
            "basic": percent(row["basic"], scope), "critical": percent(row["critical"], scope),
            "assistance": percent(row["assistance"], scope),
            "total": percent((row["basic"] or 0) + (row["critical"] or 0) + (row["assistance"] or 0), scope)})

    cases = ReimbursementCase.objects.filter(claim__region__path__startswith=region.path).aggregate(
        paid=Count("pk", filter=Q(state=CaseState.PAID, paid_on__year=year)),
        paid_in_time=Count("pk", filter=Q(state=CaseState.PAID, paid_on__year=year,
                                          paid_on__lte=F("sla_due_on"))),
        open_overdue=Count("pk", filter=Q(state__in=(CaseState.RECEIVED, CaseState.REVIEWED, CaseState.APPROVED),
                                          exempt=False, sla_due_on__lt=today)))
    batches = HospitalBatch.objects.filter(subtree).aggregate(
        paid=Count("pk", filter=Q(advance_paid_on__year=year)),
        paid_in_time=Count("pk", filter=Q(advance_paid_on__year=year, advance_paid_on__lte=F("advance_due_on"))),
        open_overdue=Count("pk", filter=Q(state=BatchState.RECEIVED, advance_due_on__lt=today)))
    sla = [
        {"label": "manual", **cases, "percent": percent(cases["paid_in_time"], cases["paid"])},
        {"label": "batch", **batches, "percent": percent(batches["paid_in_time"], batches["paid"])},
    ]

    assistance = PaymentLine.objects.filter(
        year=year, layer=Layer.ASSISTANCE, claim__region__path__startswith=region.path).aggregate(
        paid=Sum("amount"), people=Count("person_id", distinct=True))

    return Dashboard(
        region=region, year=year,
        last_run=None if run is None else {
            "pk": run.pk, "data_date": run.data_date, "status": run.get_status_display(),
            "started_at": run.started_at, "finished_at": run.finished_at},
        items=items, nights=night_rows, coverage=coverage, ratios=ratios, sla=sla,
        assistance={"paid": assistance["paid"] or Decimal("0.00"), "people": assistance["people"],
                    "below_floor": items[ListKind.ASSISTANCE_FLOOR]["present"]},
        kinds=[(kind, str(label)) for kind, label in ListKind.choices])
