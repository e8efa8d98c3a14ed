"""The warning lists of SPEC §6 for one night, computed set-based in the database for the night's whole region.

Each function takes the region the night runs for (a county, a prefecture, the province) and returns the night's
*candidates*: what the list should hold now, each with the county it belongs to and the figures that put it there.
A list scans this year's payment lines and settlements once for the whole region — not once per county — and the
rows carry their county; counties are grouped by the policy version in force, so a prefecture on one policy is one
query per list. A county whose policy figures are missing is recorded in `ListResult.errors` (the night fails that
county's part); called for a single county, the function raises `MissingPolicyData` instead.
`monitoring.services.night` stages the candidates and merges them per county into items (new, still present, cause
gone).

Thresholds are compared twice: the database filters with a one-fen margin (SQLite compares decimals as floats),
then the few rows it returns are checked exactly with Decimal — so "one fen above" and "exactly at" never depend
on float rounding, and the database still does the work over every row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.utils.translation import gettext as _

from assistance.models import Application
from assistance.models.choices import ApplicationState
from assistance.selectors import household_burden, households_with_open_application
from claims.calendar import work_calendar
from claims.models import AssistanceBenefitRule, HospitalBatch, PaymentLine, ReimbursementCase, Settlement
from claims.models.batches import BatchState
from claims.models.choices import DeductibleBasis, Layer
from claims.models.reimbursement import OPEN_CASE_STATES, CaseState
from claims.queues import due_soon_until
from claims.selectors import income_statistic
from enrollment.models import Enrollment, Identity, PolicyVersion, Region, SubsidyRule
from enrollment.models.ledger import EnrollmentStatus
from enrollment.models.regions import RegionLevel
from enrollment.money import to_fen
from enrollment.selectors import policy_for_plan_year, policy_in_force

from .models import ListKind, MonitoringPolicy, Reason, ThresholdBasis

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MONEY_FIELD = DecimalField(max_digits=16, decimal_places=2)


class MissingPolicyData(Exception):
    """The night cannot compute a list because a policy figure is missing (shown on the run record)."""


@dataclass
class Candidate:
    reason: str
    subject_key: str
    period: int
    figures: dict
    amount: Decimal | None = None
    person_id: int | None = None
    household_id: int | None = None
    hospital_id: int | None = None
    case_id: int | None = None
    batch_id: int | None = None
    claim_id: int | None = None
    region_id: int | None = None  # the county whose part keeps the item

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.reason, self.subject_key, self.period)


@dataclass
class ListResult:
    candidates: list[Candidate] = field(default_factory=list)
    policies: dict[int, PolicyVersion | None] = field(default_factory=dict)  # county id → policy version used
    errors: dict[int, str] = field(default_factory=dict)  # county id → why its part cannot be computed
    notes: list[str] = field(default_factory=list)

    @property
    def policy(self) -> PolicyVersion | None:
        """The policy version used, when every county used the same one."""
        used = {p.pk: p for p in self.policies.values() if p is not None}
        return next(iter(used.values())) if len(used) == 1 else None

    def fail(self, county: Region, error: Exception | str) -> None:
        self.errors[county.pk] = str(error)

    def checked(self, region: Region) -> ListResult:
        """Called for one county, a missing policy figure is an exception (the caller asked for that county)."""
        if region.level == RegionLevel.COUNTY and region.pk in self.errors:
            raise MissingPolicyData(self.errors[region.pk])
        return self


def counties_of(region: Region) -> list[Region]:
    """The counties a night for `region` computes (each county's items are one part of the run)."""
    if region.level == RegionLevel.COUNTY:
        return [region]
    return list(Region.objects.filter(path__startswith=region.path, level=RegionLevel.COUNTY).order_by("code"))


def _monitoring_groups(region: Region, day: dt.date, result: ListResult
                       ) -> list[tuple[MonitoringPolicy, list[Region]]]:
    """The region's counties grouped by the monitoring thresholds in force (usually one group for a prefecture);
    counties without thresholds are recorded as errors."""
    groups: dict[int, tuple[MonitoringPolicy, list[Region]]] = {}
    for county in counties_of(region):
        try:
            config = monitoring_policy(county, day)
        except MissingPolicyData as exc:
            result.fail(county, exc)
            continue
        groups.setdefault(config.pk, (config, []))[1].append(county)
    return list(groups.values())


def money(value) -> str:
    return str(to_fen(value if value is not None else ZERO))


def _year_bounds(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def _held_in_year(category_ids, year: int, *, person_ref: str = "person_id", through: str = "person") -> Exists:
    """The person (or household, through ``person__household``) held one of the categories at some time in the
    year, as of the night (the identity started on or before the year's end)."""
    first, last = _year_bounds(year)
    return Exists(Identity.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=first), valid_from__lte=last,
        category_id__in=list(category_ids), **{through: OuterRef(person_ref)}))


