"""Reads that carry assistance rules, set-based.

``household_burden`` is the household figure of the apply-to-receive test (SPEC §5.1): used for one household on
an application page and for every household of a region by the nightly warning lists (SPEC §6, list 2).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import Case, DecimalField, Exists, F, OuterRef, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

from claims.models import PaymentLine
from claims.models.choices import Layer, VisitType
from claims.selectors import policies_for_service
from enrollment.gc_pause import cyclic_gc_paused
from enrollment.models import Household, PolicyVersion, Region
from enrollment.money import FEN, ZERO

from .models import Application, AssistancePolicy, OutsideCost, SpecialAidCase
from .models.choices import OPEN_APPLICATION_STATES, PAID_CASE_STATES, CostBasis
from .rules import HouseholdTest, eligible_cost, household_test, look_back_period

__all__ = [
    "STATEMENT_SETTINGS",
    "HouseholdBurden",
    "claim_lines_in_period",
    "household_burden",
    "households_with_open_application",
    "in_period",
]

_MONEY = DecimalField(max_digits=16, decimal_places=2)


@dataclass(frozen=True)
class HouseholdBurden:
    """One household's figures of the 60 % test and its outcome.

    ``claims_cost``: eligible out-of-pocket cost from settled claims of every member (wherever insured) whose date
    of service lies in the period; ``outside_cost``: verified outside items in the period; ``special_aid_paid``:
    case-by-case aid paid in the period. ``test`` holds the eligible cost, income, share, threshold, assets, cap,
    outcome (``passes`` / ``fails`` / ``undecided``) and what is missing.
    """

    household_id: int
    region_id: int
    policy_id: int | None
    period_start: dt.date | None
    period_end: dt.date
    claims_cost: Decimal
    outside_cost: Decimal
    special_aid_paid: Decimal
    test: HouseholdTest

    # Flat names for consumers that only want the figures.
    @property
    def eligible_cost(self) -> Decimal:
        return self.test.eligible_cost

    @property
    def annual_income(self) -> Decimal | None:
        return self.test.annual_income

    @property
    def threshold(self) -> Decimal | None:
        return self.test.threshold

    @property
    def outcome(self) -> str:
        return self.test.outcome


def _claim_layers(cost_basis: str) -> list[str]:
    # After insurance: what is left after basic and critical illness insurance and what the hospital bears, i.e.
    # the patient's part plus medical assistance. After assistance: the patient's part only.
    if cost_basis == CostBasis.AFTER_ASSISTANCE:
        return [Layer.PATIENT]
    return [Layer.PATIENT, Layer.ASSISTANCE]


def in_period(start: dt.date, end: dt.date, prefix: str = "") -> Q:
    """Claims whose date of service (discharge for inpatient care, else the visit) lies in [start, end].

    Written as two indexable ranges instead of a CASE, so the planner can use the date columns."""
    inpatient = Q(**{f"{prefix}visit_type": VisitType.INPATIENT, f"{prefix}discharged_on__isnull": False})
    return (inpatient & Q(**{f"{prefix}discharged_on__range": (start, end)})) | (
        ~inpatient & Q(**{f"{prefix}admitted_on__range": (start, end)}))


def _outside_amount(cost_basis: str):
    if cost_basis == CostBasis.AFTER_ASSISTANCE:
        return F("total_cost") - F("insurance_paid") - F("other_paid")
    return F("total_cost") - F("insurance_paid")


def _figures_sql(scope: dict, *, period: tuple[dt.date, dt.date] | None, cost_basis: str | None
                 ) -> tuple[str, list]:
    """One statement giving, for each household matching ``scope`` (Household lookups, e.g.
    ``{"region_id__in": [...]}``) in id order: id, region id, annual income, assets and the three sums of the
    period (claims, outside items, special aid; NULL when none) — or NULL sums when ``period`` is None.

    The households and each grouped sum are ORM querysets; only the outer LEFT JOINs are written here, because
    the ORM cannot join grouped subqueries. One pass over the payment lines grouped by household, and the
    households come back once, with their sums, instead of a separate read of every household plus a UNION of sums
    to match to them in Python.

    The scope is a literal list (region or household ids), never a subquery: the planner then estimates how many
    households a county holds and joins the payment lines by hash instead of probing them one person at a time."""
    households = Household.objects.filter(**scope).order_by().values("id", "region_id", "annual_income",
                                                                       "assets_value")
    sql, params = households.query.sql_with_params()
    if period is None:
        return (f"SELECT h.id, h.region_id, h.annual_income, h.assets_value, NULL, NULL, NULL "  # noqa: S608
                f"FROM ({sql}) h ORDER BY h.id"), list(params)
    start, end = period

    def on(prefix):
        return {f"{prefix}{lookup}": value for lookup, value in scope.items()}

    # Payment lines carry the plan year of their claim's date of service (Settlement.year, copied by reversals
    # and supplements): the year range is implied by the period and lets an index skip older years' lines.
    claims = (
        PaymentLine.objects.filter(in_period(start, end, "claim__"), layer__in=_claim_layers(cost_basis),
                                   year__range=(start.year, end.year), **on("person__household__"))
        .order_by().values(hid=F("person__household_id")).annotate(total=Sum("amount")))
    outside = (
        OutsideCost.objects.filter(verified=True, incurred_on__range=(start, end), **on("household__"))
        .order_by().values(hid=F("household_id"))
        .annotate(total=Sum(_outside_amount(cost_basis), output_field=_MONEY)))
    aid = (
        SpecialAidCase.objects.filter(state__in=PAID_CASE_STATES, paid_on__range=(start, end), **on("household__"))
        .order_by().values(hid=F("household_id")).annotate(total=Sum("amount")))
    parts = [queryset.query.sql_with_params() for queryset in (claims, outside, aid)]
    statement = (
        "SELECT h.id, h.region_id, h.annual_income, h.assets_value, c.total, o.total, a.total "  # noqa: S608
        f"FROM ({sql}) h LEFT JOIN ({parts[0][0]}) c ON c.hid = h.id "
        f"LEFT JOIN ({parts[1][0]}) o ON o.hid = h.id LEFT JOIN ({parts[2][0]}) a ON a.hid = h.id ORDER BY h.id")
    return statement, [*params, *parts[0][1], *parts[1][1], *parts[2][1]]


def _scope(households, region: Region | None) -> tuple[dict, list[Region] | None]:
    """Household lookups selecting the households asked for, as literal id lists; and, in region mode, the
    regions of the scope (so that their policies are known before the households are read)."""
    scope = {}
    regions = None
    if region is not None:
        regions = list(Region.objects.filter(path__startswith=region.path).order_by())
        scope["region_id__in"] = [r.pk for r in regions]
    elif households is None:
        raise TypeError("household_burden needs households= or region=")
    if households is not None:
        scope["pk__in"] = list(_ids(households))
        regions = None  # only the households' own regions matter
    return scope, regions


def _ids(households):
    if isinstance(households, QuerySet):
        return households.values_list("pk", flat=True) if households.model is Household else households
    if isinstance(households, Household):
        return [households.pk]
    return [getattr(h, "pk", h) for h in households]


def household_burden(*, on: dt.date, households=None, region: Region | None = None,
                     figures: dict[int, tuple[Decimal | None, Decimal | None]] | None = None,
                     ) -> list[HouseholdBurden]:
    """The 60 % test for each household, with every figure, as of ``on`` (e.g. the application date, or today).

    ``households``: a Household, an iterable of households or ids, or a queryset of households; ``region``: every
    household of that region and below (both: the intersection). ``figures`` overrides a household's (annual
    income, assets) — an application's declared figures; otherwise the household record's figures are used
    (``annual_income`` / ``assets_value``; None: unknown).

    The policy is the version in force on ``on`` for the household's region (or its nearest ancestor); its
    assistance settings give the look-back period, share, cap and which costs count. Households are grouped by
    policy; the regions, the policies and their settings take three queries, then each group one statement
    whatever its size: the households LEFT JOINed to their three grouped sums (payment lines of settled claims
    joined to their claims' dates, verified outside items, special aid paid) — see :func:`_fetch` for the
    statement's settings on PostgreSQL.
    Returns one :class:`HouseholdBurden` per household, ordered by household id.
    """
    scope, scope_regions = _scope(households, region)
    if scope_regions is None:
        scope_regions = list(Region.objects.filter(
            pk__in=Household.objects.filter(**scope).order_by().values("region_id")))
    if not scope_regions:
        return []
    policies = policies_for_service([(r, on) for r in scope_regions])
    settings_by_policy = {
        row.policy_id: row
        for row in AssistancePolicy.objects.filter(
            policy_id__in={p.pk for p in policies.values() if p is not None})
    }
    groups: dict[int | None, list[int]] = defaultdict(list)  # policy id → region ids
    for r in scope_regions:
        policy: PolicyVersion | None = policies[(r.pk, on)]
        groups[policy.pk if policy else None].append(r.pk)
    figures = figures or {}
    result: list[HouseholdBurden] = []
    append, test_of, cost_of, burden = result.append, household_test, eligible_cost, HouseholdBurden
    with cyclic_gc_paused():
        for policy_id, group_regions in groups.items():
            settings = settings_by_policy.get(policy_id)
            in_group = {**scope, "region_id__in": sorted(group_regions)} if len(groups) > 1 else scope
            if settings is None:
                start = share = cap = None
                sql, params = _figures_sql(in_group, period=None, cost_basis=None)
            else:
                start, _end = look_back_period(on, look_back=settings.look_back, months=settings.look_back_months)
                share, cap = settings.income_share, settings.asset_cap
                sql, params = _figures_sql(in_group, period=(start, on), cost_basis=settings.cost_basis)
            # The loop runs once per household of a county: names are bound locally and the dataclasses built
            # positionally (field order as declared) because that alone was a tenth of the county's time.
            for pk, region_id, income, assets, claims, outside, aid in _fetch(sql, params, whole=region is not None):
                if pk in figures:
                    income, assets = figures[pk]
                claims, outside, aid = claims or ZERO, outside or ZERO, aid or ZERO
                test = test_of(
                    eligible_cost=cost_of(claims_cost=claims, outside_cost=outside, special_aid_paid=aid),
                    annual_income=income, income_share=share, assets=assets, asset_cap=cap)
                append(burden(pk, region_id, policy_id, start, on, claims, outside, aid, test))
    if len(groups) > 1:
        result.sort(key=lambda row: row.household_id)
    return result


_FROM_FLOAT = decimal.Context(prec=15).create_decimal_from_float


def _money(value) -> Decimal | None:
    """A money column of the raw statement as the ORM would give it: SQLite returns amounts and their sums as
    floats or ints (the ORM's DecimalField converter does the same: 15 digits, then the fen)."""
    if value is None:
        return None
    return (_FROM_FLOAT(value) if isinstance(value, float) else Decimal(value)).quantize(FEN, rounding=ROUND_HALF_UP)


#: Settings of the figures statement on PostgreSQL, for that statement only. ``jit``: compiling the county's
#: statement cost more than it saved (0.8 s of CPU per run, in the leader and each parallel worker).
#: ``work_mem``: the hashes and sorts over a county's payment lines and people fit in memory instead of spilling.
STATEMENT_SETTINGS = {"jit": "off", "work_mem": "32MB"}


def _fetch(sql: str, params: list, *, whole: bool) -> list[tuple]:
    """Rows of the figures statement. For a whole region (``whole``) on PostgreSQL it runs with
    :data:`STATEMENT_SETTINGS`, set with ``set_config(…, is_local)`` inside the (caller's or a new) transaction
    and set back right after it, so a caller's transaction keeps its own values for its later statements. A few
    households read a few index entries: the settings' three round trips would cost more than they save."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(sql, params)
            return [(pk, region_id, *map(_money, money)) for pk, region_id, *money in cursor.fetchall()]
        if not whole:
            cursor.execute(sql, params)
            return cursor.fetchall()
        names = list(STATEMENT_SETTINGS)
        reads = ", ".join("current_setting(%s)" for _ in names)
        writes = ", ".join("set_config(%s, %s, true)" for _ in names)
        with transaction.atomic(savepoint=False):
            cursor.execute(f"SELECT {reads}, {writes}",
                           [*names, *(v for item in STATEMENT_SETTINGS.items() for v in item)])
            previous = cursor.fetchone()[:len(names)]
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            cursor.execute(f"SELECT {writes}", [v for item in zip(names, previous, strict=True) for v in item])
        return rows


def households_with_open_application(region: Region | None = None) -> QuerySet:
    """Households that have an application not yet closed (received, reviewed, approved awaiting payment, or
    returned for documents): the warning lists leave them out instead of suggesting an application."""
    open_application = Application.objects.filter(household=OuterRef("pk"), state__in=OPEN_APPLICATION_STATES)
    queryset = Household.objects.filter(Exists(open_application))
    if region is not None:
        queryset = queryset.filter(region__path__startswith=region.path)
    return queryset


def claim_lines_in_period(household_id: int, *, start: dt.date, end: dt.date, cost_basis: str) -> QuerySet:
    """Per claim of the household's members in the period: the claim and the amount that entered the burden
    (for the application page; one grouped query)."""
    return (
        PaymentLine.objects.filter(in_period(start, end, "claim__"), person__household_id=household_id,
                                   layer__in=_claim_layers(cost_basis))
        .values("claim_id", "claim__number", "claim__person_id", "claim__person__name", "claim__region_id",
                "claim__visit_type", "claim__admitted_on", "claim__discharged_on", "claim__total_cost")
        .order_by("claim__person_id", "claim__admitted_on", "claim_id")
        .annotate(counted=Coalesce(Sum("amount"), Value(ZERO), output_field=_MONEY),
                  patient=Coalesce(Sum(Case(When(layer=Layer.PATIENT, then="amount"))), Value(ZERO),
                                   output_field=_MONEY))
    )
