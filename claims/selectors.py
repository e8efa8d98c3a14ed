"""Set-based reads of the claims app: year-to-date sums, the benefit rules of a policy version, eligibility.

Every function issues a fixed number of queries whatever the number of rules, identities or payment lines involved.
Rule *arithmetic* is not here (``claims.rules.settlement``); these functions only fetch the rows it needs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Length

from enrollment.models import Enrollment, Identity, PolicyVersion, Region, RegionYear, SubsidyRule
from enrollment.models.ledger import EnrollmentStatus
from enrollment.models.policy import SubsidyKind
from enrollment.selectors import policy_in_force

from .models import (
    AssistanceBenefitRule,
    BasicBenefitRule,
    BenefitPolicy,
    CategoryTilt,
    CriticalSegment,
    PaymentLine,
    SpecialDisease,
)
from .models.choices import DeductibleBasis, Layer
from .rules.settlement import YearToDate

__all__ = [
    "BenefitRules",
    "Eligibility",
    "benefit_rules",
    "eligibilities",
    "eligibility",
    "income_statistic",
    "policies_for_service",
    "policy_for_service",
    "year_to_date",
    "years_to_date",
    "years_to_date_by_person_year",
]

_ZERO = Decimal("0.00")

# YearToDate field ← the PaymentLine layer whose signed sum it is. Reversal lines are negative, so a reversed
# settlement drops out of every sum by itself.
_YTD_LAYERS = {
    "basic_paid": Layer.BASIC,
    "critical_base_cumulative": Layer.CRITICAL_BASE,
    "critical_paid": Layer.CRITICAL,
    "assistance_paid": Layer.ASSISTANCE,
    "assistance_deductible_used": Layer.ASSISTANCE_DEDUCTIBLE,
    "basic_deductible_level": Layer.BASIC_DEDUCTIBLE,
}


def _ytd_sums() -> dict:
    return {name: Coalesce(Sum("amount", filter=Q(layer=layer)), _ZERO) for name, layer in _YTD_LAYERS.items()}


def year_to_date(person_id: int, year: int, *, exclude_claim_id: int | None = None) -> YearToDate:
    """What the person's year already holds (从 payment lines), in one aggregate query.

    `exclude_claim_id` leaves one claim's lines out: what a re-settlement of that claim would start from.
    Callers that go on to write must hold the person's row lock (see ``claims.services.settlement``).
    """
    lines = PaymentLine.objects.filter(person_id=person_id, year=year)
    if exclude_claim_id is not None:
        lines = lines.exclude(claim_id=exclude_claim_id)
    sums = lines.aggregate(**_ytd_sums())
    return YearToDate(**{name: sums[name].quantize(_ZERO) for name in _YTD_LAYERS})


def years_to_date(person_ids: Iterable[int] | QuerySet, year: int) -> dict[int, YearToDate]:
    """`year_to_date` for many people in one grouped query: {person id: YearToDate}; people with no line get zeros."""
    ids = person_ids if isinstance(person_ids, QuerySet) else list(person_ids)
    rows = (
        PaymentLine.objects.filter(person_id__in=ids, year=year)
        .order_by()
        .values("person_id")
        .annotate(**_ytd_sums())
    )
    found = {
        row["person_id"]: YearToDate(**{name: row[name].quantize(_ZERO) for name in _YTD_LAYERS}) for row in rows
    }
    if isinstance(ids, QuerySet):
        return found
    return {person_id: found.get(person_id, YearToDate()) for person_id in ids}


def years_to_date_by_person_year(keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], YearToDate]:
    """`year_to_date` for many (person id, year) pairs in one grouped query: {(person id, year): YearToDate};
    pairs without a line get zeros."""
    keys = set(keys)
    if not keys:
        return {}
    rows = (
        PaymentLine.objects.filter(person_id__in={person for person, _ in keys}, year__in={year for _, year in keys})
        .order_by()
        .values("person_id", "year")
        .annotate(**_ytd_sums())
    )
    found = {
        (row["person_id"], row["year"]): YearToDate(**{name: row[name].quantize(_ZERO) for name in _YTD_LAYERS})
        for row in rows
    }
    return {key: found.get(key, YearToDate()) for key in keys}


def policy_for_service(region: Region, service_date: date) -> PolicyVersion | None:
    """The policy version in force on the date of service for `region` or its nearest ancestor (SPEC §1)."""
    return policy_in_force(region, service_date)


def _in_force_on(version: PolicyVersion, day: date) -> bool:
    return version.effective_from <= day and (version.effective_to is None or day <= version.effective_to)


def policies_for_service(keys: Iterable[tuple[Region, date]]) -> dict[tuple[int, date], PolicyVersion | None]:
    """`policy_for_service` for many (region, date of service) pairs in one query: {(region id, date): version or
    None}. Settlement uses this form for one claim and for a batch alike.

    The same choice as ``enrollment.selectors.policy_in_force``, made in Python over the versions of every region on
    the pairs' paths that are in force at some point between the earliest and the latest date: the deepest region
    with a version in force on the date wins (a county's own version beats the prefecture's); within one region the
    latest ``effective_from``, then the highest id.
    """
    keys = set(keys)
    if not keys:
        return {}
    regions = {region.pk: region for region, _day in keys}
    days = [day for _region, day in keys]
    codes = {code for region in regions.values() for code in _codes(region)}
    first, last = min(days), max(days)
    by_code: dict[str, list[PolicyVersion]] = defaultdict(list)
    versions = (
        PolicyVersion.objects.filter(Q(effective_to__isnull=True) | Q(effective_to__gte=first),
                                     region__code__in=codes, effective_from__lte=last)
        .select_related("region")
        .order_by("-effective_from", "-pk")
    )
    for version in versions:
        by_code[version.region.code].append(version)
    result: dict[tuple[int, date], PolicyVersion | None] = {}
    for region, day in keys:
        chosen = None
        for code in reversed(_codes(region)):  # deepest first
            chosen = next((version for version in by_code[code] if _in_force_on(version, day)), None)
            if chosen is not None:
                break
        result[(region.pk, day)] = chosen
    return result


def _codes(region: Region) -> list[str]:
    return [code for code in region.path.strip("/").split("/") if code]


def income_statistic(region: Region, year: int, basis: str) -> Decimal | None:
    """Per-capita disposable income of `year` for `region` or its nearest ancestor that has the figure.

    `basis` is a ``DeductibleBasis`` other than AMOUNT; None when no region up the tree has the figure.
    """
    column = {
        DeductibleBasis.INCOME_ALL: "income_all",
        DeductibleBasis.INCOME_RURAL: "income_rural",
        DeductibleBasis.INCOME_URBAN: "income_urban",
    }[basis]
    return (
        RegionYear.objects.filter(year=year, region__code__in=_codes(region), **{f"{column}__isnull": False})
        .annotate(region_depth=Length("region__path"))
        .order_by("-region_depth")
        .values_list(column, flat=True)
        .first()
    )


@dataclass(frozen=True)
class BenefitRules:
    """All benefit rows of one policy version, read once (seven queries, eight with special diseases)."""

    policy: PolicyVersion
    settings: BenefitPolicy | None
    #: (visit type, hospital level, scheme or "") → rule
    basic: dict[tuple[str, str, str], BasicBenefitRule] = field(default_factory=dict)
    segments: tuple[CriticalSegment, ...] = ()
    tilts: dict[tuple[str, int], CategoryTilt] = field(default_factory=dict)
    assistance: dict[int, AssistanceBenefitRule] = field(default_factory=dict)
    special_diseases: tuple[SpecialDisease, ...] = ()
    #: Category ids with a contribution subsidy (kind other than none) in this version: part of "poverty target".
    subsidised_category_ids: frozenset[int] = frozenset()
    #: Category ids whose inpatient deductible is counted continuously when referred within the province.
    continuous_deductible_category_ids: frozenset[int] = frozenset()

    def basic_rule(self, visit_type: str, hospital_level: str, scheme: str = "") -> BasicBenefitRule | None:
        """The rule of the scheme when the version has one, else the rule for every scheme."""
        return self.basic.get((visit_type, hospital_level, scheme)) or self.basic.get((visit_type, hospital_level, ""))

    def tilt(self, layer: str, category_id: int) -> CategoryTilt | None:
        return self.tilts.get((layer, category_id))


def benefit_rules(policy: PolicyVersion, *, with_special_diseases: bool = True) -> BenefitRules:
    """The benefit settings and rules hanging off `policy`."""
    settings = BenefitPolicy.objects.filter(policy=policy).first()
    basic = {
        (rule.visit_type, rule.hospital_level, rule.scheme): rule
        for rule in BasicBenefitRule.objects.filter(policy=policy)
    }
    segments = tuple(CriticalSegment.objects.filter(policy=policy))  # Meta.ordering: open-ended band last
    tilts = {
        (tilt.layer, tilt.category_id): tilt
        for tilt in CategoryTilt.objects.filter(policy=policy).select_related("category")
    }
    assistance = {
        rule.category_id: rule
        for rule in AssistanceBenefitRule.objects.filter(policy=policy).select_related("category")
    }
    diseases = tuple(SpecialDisease.objects.filter(policy=policy)) if with_special_diseases else ()
    subsidised = frozenset(
        SubsidyRule.objects.filter(policy=policy).exclude(kind=SubsidyKind.NONE).order_by()
        .values_list("category_id", flat=True)
    )
    continuous = frozenset(
        BenefitPolicy.continuous_deductible_categories.through.objects.filter(benefitpolicy__policy=policy)
        .values_list("identitycategory_id", flat=True)
    ) if settings is not None else frozenset()
    return BenefitRules(
        policy=policy,
        settings=settings,
        continuous_deductible_category_ids=continuous,
        basic=basic,
        segments=segments,
        tilts=tilts,
        assistance=assistance,
        special_diseases=diseases,
        subsidised_category_ids=subsidised,
    )


@dataclass(frozen=True)
class Eligibility:
    """A person's standing on a date of service (资格): the enrolment in force and the identities held.

    `identities` lists every identity valid on the date, most favourable categories first (category sort order),
    whatever the enrolment; it is `enrollment` that decides whether any of them confers benefits.
    """

    person_id: int
    on: date
    enrollment: Enrollment | None
    identities: tuple[Identity, ...] = ()

    @property
    def enrolled(self) -> bool:
        return self.enrollment is not None


def enrolment_in_force(person_id: int, on: date) -> QuerySet[Enrollment]:
    """The insured ledger row whose coverage includes `on`: plan year of `on`, status 已参保, coverage_start (or
    1 January when empty) ≤ `on` ≤ coverage_end (or 31 December of the plan year when empty)."""
    return Enrollment.objects.filter(
        Q(coverage_start__isnull=True) | Q(coverage_start__lte=on),
        Q(coverage_end__isnull=True) | Q(coverage_end__gte=on),
        person_id=person_id,
        plan_year=on.year,
        status=EnrollmentStatus.INSURED,
    )


def eligibility(person_id: int, on: date) -> Eligibility:
    """Enrolment in force and valid identities of one person on `on`, in two queries."""
    return eligibilities([(person_id, on)])[(person_id, on)]


def _covers(enrollment: Enrollment, on: date) -> bool:
    """``enrolment_in_force`` for a row already known to be insured in the plan year of `on`."""
    return (enrollment.coverage_start is None or enrollment.coverage_start <= on) and (
        enrollment.coverage_end is None or on <= enrollment.coverage_end)


def eligibilities(keys: Iterable[tuple[int, date]]) -> dict[tuple[int, date], Eligibility]:
    """`eligibility` for many (person id, date) pairs in two queries: {(person id, date): Eligibility}.

    Reads the insured ledger rows of the pairs' plan years and the identities valid at some point between the
    earliest and the latest date, in the order `Eligibility.identities` promises, then keeps per pair the rows in
    force on its date (the same tests as ``enrolment_in_force`` and ``valid_on``).
    """
    keys = set(keys)
    if not keys:
        return {}
    person_ids = {person_id for person_id, _day in keys}
    days = [day for _person_id, day in keys]
    first, last = min(days), max(days)
    enrollments = {
        (row.person_id, row.plan_year): row
        for row in Enrollment.objects.filter(
            person_id__in=person_ids, plan_year__in={day.year for day in days}, status=EnrollmentStatus.INSURED)
    }
    held: dict[int, list[Identity]] = defaultdict(list)
    identities = (
        Identity.objects.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=first), person_id__in=person_ids,
                                valid_from__lte=last)
        .select_related("category")
        .order_by("category__sort_order", "category__code", "-valid_from", "-pk")
    )
    for identity in identities:
        held[identity.person_id].append(identity)
    result = {}
    for person_id, day in keys:
        enrollment = enrollments.get((person_id, day.year))
        result[(person_id, day)] = Eligibility(
            person_id=person_id,
            on=day,
            enrollment=enrollment if enrollment is not None and _covers(enrollment, day) else None,
            identities=tuple(identity for identity in held[person_id] if identity.is_valid_on(day)),
        )
    return result