def monitoring_policy(county: Region, day: dt.date) -> MonitoringPolicy:
    policy = policy_in_force(county, day)
    if policy is None:
        raise MissingPolicyData(_("No policy version is in force for %(region)s on %(day)s.")
                                % {"region": county, "day": day})
    try:
        return MonitoringPolicy.objects.prefetch_related(
            "relapse_categories", "key_categories", "other_categories").get(policy=policy)
    except MonitoringPolicy.DoesNotExist:
        raise MissingPolicyData(_("The policy version %(policy)s has no monitoring thresholds.")
                                % {"policy": policy.code}) from None


def threshold_amount(basis: str, value: Decimal, income: Decimal | None) -> Decimal | None:
    """The threshold in yuan: a fixed amount, or a share of an income statistic (None when that is missing)."""
    if basis == ThresholdBasis.AMOUNT:
        return to_fen(value)
    if income is None:
        return None
    return to_fen(value * income)


def _thresholds(config: MonitoringPolicy, county: Region, year: int) -> dict[str, Decimal]:
    income = None
    if ThresholdBasis.RURAL_INCOME_SHARE in (config.relapse_basis, config.poverty_basis):
        income = income_statistic(county, year - 1, DeductibleBasis.INCOME_RURAL)
    result = {}
    for group, basis, value in (("relapse", config.relapse_basis, config.relapse_value),
                                ("poverty", config.poverty_basis, config.poverty_value)):
        amount = threshold_amount(basis, value, income)
        if amount is None:
            raise MissingPolicyData(
                _("%(region)s has no rural per-capita disposable income for %(year)s (needed by the threshold).")
                % {"region": county, "year": year - 1})
        result[group] = amount
    return result


# ------------------------------------------------------------------------------------------- 1. high medical cost

def high_cost(region: Region, day: dt.date) -> ListResult:
    """People and households whose out-of-pocket cost (个人自付) this year is above their group's threshold."""
    year = day.year
    result = ListResult()
    for config, counties in _monitoring_groups(region, day, result):
        limits: dict[int, dict[str, Decimal]] = {}
        for county in counties:
            try:
                limits[county.pk] = _thresholds(config, county, year)
            except MissingPolicyData as exc:
                result.fail(county, exc)
                continue
            result.policies[county.pk] = config.policy
        if not limits:
            continue
        relapse_ids = [c.pk for c in config.relapse_categories.all()]
        low = min(min(v.values()) for v in limits.values()) - FEN
        lines = PaymentLine.objects.filter(year=year, layer=Layer.PATIENT, person__region_id__in=list(limits))

        people = (
            lines.values("person_id", "person__region_id").order_by()
            .annotate(oop=Sum("amount"), relapse=_held_in_year(relapse_ids, year))
            .filter(oop__gt=low)
            .values_list("person_id", "person__region_id", "oop", "relapse")
        )
        result.candidates += _over_threshold(people, limits, year, reasons=(Reason.RELAPSE_PERSON,
                                             Reason.POVERTY_PERSON), key="p", subject="person_id")

        households = (
            lines.filter(person__household__isnull=False)
            .values("person__household_id", "person__region_id").order_by()
            .annotate(oop=Sum("amount"), relapse=_held_in_year(
                relapse_ids, year, person_ref="person__household_id", through="person__household"))
            .filter(oop__gt=low)
            .values_list("person__household_id", "person__region_id", "oop", "relapse")
        )
        result.candidates += _over_threshold(households, limits, year, reasons=(Reason.RELAPSE_HOUSEHOLD,
                                             Reason.POVERTY_HOUSEHOLD), key="h", subject="household_id")
    return result.checked(region)


