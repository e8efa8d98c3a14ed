"""Reads that carry assistance rules, set-based.

``household_burden`` is the household figure of the apply-to-receive test (SPEC §5.1): used for one household on
an application page and for every household of a region by the nightly warning lists (SPEC §6, list 2).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, DecimalField, Exists, F, OuterRef, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

from claims.models import PaymentLine
from claims.models.choices import Layer, VisitType
from claims.selectors import policies_for_service
from enrollment.models import Household, PolicyVersion, Region
from enrollment.money import ZERO

from .models import Application, AssistancePolicy, OutsideCost, SpecialAidCase
from .models.choices import OPEN_APPLICATION_STATES, PAID_CASE_STATES, CostBasis
from .rules import HouseholdTest, eligible_cost, household_test, look_back_period

__all__ = [
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


def _sums(scope: dict, *, start: dt.date, end: dt.date, cost_basis: str) -> tuple[dict, dict, dict]:
    """{household id: sum} of claims, outside items and special aid in the period, for the households matching
    ``scope`` (Household lookups, e.g. ``{"region_id__in": [...]}``): three grouped queries sent as one UNION.

    The scope is a literal list (region or household ids), never a subquery: the planner then estimates how many
    households a county holds and joins the payment lines by hash instead of probing them one person at a time."""
    def on(prefix):
        return {f"{prefix}{lookup}": value for lookup, value in scope.items()}

    claims = (
        PaymentLine.objects.filter(in_period(start, end, "claim__"), layer__in=_claim_layers(cost_basis),
                                   **on("person__household__"))
        .values_list("person__household_id").order_by().annotate(kind=Value(1), total=Sum("amount")))
    outside = (
        OutsideCost.objects.filter(verified=True, incurred_on__range=(start, end), **on("household__"))
        .values_list("household_id").order_by()
        .annotate(kind=Value(2), total=Sum(_outside_amount(cost_basis), output_field=_MONEY)))
    aid = (
        SpecialAidCase.objects.filter(state__in=PAID_CASE_STATES, paid_on__range=(start, end), **on("household__"))
        .values_list("household_id").order_by().annotate(kind=Value(3), total=Sum("amount")))
    sums: tuple[dict, dict, dict] = ({}, {}, {})
    for household_id, kind, total in claims.union(outside, aid, all=True):
        sums[kind - 1][household_id] = total
    return sums


def _scope(households, region: Region | None) -> dict:
    """Household lookups selecting the households asked for, as literal id lists."""
    scope = {}
    if region is not None:
        scope["region_id__in"] = list(
            Region.objects.filter(path__startswith=region.path).order_by().values_list("pk", flat=True))
    elif households is None:
        raise TypeError("household_burden needs households= or region=")
    if households is not None:
        scope["pk__in"] = list(_ids(households))
    return scope


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
    policy; the households, their regions, the policies and their settings take four queries, then each group
    one more whatever its size: the three grouped sums (payment lines of settled claims joined to their claims'
    dates, verified outside items, special aid paid) sent as one UNION.
    Returns one :class:`HouseholdBurden` per household, ordered by household id.
    """
    scope = _scope(households, region)
    rows = list(Household.objects.filter(**scope).order_by("pk").values_list(
        "pk", "region_id", "annual_income", "assets_value"))
    if not rows:
        return []
    region_ids = {region_id for _pk, region_id, _income, _assets in rows}
    regions = Region.objects.in_bulk(region_ids)
    policies = policies_for_service([(regions[rid], on) for rid in region_ids])
    settings_by_policy = {
        row.policy_id: row
        for row in AssistancePolicy.objects.filter(
            policy_id__in={p.pk for p in policies.values() if p is not None})
    }
    groups: dict[int | None, list[int]] = defaultdict(list)  # policy id → region ids
    for rid in region_ids:
        policy: PolicyVersion | None = policies[(rid, on)]
        groups[policy.pk if policy else None].append(rid)
    figures = figures or {}
    result: list[HouseholdBurden] = []
    for policy_id, group_regions in groups.items():
        settings = settings_by_policy.get(policy_id)
        group_rows = [row for row in rows if row[1] in group_regions]
        if settings is None:
            start = None
            claims = outside = aid = {}
        else:
            start, _end = look_back_period(on, look_back=settings.look_back, months=settings.look_back_months)
            in_group = {**scope, "region_id__in": sorted(group_regions)} if len(groups) > 1 else scope
            claims, outside, aid = _sums(in_group, start=start, end=on, cost_basis=settings.cost_basis)
        for pk, region_id, income, assets in group_rows:
            if pk in figures:
                income, assets = figures[pk]
            sums = (claims.get(pk) or ZERO, outside.get(pk) or ZERO, aid.get(pk) or ZERO)
            test = household_test(
                eligible_cost=eligible_cost(claims_cost=sums[0], outside_cost=sums[1], special_aid_paid=sums[2]),
                annual_income=income, income_share=settings.income_share if settings else None,
                assets=assets, asset_cap=settings.asset_cap if settings else None)
            result.append(HouseholdBurden(
                household_id=pk, region_id=region_id, policy_id=policy_id, period_start=start, period_end=on,
                claims_cost=sums[0], outside_cost=sums[1], special_aid_paid=sums[2], test=test))
    result.sort(key=lambda burden: burden.household_id)
    return result


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
