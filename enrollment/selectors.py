"""Set-based reads of the enrolment app: policy look-ups, contribution standards, identities, coverage rates.

Every function here issues a fixed number of queries whatever the number of regions or people it is given; the
bulk forms (`policies_for_plan_year`, `contribution_standards`, `enrolment_terms`) resolve "the region or its
nearest ancestor" in Python over rows read once, from the materialised `Region.path`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Length, NullIf

from .models import CostShareRule, Enrollment, Identity, PolicyVersion, Region, RegionYear, SubsidyRule
from .models.identities import valid_on
from .models.ledger import EnrollmentStatus
from .rules.intake import local_date
from .rules.subsidy import SubsidyRuleValue, rules_for_plan_year
from .scoping import visible_regions

__all__ = [
    "COVERAGE_TARGET_PERCENT",
    "ContributionStandard",
    "EnrolmentTerms",
    "contribution_standard",
    "contribution_standards",
    "coverage_rates",
    "enrolment_terms",
    "plan_year_identities",
    "policies_for_plan_year",
    "policy_for_plan_year",
    "policy_in_force",
    "valid_identities",
]

#: The 应保尽保 target: coverage of at least 95 % (e.g. Jin'an 金医保发〔2022〕18号: "参保率达95%以上").
#: A reporting threshold, not a benefit rule; callers may pass another one.
COVERAGE_TARGET_PERCENT = Decimal(95)

#: Statuses of people who should be insured: the denominator of the coverage rate. 不能参保 rows are left out.
SHOULD_BE_INSURED = (EnrollmentStatus.SHOULD_ENROL, EnrollmentStatus.INSURED, EnrollmentStatus.NOT_INSURED)


def _codes(region: Region) -> list[str]:
    """Codes from the root down to `region` itself, read from its materialised path."""
    return [code for code in region.path.strip("/").split("/") if code]


def _year_bounds(plan_year: int) -> tuple[date, date]:
    return date(plan_year, 1, 1), date(plan_year, 12, 31)


def _covering_year(plan_year: int) -> Q:
    first, last = _year_bounds(plan_year)
    return Q(effective_from__lte=last) & (Q(effective_to__isnull=True) | Q(effective_to__gte=first))


def _in_force_on(day: date) -> Q:
    return Q(effective_from__lte=day) & (Q(effective_to__isnull=True) | Q(effective_to__gte=day))


def _nearest_policy(region: Region, period: Q) -> PolicyVersion | None:
    # Deeper regions have longer paths: the region's own versions beat its ancestors'; within one region the
    # latest start wins.
    return (
        PolicyVersion.objects.filter(period, region__code__in=_codes(region))
        .annotate(region_depth=Length("region__path"))
        .order_by("-region_depth", "-effective_from", "-pk")
        .first()
    )


def policy_for_plan_year(region: Region, plan_year: int) -> PolicyVersion | None:
    """The policy version (政策版本) covering `plan_year` for `region` or its nearest ancestor that has one.

    A version covers the year when it starts on or before 31 December and ends (if at all) on or after 1 January.
    Versions of the region itself win over its ancestors'; within one region the latest `effective_from` wins.
    """
    return _nearest_policy(region, _covering_year(plan_year))


def policy_in_force(region: Region, day: date | datetime) -> PolicyVersion | None:
    """The policy version in force on `day` (a local date, or an aware datetime) for `region` or its nearest
    ancestor — the date of service for claims (discharge date for inpatient care, visit date otherwise)."""
    return _nearest_policy(region, _in_force_on(local_date(day)))


def policies_for_plan_year(regions: Iterable[Region], plan_year: int) -> dict[int, PolicyVersion]:
    """`policy_for_plan_year` for many regions in one query: {region id: version}; regions without one are absent."""
    regions = list(regions)
    codes = {code for region in regions for code in _codes(region)}
    best_by_code: dict[str, PolicyVersion] = {}
    versions = (
        PolicyVersion.objects.filter(_covering_year(plan_year), region__code__in=codes)
        .select_related("region")
        .order_by("-effective_from", "-pk")
    )
    for version in versions:
        best_by_code.setdefault(version.region.code, version)
    result = {}
    for region in regions:
        for code in reversed(_codes(region)):
            if code in best_by_code:
                result[region.pk] = best_by_code[code]
                break
    return result


@dataclass(frozen=True)
class ContributionStandard:
    """Individual contribution standards (个人缴费标准) of a plan year, each from the nearest region that has it."""

    plan_year: int
    tier1: Decimal | None
    tier2: Decimal | None


def contribution_standards(regions: Iterable[Region], plan_year: int) -> dict[int, ContributionStandard]:
    """{region id: standard} for many regions in one query; each tier comes from the region or its nearest
    ancestor with a `RegionYear` figure for that tier and year."""
    regions = list(regions)
    codes = {code for region in regions for code in _codes(region)}
    by_code = {
        row.region.code: row
        for row in RegionYear.objects.filter(year=plan_year, region__code__in=codes).select_related("region")
    }
    result = {}
    for region in regions:
        tier1 = tier2 = None
        for code in reversed(_codes(region)):
            row = by_code.get(code)
            if row is None:
                continue
            tier1 = tier1 if tier1 is not None else row.contribution_tier1
            tier2 = tier2 if tier2 is not None else row.contribution_tier2
        result[region.pk] = ContributionStandard(plan_year, tier1, tier2)
    return result


def contribution_standard(region: Region, plan_year: int) -> ContributionStandard:
    """The individual contribution standard of `plan_year` for `region` (or its nearest ancestor with the figure)."""
    return contribution_standards([region], plan_year)[region.pk]


@dataclass(frozen=True)
class EnrolmentTerms:
    """What the ledger rules need for one region and plan year, read in bulk by `enrolment_terms`.

    `rules` holds the subsidy rule of each category code for the plan year; `cost_shares` the (province,
    prefecture, county) proportions for the region's cost-sharing class, when its policy has a rule for it.
    """

    region_id: int
    plan_year: int
    policy: PolicyVersion | None
    standard: ContributionStandard
    rules: dict[str, SubsidyRuleValue] = field(default_factory=dict)
    category_ids: dict[str, int] = field(default_factory=dict)
    green_channel: frozenset[str] = frozenset()
    cost_shares: tuple[Decimal, Decimal, Decimal] | None = None


def enrolment_terms(regions: Iterable[Region], plan_year: int) -> dict[int, EnrolmentTerms]:
    """{region id: EnrolmentTerms} for every region given, in five queries whatever their number."""
    regions = list(regions)
    policies = policies_for_plan_year(regions, plan_year)
    standards = contribution_standards(regions, plan_year)
    policy_ids = {policy.pk for policy in policies.values()}

    rules_by_policy: dict[int, list[SubsidyRuleValue]] = {}
    category_ids: dict[str, int] = {}
    for rule in SubsidyRule.objects.filter(policy_id__in=policy_ids).select_related("category"):
        rules_by_policy.setdefault(rule.policy_id, []).append(SubsidyRuleValue(
            category=rule.category.code, kind=rule.kind, value=rule.value, funding_source=rule.funding_source,
            cost_shared=rule.cost_shared, sort_order=rule.category.sort_order, plan_year=rule.plan_year,
            rule_id=rule.pk,
        ))
        category_ids[rule.category.code] = rule.category_id

    green_by_policy: dict[int, set[str]] = {}
    through = PolicyVersion.green_channel_categories.through
    for policy_id, code in through.objects.filter(policyversion_id__in=policy_ids).values_list(
            "policyversion_id", "identitycategory__code"):
        green_by_policy.setdefault(policy_id, set()).add(code)

    shares_by_policy_class = {
        (row.policy_id, row.county_class): (row.province_share, row.prefecture_share, row.county_share)
        for row in CostShareRule.objects.filter(policy_id__in=policy_ids)
    }

    result = {}
    for region in regions:
        policy = policies.get(region.pk)
        if policy is None:
            result[region.pk] = EnrolmentTerms(region.pk, plan_year, None, standards[region.pk])
            continue
        rules = rules_for_plan_year(rules_by_policy.get(policy.pk, []), plan_year)
        result[region.pk] = EnrolmentTerms(
            region_id=region.pk,
            plan_year=plan_year,
            policy=policy,
            standard=standards[region.pk],
            rules=rules,
            category_ids={code: category_ids[code] for code in rules},
            green_channel=frozenset(green_by_policy.get(policy.pk, ())),
            cost_shares=shares_by_policy_class.get((policy.pk, region.cost_share_class)),
        )
    return result


def valid_identities(person_ids, on_date: date | datetime) -> QuerySet[Identity]:
    """Identities (身份) of the given people valid on `on_date`; `person_ids` may be a list or a queryset of ids."""
    return (
        Identity.objects.filter(valid_on(local_date(on_date)), person_id__in=person_ids)
        .select_related("category")
        .order_by("person_id", "category__sort_order", "valid_from")
    )


def plan_year_identities(persons: Q | Iterable[int], plan_year: int, *, known_on: date) -> QuerySet[Identity]:
    """Identities that may decide the subsidy of `plan_year`: valid at some time in the plan year and certified by
    `known_on` (the enrolment date) and by the year's end. `persons` is a list/queryset of person ids, or a Q on
    Identity (e.g. ``Q(person__region__path__startswith=...)``).

    The August-31 cut-off and the green channel depend on each person's policy and are applied afterwards with
    `enrollment.rules.intake.identity_counts_for_plan_year`.
    """
    first, last = _year_bounds(plan_year)
    people = persons if isinstance(persons, Q) else Q(person_id__in=persons)
    return (
        Identity.objects.filter(people, valid_from__lte=min(last, known_on))
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=first))
        .order_by("person_id", "category__sort_order", "valid_from")
    )


def _count(queryset: QuerySet) -> Coalesce:
    # One group per outer row: the subquery is already filtered to one plan year, so grouping by it is a no-op.
    return Coalesce(
        Subquery(queryset.order_by().values("plan_year").annotate(n=Count("pk")).values("n")[:1]), 0)


def coverage_rates(
    *,
    plan_year: int,
    regions: Iterable[Region] | QuerySet | None = None,
    user=None,
    target_percent: Decimal = COVERAGE_TARGET_PERCENT,
) -> QuerySet[Region]:
    """Regions annotated with their coverage (参保率) of `plan_year`, ledger rows of each region's whole subtree.

    Definition: ``insured_count`` = ledger rows with status 已参保 (insured); ``should_count`` = rows with status
    应参保, 已参保 or 未参保 (should / insured / not_insured). 不能参保 rows (military, school, employee scheme, death,
    ...) are *excluded from the denominator*. ``coverage_rate`` = insured ÷ should (a fraction, NULL when nobody
    should be insured); ``meets_target`` is true when ``insured × 100 ≥ should × target_percent`` and someone
    should be insured. Restricted to `regions` and/or to what `user` may see (their regions and below).
    """
    queryset = Region.objects.all()
    if regions is not None:
        ids = regions.values("pk") if isinstance(regions, QuerySet) else [region.pk for region in regions]
        queryset = queryset.filter(pk__in=ids)
    if user is not None:
        queryset = queryset.filter(pk__in=visible_regions(user).values("pk"))
    rows = Enrollment.objects.filter(plan_year=plan_year, region__path__startswith=OuterRef("path"))
    target = Value(Decimal(target_percent), output_field=DecimalField(max_digits=5, decimal_places=2))
    return (
        queryset.annotate(
            insured_count=_count(rows.filter(status=EnrollmentStatus.INSURED)),
            should_count=_count(rows.filter(status__in=SHOULD_BE_INSURED)),
        )
        .annotate(
            coverage_rate=ExpressionWrapper(
                Cast(F("insured_count"), FloatField()) / NullIf(Cast(F("should_count"), FloatField()), 0.0),
                output_field=FloatField(),
            ),
            target_gap=ExpressionWrapper(
                F("insured_count") * 100 - F("should_count") * target,
                output_field=DecimalField(max_digits=20, decimal_places=2),
            ),
        )
        .annotate(
            meets_target=Case(
                When(should_count__gt=0, target_gap__gte=0, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .order_by("path")
    )