def _over_threshold(rows, limits: dict, year: int, *, reasons: tuple, key: str, subject: str) -> list[Candidate]:
    """Candidates of the rows (subject id, county, out-of-pocket, relapse) above their county's threshold for
    their group: 因病返贫 (`reasons[0]`) for a relapse, else 因病致贫 (`reasons[1]`)."""
    found = []
    for subject_id, county_id, oop, relapse in rows:
        threshold = limits[county_id]["relapse" if relapse else "poverty"]
        if oop > threshold:
            found.append(Candidate(
                reason=reasons[0] if relapse else reasons[1], subject_key=f"{key}:{subject_id}", period=year,
                amount=to_fen(oop), region_id=county_id, **{subject: subject_id},
                figures={"out_of_pocket": money(oop), "threshold": money(threshold), "year": year}))
    return found


# ------------------------------------------------------------------------------------------- 2. apply-to-receive

def apply_candidates(region: Region, day: dt.date) -> ListResult:
    """Households already meeting the 60 % test (SPEC §5.1) without an open application: outreach instead of
    waiting for them to apply. The test itself is assistance's (`household_burden`), once for the whole region."""
    open_ids = set(households_with_open_application(region).values_list("pk", flat=True))
    counties = {c.pk for c in counties_of(region)}
    result = ListResult()
    policy_ids: dict[int, int] = {}
    for burden in household_burden(on=day, region=region):
        if not burden.test.passes or burden.household_id in open_ids or burden.region_id not in counties:
            continue
        test = burden.test
        policy_ids[burden.region_id] = burden.policy_id
        result.candidates.append(Candidate(
            reason=Reason.BURDEN_60, subject_key=f"h:{burden.household_id}", period=day.year,
            household_id=burden.household_id, amount=to_fen(test.eligible_cost), region_id=burden.region_id,
            figures={"burden": money(test.eligible_cost), "income": money(test.annual_income),
                     "threshold": money(test.threshold),
                     "share": str(test.share_of_income) if test.share_of_income is not None else None,
                     "assets": money(test.assets) if test.assets is not None else None,
                     "asset_cap": money(test.asset_cap) if test.asset_cap is not None else None,
                     "period": [burden.period_start.isoformat() if burden.period_start else None,
                                burden.period_end.isoformat()]}))
    versions = PolicyVersion.objects.in_bulk(set(policy_ids.values()))
    result.policies = {county_id: versions.get(policy_id) for county_id, policy_id in policy_ids.items()}
    return result


# ------------------------------------------------------------------------------------------- 3. insurance gaps

