"""Reads of the monitoring app: the item queues and the dashboard's figures, set-based and region-scoped."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum

from assistance.models import Application
from assistance.models.choices import ApplicationState
from claims.models import AssistanceBenefitRule, HospitalBatch, PaymentLine, ReimbursementCase, Settlement
from claims.models.batches import BatchState
from claims.models.choices import Layer, VisitType
from claims.models.reimbursement import CaseState
from enrollment.models import Enrollment, Identity, Region
from enrollment.models.ledger import EnrollmentStatus
from enrollment.scoping import scope_queryset
from enrollment.selectors import COVERAGE_TARGET_PERCENT, policy_in_force

from .models import (
    OPEN_STATUSES,
    DashboardSnapshot,
    ListKind,
    NightRun,
    PartStatus,
    RunPart,
    RunStatus,
    WarningItem,
)

HUNDRED = Decimal(100)
CACHE_SECONDS = 6 * 3600
NIGHTS_SHOWN = 30
NEAR_LIMIT = Decimal("0.8")  # "near the annual limit": at least 80 % of it paid
SLA_KINDS = ("manual", "batch", "application")


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
    limits: list[dict] = field(default_factory=list)  # assistance against the annual limits, per region below
    from_snapshot: bool = False


def latest_run(region: Region) -> NightRun | None:
    """The latest finished night covering `region` (a run of the region itself or of a region above it)."""
    codes = [code for code in region.path.strip("/").split("/") if code]
    return (NightRun.objects.filter(region__code__in=codes).exclude(status=RunStatus.RUNNING)
            .order_by("-data_date", "-finished_at", "-id").first())


def dashboard(region: Region, *, today: dt.date) -> Dashboard:
    """The dashboard of `region` and everything under it.

    The warnings (by list and status, and over the nights) are counted live — they change as staff handle items,
    and the figures must equal the lists behind them — in two grouped queries over the items and the run parts.
    The expensive figures (coverage over the whole ledger, reimbursement ratios, deadlines kept, assistance against
    the annual limits) are the snapshot the closing night stored for the region (`DashboardSnapshot`); a region
    without one (no night has covered it yet, or a township) computes them once and caches them per run."""
    run = latest_run(region)
    year = run.data_date.year if run else today.year
    day = run.data_date if run else today
    items, night_rows = _warning_counts(region)
    snapshot = None
    if run is not None:
        snapshot = DashboardSnapshot.objects.filter(run=run, region=region).values_list("figures", flat=True).first()
    if snapshot is None:
        key = f"monitoring:dashboard:{region.pk}:{run.pk if run else 0}:{day.isoformat()}"
        snapshot = cache.get(key)
        if snapshot is None:
            snapshot = region_figures(region, year=year, day=day)[region.pk]
            cache.set(key, snapshot, CACHE_SECONDS)
        from_snapshot = False
    else:
        from_snapshot = True
    board = board_from_figures(snapshot)
    return Dashboard(
        region=region, year=year,
        last_run=None if run is None else {
            "pk": run.pk, "data_date": run.data_date, "status": run.get_status_display(),
            "started_at": run.started_at, "finished_at": run.finished_at},
        items=items, nights=night_rows, coverage=board["coverage"], ratios=board["ratios"], sla=board["sla"],
        assistance={**board["assistance"], "below_floor": items[ListKind.ASSISTANCE_FLOOR]["present"]},
        limits=board["limits"], from_snapshot=from_snapshot,
        kinds=[(kind, str(label)) for kind, label in ListKind.choices])


def _warning_counts(region: Region) -> tuple[dict[str, dict[str, int]], list[dict]]:
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
    return items, night_rows


# ------------------------------------------------------------------------------------------ the stored figures

def _blank() -> dict:
    return {
        "coverage": {"insured": 0, "should": 0, "not_insured": 0},
        "ratios": {},
        "sla": {kind: {"paid": 0, "paid_in_time": 0, "open_overdue": 0} for kind in SLA_KINDS},
        "assistance": {"paid": "0.00", "people": 0},
        "limits": {"people": 0, "paid": "0.00", "limit": "0.00", "reached": 0, "near": 0, "without_limit": 0},
        "below": [],
    }


def _add(target: dict, source: dict) -> None:
    """Add one region's additive figures into another's (counts and amounts; amounts kept as strings)."""
    for key, value in source.items():
        if isinstance(value, dict):
            _add(target.setdefault(key, {}), value)
        elif isinstance(value, str):
            target[key] = str(Decimal(target.get(key, "0")) + Decimal(value))
        elif isinstance(value, int):
            target[key] = target.get(key, 0) + value


def _money(value) -> str:
    return str(Decimal(str(value or 0)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def region_figures(region: Region, *, year: int, day: dt.date) -> dict[int, dict]:
    """The dashboard's additive figures for `region` and every region below it, keyed by region id: each kind of
    figure is one query grouped by the rows' own region, rolled up along the region paths in Python (a few
    hundred regions at most). JSON-ready (amounts as strings), as the snapshot stores them."""
    regions = list(Region.objects.filter(path__startswith=region.path).order_by("path"))
    path_of = {r.pk: r.path for r in regions}
    per_row_region: dict[int, dict] = {}

    def bucket(region_id) -> dict:
        return per_row_region.setdefault(region_id, _blank())

    # The region ids, not a join on the path: the planner then sees how many rows a prefecture holds (a join on
    # ``path LIKE`` made it guess a few thousand of 600 000 settlements and probe an index for each one).
    ids = list(path_of)
    subtree = Q(region_id__in=ids)
    holders = Exists(Identity.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=dt.date(year, 1, 1)), valid_from__lte=dt.date(year, 12, 31),
        person_id=OuterRef("person_id")))
    for row in (Enrollment.objects.filter(subtree, plan_year=year).filter(holders).values("region_id").order_by()
                .annotate(insured=Count("pk", filter=Q(status=EnrollmentStatus.INSURED)),
                          should=Count("pk", filter=Q(status__in=(
                              EnrollmentStatus.SHOULD_ENROL, EnrollmentStatus.INSURED,
                              EnrollmentStatus.NOT_INSURED))),
                          not_insured=Count("pk", filter=Q(status=EnrollmentStatus.NOT_INSURED)))):
        bucket(row.pop("region_id"))["coverage"] = row

    for row in (Settlement.objects.filter(year=year, reversed_at__isnull=True, claim__visit_type=VisitType.INPATIENT,
                                          claim__region_id__in=ids)
                .values("claim__region_id", "identity__category__name").order_by()
                .annotate(claims=Count("pk"), scope=Sum("claim__policy_scope_cost"), basic=Sum("basic"),
                          critical=Sum("critical"), assistance=Sum("assistance"))):
        name = row["identity__category__name"] or ""
        bucket(row["claim__region_id"])["ratios"][name] = {
            "claims": row["claims"], **{k: _money(row[k]) for k in ("scope", "basic", "critical", "assistance")}}

    open_states = (CaseState.RECEIVED, CaseState.REVIEWED, CaseState.APPROVED)
    for row in (ReimbursementCase.objects.filter(claim__region_id__in=ids)
                .values("claim__region_id").order_by().annotate(
                    paid=Count("pk", filter=Q(state=CaseState.PAID, paid_on__year=year)),
                    paid_in_time=Count("pk", filter=Q(state=CaseState.PAID, paid_on__year=year,
                                                      paid_on__lte=F("sla_due_on"))),
                    open_overdue=Count("pk", filter=Q(state__in=open_states, exempt=False, sla_due_on__lt=day)))):
        bucket(row.pop("claim__region_id"))["sla"]["manual"] = row
    for row in (HospitalBatch.objects.filter(subtree).values("region_id").order_by().annotate(
            paid=Count("pk", filter=Q(advance_paid_on__year=year)),
            paid_in_time=Count("pk", filter=Q(advance_paid_on__year=year, advance_paid_on__lte=F("advance_due_on"))),
            open_overdue=Count("pk", filter=Q(state=BatchState.RECEIVED, advance_due_on__lt=day)))):
        bucket(row.pop("region_id"))["sla"]["batch"] = row
    # An application's deadline is cleared when it is paid: the deadline it was paid against is the last one its
    # history recorded.
    last_due = Subquery(Application.history.model.objects.filter(id=OuterRef("pk"), due_on__isnull=False)
                        .order_by("-history_date", "-history_id").values("due_on")[:1])
    paid = Q(state=ApplicationState.PAID, paid_on__year=year)
    for row in (Application.objects.filter(subtree).values("region_id").order_by().annotate(
            paid=Count("pk", filter=paid),
            paid_in_time=Count("pk", filter=paid & Q(paid_on__lte=last_due)),
            open_overdue=Count("pk", filter=Q(state__in=(ApplicationState.RECEIVED, ApplicationState.REVIEWED,
                                                         ApplicationState.APPROVED), due_on__lt=day)))):
        bucket(row.pop("region_id"))["sla"]["application"] = row

    for region_id, row in _assistance_against_limits(regions, year=year, day=day).items():
        bucket(region_id)["limits"] = row
        bucket(region_id)["assistance"] = {"paid": row["paid"], "people": row["people"]}

    result = {}
    for target in regions:
        figures = _blank()
        for region_id, row in per_row_region.items():
            if path_of.get(region_id, "").startswith(target.path):
                _add(figures, row)
        figures["below"] = [{"code": r.code, "name": r.name, "limits": {}} for r in regions
                            if r.parent_id == target.pk]
        result[target.pk] = figures
    for target in regions:  # each region's table of its children's assistance against the limits
        for child in result[target.pk]["below"]:
            child_region = next(r for r in regions if r.code == child["code"])
            child["limits"] = result[child_region.pk]["limits"]
            child["region_id"] = child_region.pk
    return result


def _assistance_against_limits(regions: list[Region], *, year: int, day: dt.date) -> dict[int, dict]:
    """Per person: the medical assistance paid this year (payment lines, supplements of approved applications
    included) against the person's annual limit (the highest of their categories' assistance rules in the policy
    in force); per region: people, paid, the sum of their limits, how many reached the limit and how many are near
    it. One statement per policy version (one for a prefecture on one policy), aggregated in the database."""
    by_policy: dict[int, list[int]] = {}
    for region in regions:
        policy = policy_in_force(region, day)
        if policy is not None:
            by_policy.setdefault(policy.pk, []).append(region.pk)
    result: dict[int, dict] = {}
    identity, rule = Identity._meta.db_table, AssistanceBenefitRule._meta.db_table
    for policy_id, region_ids in by_policy.items():
        inner = (PaymentLine.objects.filter(year=year, layer=Layer.ASSISTANCE, person__region_id__in=region_ids)
                 .values("person_id", county=F("person__region_id")).order_by().annotate(paid=Sum("amount")))
        sql, params = inner.query.sql_with_params()
        with connection.cursor() as cursor:
            # The limit per person is one grouped join (a hash join on PostgreSQL), not a subquery per payment
            # line: as a correlated subquery it ran 600 000 times for a prefecture.
            cursor.execute(
                "SELECT x.county, COUNT(*), SUM(x.paid), SUM(l.lim), "  # noqa: S608 - the ORM's own compiled SQL
                "SUM(CASE WHEN l.lim IS NOT NULL AND ROUND(x.paid, 2) >= l.lim THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN l.lim IS NOT NULL AND ROUND(x.paid, 2) < l.lim AND ROUND(x.paid, 2) >= l.lim * %s "
                "THEN 1 ELSE 0 END), SUM(CASE WHEN l.lim IS NULL THEN 1 ELSE 0 END) "
                f"FROM ({sql}) x LEFT JOIN (SELECT i.person_id, MAX(r.annual_limit) AS lim FROM {identity} i "
                f"JOIN {rule} r ON r.category_id = i.category_id WHERE r.policy_id = %s GROUP BY i.person_id) l "
                "ON l.person_id = x.person_id WHERE x.paid <> 0 GROUP BY x.county", [NEAR_LIMIT, *params, policy_id])
            for county, people, paid, limits, reached, near, without in cursor.fetchall():
                result[county] = {"people": people, "paid": _money(paid), "limit": _money(limits),
                                  "reached": int(reached or 0), "near": int(near or 0),
                                  "without_limit": int(without or 0)}
    return result


def board_from_figures(figures: dict) -> dict:
    """The stored figures as the page shows them: percentages computed from the summed counts and amounts."""
    coverage = figures["coverage"]
    ratios = []
    for name, row in sorted(figures["ratios"].items()):
        scope = Decimal(row["scope"])
        basic, critical, assistance = (Decimal(row[k]) for k in ("basic", "critical", "assistance"))
        ratios.append({
            "category": name or None, "claims": row["claims"], "scope": scope,
            "basic": percent(basic, scope), "critical": percent(critical, scope),
            "assistance": percent(assistance, scope), "total": percent(basic + critical + assistance, scope)})
    sla = [{"label": kind, **figures["sla"][kind],
            "percent": percent(figures["sla"][kind]["paid_in_time"], figures["sla"][kind]["paid"])}
           for kind in SLA_KINDS]

    def limit_row(row: dict) -> dict:
        row = {"people": 0, "paid": "0.00", "limit": "0.00", "reached": 0, "near": 0, "without_limit": 0, **row}
        paid, limit = Decimal(row["paid"]), Decimal(row["limit"])
        return {**row, "paid": paid, "limit": limit, "percent": percent(paid, limit)}

    limits = [{"code": child["code"], "name": child["name"], "region_id": child.get("region_id"),
               **limit_row(child["limits"])}
              for child in figures.get("below", [])]
    return {
        "coverage": {**coverage, "percent": percent(coverage["insured"], coverage["should"]),
                     "target": COVERAGE_TARGET_PERCENT,
                     "meets_target": coverage["should"] > 0
                     and coverage["insured"] * 100 >= coverage["should"] * COVERAGE_TARGET_PERCENT},
        "ratios": ratios, "sla": sla,
        "assistance": {**limit_row(figures["limits"]), "paid": Decimal(figures["assistance"]["paid"]),
                       "people": figures["assistance"]["people"]},
        "limits": limits,
    }