def insurance_gaps(region: Region, day: dt.date) -> ListResult:
    """Identity holders not insured this plan year; subsidy missing; subsidy after the identity ended.

    "Subsidy above the contribution" cannot occur: the ledger's CHECK constraint refuses such a row.
    """
    year = day.year
    first, last = _year_bounds(year)
    counties = counties_of(region)
    county_ids = [c.pk for c in counties]
    result = ListResult()
    holders = Identity.objects.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=day), valid_from__lte=day,
                                      person__region_id__in=county_ids, person__death_date__isnull=True)
    insured_or_exempt = Enrollment.objects.filter(
        person_id=OuterRef("person_id"), plan_year=year,
        status__in=(EnrollmentStatus.INSURED, EnrollmentStatus.CANNOT_ENROL))
    rows = (holders.annotate(covered=Exists(insured_or_exempt)).filter(covered=False)
            .values("person_id", "person__region_id").order_by("person_id").distinct()
            .values_list("person_id", "person__region_id"))
    for person_id, county_id in rows:
        result.candidates.append(Candidate(
            reason=Reason.NOT_INSURED, subject_key=f"p:{person_id}", period=year, person_id=person_id,
            region_id=county_id, figures={"plan_year": year}))

    by_policy: dict[int, tuple[PolicyVersion, list[int]]] = {}
    for county in counties:
        policy = policy_for_plan_year(county, year)
        result.policies[county.pk] = policy
        if policy is not None:
            by_policy.setdefault(policy.pk, (policy, []))[1].append(county.pk)
    for policy, ids in by_policy.values():
        rule_categories = list(
            SubsidyRule.objects.filter(policy=policy).exclude(kind="none")
            .filter(Q(plan_year__isnull=True) | Q(plan_year=year)).values_list("category_id", flat=True))
        missing = (
            Enrollment.objects.filter(region_id__in=ids, plan_year=year, subsidy_amount=0,
                                      status__in=(EnrollmentStatus.INSURED, EnrollmentStatus.SHOULD_ENROL))
            .filter(Exists(Identity.objects.filter(
                Q(valid_to__isnull=True) | Q(valid_to__gte=first), valid_from__lte=min(day, last),
                person_id=OuterRef("person_id"), category_id__in=rule_categories)))
            .values_list("person_id", "region_id", "contribution_due")
        )
        for person_id, county_id, due in missing:
            result.candidates.append(Candidate(
                reason=Reason.SUBSIDY_MISSING, subject_key=f"p:{person_id}", period=year, person_id=person_id,
                amount=to_fen(due), region_id=county_id,
                figures={"plan_year": year, "contribution_due": money(due), "subsidy": "0.00"}))

    ended = (
        Enrollment.objects.filter(region_id__in=county_ids, plan_year=year, subsidy_amount__gt=0,
                                  subsidy_category__isnull=False)
        .exclude(Exists(Identity.objects.filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=first), valid_from__lte=last,
            person_id=OuterRef("person_id"), category_id=OuterRef("subsidy_category_id"))))
        .values_list("person_id", "region_id", "subsidy_amount", "subsidy_category__name")
    )
    for person_id, county_id, subsidy, category_name in ended:
        result.candidates.append(Candidate(
            reason=Reason.SUBSIDY_AFTER_IDENTITY, subject_key=f"p:{person_id}", period=year, person_id=person_id,
            amount=to_fen(subsidy), region_id=county_id,
            figures={"plan_year": year, "subsidy": money(subsidy), "category": category_name}))
    return result


# ------------------------------------------------------------------------------------------- 4. deadlines

def deadlines(region: Region, day: dt.date) -> ListResult:
    """Manual reimbursements, hospital batches and assistance applications due within 3 working days, or overdue
    (as the queues count them)."""
    soon_until = due_soon_until(work_calendar(), day)
    county_ids = [c.pk for c in counties_of(region)]
    result = ListResult()

    def state(due: dt.date) -> str:
        return "overdue" if due < day else "due_soon"

    cases = (ReimbursementCase.objects.filter(
        claim__region_id__in=county_ids, state__in=OPEN_CASE_STATES, exempt=False, sla_due_on__lte=soon_until)
        .exclude(state=CaseState.RETURNED)
        .values_list("pk", "claim_id", "claim__person_id", "claim__number", "sla_due_on", "received_on",
                     "claim__region_id"))
    for pk, claim_id, person_id, number, due, received, county_id in cases:
        result.candidates.append(Candidate(
            reason=Reason.MANUAL_CLAIM, subject_key=f"case:{pk}", period=received.year, case_id=pk,
            claim_id=claim_id, person_id=person_id, region_id=county_id,
            figures={"claim": number, "due_on": due.isoformat(), "state": state(due)}))
    batches = HospitalBatch.objects.filter(region_id__in=county_ids)
    for reason, condition, due_field in (
            (Reason.BATCH_ADVANCE, Q(state=BatchState.RECEIVED, advance_due_on__lte=soon_until), "advance_due_on"),
            (Reason.BATCH_FINAL, Q(state=BatchState.ADVANCE_PAID, final_due_on__lte=soon_until)
             | Q(state=BatchState.AUDITED, final_due_on__lte=soon_until), "final_due_on")):
        for pk, hospital_id, number, due, received, county_id in batches.filter(condition).values_list(
                "pk", "hospital_id", "number", due_field, "received_on", "region_id"):
            result.candidates.append(Candidate(
                reason=reason, subject_key=f"batch:{pk}", period=received.year, batch_id=pk,
                hospital_id=hospital_id, region_id=county_id,
                figures={"batch": number, "due_on": due.isoformat(), "state": state(due)}))
    applications = (Application.objects.filter(
        region_id__in=county_ids,
        state__in=(ApplicationState.RECEIVED, ApplicationState.REVIEWED, ApplicationState.APPROVED),
        due_on__lte=soon_until)
        .values_list("pk", "number", "household_id", "applicant_id", "due_on", "applied_on", "region_id"))
    for pk, number, household_id, applicant_id, due, applied, county_id in applications:
        result.candidates.append(Candidate(
            reason=Reason.APPLICATION, subject_key=f"app:{pk}", period=applied.year, household_id=household_id,
            person_id=applicant_id, region_id=county_id,
            figures={"application": number, "application_id": pk, "due_on": due.isoformat(), "state": state(due)}))
    return result


# ------------------------------------------------------------------------------------------- 5. out-of-catalog

def out_of_catalog(region: Region, day: dt.date) -> ListResult:
    """Per hospital and county, this year's settled claims of poverty-target patients whose out-of-catalog share
    of the total is above the limit of the policy they were settled under (seed 002: at most 10 %)."""
    year = day.year
    county_ids = [c.pk for c in counties_of(region)]
    limit = F("policy__benefits__out_of_catalog_limit")
    excess = ExpressionWrapper(
        F("claim__total_cost") - F("claim__policy_scope_cost") - limit * F("claim__total_cost"),
        output_field=MONEY_FIELD)
    over = (Settlement.objects.filter(
        year=year, reversed_at__isnull=True, claim__region_id__in=county_ids, identity__isnull=False,
        policy__benefits__out_of_catalog_limit__isnull=False)
        .annotate(excess=excess).filter(excess__gt=FEN / 2))
    per_hospital = (over.values("claim__hospital_id", "claim__region_id")
                    .order_by("claim__hospital_id", "claim__region_id")
                    .annotate(excess_total=Sum("excess"), claims=Count("pk"),
                              total=Sum("claim__total_cost"), scope=Sum("claim__policy_scope_cost"),
                              borne=Sum("hospital_borne")))
    result = ListResult()
    numbers: dict[tuple[int, int], list[str]] = {}
    for hospital_id, county_id, number in over.order_by("claim__hospital_id", "claim__number").values_list(
            "claim__hospital_id", "claim__region_id", "claim__number"):
        numbers.setdefault((hospital_id, county_id), []).append(number)
    for row in per_hospital:
        hospital_id, county_id = row["claim__hospital_id"], row["claim__region_id"]
        result.candidates.append(Candidate(
            reason=Reason.OUT_OF_CATALOG, subject_key=f"hospital:{hospital_id}:{county_id}", period=year,
            hospital_id=hospital_id, amount=to_fen(row["excess_total"]), region_id=county_id,
            figures={"claims": row["claims"], "total_cost": money(row["total"]),
                     "out_of_catalog": money(row["total"] - row["scope"]), "excess": money(row["excess_total"]),
                     "borne_by_hospital": money(row["borne"]),
                     "claim_numbers": numbers.get((hospital_id, county_id), [])[:200]}))
    return result


# ------------------------------------------------------------------------------------------- 6. assistance floor

def assistance_floor(region: Region, day: dt.date) -> ListResult:
    """Key groups whose medical assistance covered less than their floor (e.g. 70 %) of the policy-scope cost they
    still bore after basic and critical-illness insurance this year, other low-income people below theirs (60 %),
    while their assistance is still below the annual limit (seed 001 Q7)."""
    year = day.year
    result = ListResult()
    for config, counties in _monitoring_groups(region, day, result):
        for county in counties:
            result.policies[county.pk] = config.policy
        key_ids = [c.pk for c in config.key_categories.all()]
        other_ids = [c.pk for c in config.other_categories.all()]
        limit = Subquery(
            AssistanceBenefitRule.objects.filter(policy_id=config.policy_id, category__identities__person=OuterRef(
                "claim__person_id")).values("policy_id").annotate(m=Max("annual_limit")).values("m")[:1],
            output_field=MONEY_FIELD)
        # The database keeps everyone below the higher floor; the exact per-group check follows in Python.
        high_floor = max(config.key_floor, config.other_floor)
        first, last = _year_bounds(year)
        # Only identity holders of the two groups can be listed: a semi-join narrows the grouping (and the
        # per-person look-ups below) to them before the year's settlements are summed.
        holders = Identity.objects.filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=first), valid_from__lte=last,
            category_id__in=key_ids + other_ids).values("person_id")
        rows = (
            Settlement.objects.filter(year=year, reversed_at__isnull=True,
                                      claim__person__region_id__in=[c.pk for c in counties],
                                      claim__person_id__in=holders)
            .values("claim__person_id", "claim__person__region_id").order_by()
            .annotate(scope=Sum("claim__policy_scope_cost"), basic=Sum("basic"), critical=Sum("critical"),
                      assistance=Sum("assistance"), key=_held_in_year(key_ids, year, person_ref="claim__person_id"),
                      other=_held_in_year(other_ids, year, person_ref="claim__person_id"),
                      limit=limit)
            .filter(Q(key=True) | Q(other=True))
            .annotate(base=ExpressionWrapper(F("scope") - F("basic") - F("critical"), output_field=MONEY_FIELD))
            .filter(base__gt=0, assistance__lt=F("base") * Value(high_floor) + Value(FEN))
            .filter(Q(limit__isnull=True) | Q(assistance__lt=F("limit")))
            .values_list("claim__person_id", "claim__person__region_id", "base", "assistance", "key", "limit")
        )
        for person_id, county_id, base, assistance, key, annual_limit in rows:
            floor = config.key_floor if key else config.other_floor
            required = to_fen(base * floor)
            if not assistance < required or (annual_limit is not None and assistance >= annual_limit):
                continue
            result.candidates.append(Candidate(
                reason=Reason.KEY_BELOW_FLOOR if key else Reason.OTHER_BELOW_FLOOR, subject_key=f"p:{person_id}",
                period=year, person_id=person_id, amount=to_fen(required - assistance), region_id=county_id,
                figures={"policy_scope_borne": money(base), "assistance": money(assistance),
                         "floor_percent": str((floor * 100).normalize()), "floor_amount": money(required),
                         "annual_limit": money(annual_limit) if annual_limit is not None else None}))
    return result.checked(region)


LISTS: dict[str, Callable[[Region, dt.date], ListResult]] = {
    ListKind.HIGH_COST: high_cost,
    ListKind.APPLY_CANDIDATE: apply_candidates,
    ListKind.INSURANCE_GAP: insurance_gaps,
    ListKind.DEADLINE: deadlines,
    ListKind.OUT_OF_CATALOG: out_of_catalog,
    ListKind.ASSISTANCE_FLOOR: assistance_floor,
}
