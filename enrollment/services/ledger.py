"""Enrolment ledger services (参保台账) — SPEC §3.2–§3.4: enrol, build the yearly ledger, record payments and
exits, find and close discrepancies (对账销号).

Every function takes keyword arguments only, runs in one transaction and records history (who did it): single
rows through `save()` with `_history_user`, bulk rows through `bulk_create_with_history`.

Which identities decide a subsidy (就高 over them, never the sum) — `identity_counts_for_plan_year`: an identity
counts for plan year Y when it is valid at some time in Y, was certified by the intake cut-off of Y (31 August by
default, policy data; green-channel categories by 31 December), and was certified by the enrolment date — the
subsidy is fixed "按参保缴费时就高身份" (Chongqing 渝乡振发〔2022〕15号 Q1). Once a subsidy is granted
(`subsidy_granted_on` set), a policy with `top_up_on_identity_change = False` keeps it when identities change later
("不再进行差额补助"); a row without a granted subsidy is computed afresh.

The ledger's life cycle:

- `build_ledger` lists the people who should be insured (应参保): identity holders with a subsidy in the plan year.
  Their subsidy is computed (so the lists show what each person owes) but not yet granted, and coverage is empty;
- `enrol_person` registers one person (参保登记): computes and grants the subsidy, sets coverage;
- `record_payment` records the person's payment (已参保); a subsidy not granted yet is granted as of the payment
  day, from the identities held then;
- `mark_cannot_enrol` (不能参保, with reason and evidence) and `mark_not_insured` (未参保);
- `detect_ledger_problems` / `close_problem`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import groupby

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from ..authz import require_permission
from ..models import Enrollment, IdentityCategory, LedgerProblem, Person, Region
from ..models.choices import Scheme
from ..models.ledger import CannotEnrolReason, EnrollmentStatus, ProblemKind, ProblemStatus
from ..money import ZERO, split_by_shares
from ..rules.intake import Intake, coverage_for_enrolment, identity_counts_for_plan_year, local_date
from ..rules.subsidy import (
    GovernmentShares,
    Kind,
    SubsidyCandidate,
    best_subsidy,
    split_subsidy,
    subsidy_candidates,
)
from ..selectors import EnrolmentTerms, enrolment_terms, plan_year_identities

__all__ = [
    "Assessment",
    "LedgerBuildResult",
    "ProblemDetectionResult",
    "assess_enrolment",
    "build_ledger",
    "close_problem",
    "detect_ledger_problems",
    "enrol_person",
    "mark_cannot_enrol",
    "mark_not_insured",
    "record_payment",
]

BATCH_SIZE = 1000
NO_SHARES = GovernmentShares(ZERO, ZERO, ZERO)

IdentityPeriod = tuple[str, date, date | None]
"""(category code, valid from, valid to) of one identity."""


# ---------------------------------------------------------------------------------------------------------------
# The assessment of one person: pure arithmetic over terms read in bulk
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    contribution_due: Decimal
    subsidy: SubsidyCandidate | None
    shares: GovernmentShares
    coverage: Intake
    categories: frozenset[str]  # the categories that counted for the plan year


def _region_label(region_id: int) -> str:
    region = Region.objects.filter(pk=region_id).first()
    return str(region) if region else str(region_id)


def _owed(terms: EnrolmentTerms, scheme: str) -> Decimal:
    """The individual contribution of the person's scheme; the employee scheme is collected through payroll and
    is outside resident subsidies (资助参保 is for "参加城乡居民医保的"), so nothing is due in this ledger."""
    if scheme == Scheme.EMPLOYEE:
        return ZERO
    figure = terms.standard.tier2 if scheme == Scheme.RESIDENT_TIER2 else terms.standard.tier1
    if figure is None:
        raise ValidationError(
            _("No individual contribution standard (%(scheme)s) is recorded for %(year)s in %(region)s or the "
              "regions above it.")
            % {"scheme": Scheme(scheme).label, "year": terms.plan_year, "region": _region_label(terms.region_id)})
    return figure


def assess_enrolment(
    terms: EnrolmentTerms,
    *,
    scheme: str,
    identities: list[IdentityPeriod],
    birth_date: date | None,
    on_date: date,
) -> Assessment:
    """What one person owes, the subsidy (就高) and its shares, and the coverage start, for an enrolment on
    `on_date` — plain arithmetic over `terms` read in bulk (`enrollment.selectors.enrolment_terms`), no queries
    unless a figure is missing (then a ValidationError names it). `terms.policy` must be set."""
    policy = terms.policy
    plan_year = terms.plan_year
    owed = _owed(terms, scheme)
    counted = frozenset(
        code for code, valid_from, valid_to in identities
        if identity_counts_for_plan_year(
            valid_from, valid_to, plan_year=plan_year, cutoff_month=policy.intake_cutoff_month,
            cutoff_day=policy.intake_cutoff_day, known_on=on_date, green_channel=code in terms.green_channel)
    )
    best = None
    if scheme != Scheme.EMPLOYEE:
        rules = [terms.rules[code] for code in sorted(counted) if code in terms.rules]
        if terms.standard.tier1 is None and any(rule.kind in (Kind.FULL, Kind.PERCENT) for rule in rules):
            _owed(terms, Scheme.RESIDENT_TIER1)  # percentages are of the tier-1 standard: say precisely it is missing
        best = best_subsidy(subsidy_candidates(
            rules, owed=owed, tier1_contribution=terms.standard.tier1, full_base=policy.full_subsidy_base,
            higher_tier=scheme == Scheme.RESIDENT_TIER2))
    shares = NO_SHARES
    if best is not None and best.rule.cost_shared and terms.cost_shares is not None:
        province, prefecture, county = terms.cost_shares
        shares = split_subsidy(best.amount, province_share=province, prefecture_share=prefecture,
                               county_share=county)
    coverage = coverage_for_enrolment(
        plan_year, registered_on=on_date, birth_date=birth_date,
        newborn_window_months=policy.newborn_window_months, green_channel=bool(counted & terms.green_channel))
    return Assessment(owed, best, shares, coverage, counted)


_assess = assess_enrolment  # the name enrollment.demo imported first


def _apply_subsidy(row: Enrollment, assessment: Assessment, terms: EnrolmentTerms, *, granted_on: date | None):
    best = assessment.subsidy
    row.policy = terms.policy
    if best is None:
        row.subsidy_amount = ZERO
        row.subsidy_category_id = None
        row.subsidy_funding_source = ""
        row.subsidy_granted_on = None
        shares = NO_SHARES
    else:
        row.subsidy_amount = best.amount
        row.subsidy_category_id = terms.category_ids[best.rule.category]
        row.subsidy_funding_source = best.rule.funding_source
        row.subsidy_granted_on = granted_on
        shares = assessment.shares
    row.subsidy_province, row.subsidy_prefecture, row.subsidy_county = (
        shares.province, shares.prefecture, shares.county)


def _cap_kept_subsidy(row: Enrollment) -> None:
    """A kept subsidy still never exceeds what is due (e.g. after a change to a cheaper scheme)."""
    if row.subsidy_amount <= row.contribution_due:
        return
    old_shares = [row.subsidy_province, row.subsidy_prefecture, row.subsidy_county]
    row.subsidy_amount = row.contribution_due
    if not row.subsidy_amount:
        row.subsidy_category_id = None
        row.subsidy_funding_source = ""
        row.subsidy_granted_on = None
        row.subsidy_province = row.subsidy_prefecture = row.subsidy_county = ZERO
    elif any(old_shares):
        row.subsidy_province, row.subsidy_prefecture, row.subsidy_county = split_by_shares(
            row.subsidy_amount, old_shares)


def _person_identities(person_id: int, plan_year: int, known_on: date) -> list[IdentityPeriod]:
    return list(
        plan_year_identities([person_id], plan_year, known_on=known_on)
        .values_list("category__code", "valid_from", "valid_to"))


def _terms_for(region: Region, plan_year: int) -> EnrolmentTerms:
    terms = enrolment_terms([region], plan_year)[region.pk]
    if terms.policy is None:
        raise ValidationError(
            _("No policy version of %(region)s or the regions above it covers plan year %(year)s.")
            % {"region": region, "year": plan_year})
    return terms


#: Registering people (and their subsidies) in the ledger; recording payments and statuses of a row. Every service
#: below checks these and the row's region itself (enrollment.authz), whoever calls it.
ENROL_PERMISSION = "enrollment.add_enrollment"
CHANGE_PERMISSION = "enrollment.change_enrollment"


def _today(value: date | datetime | None) -> date:
    return local_date(value) if value is not None else timezone.localdate()


def _save(row, by, *, change_reason: str) -> None:
    row._history_user = by
    row._change_reason = change_reason
    row.save()


def _locked(enrollment: Enrollment) -> Enrollment:
    # of=("self",): the joined person and region rows are read, not locked (without it PostgreSQL locks them too,
    # and every change of one person's row would queue behind all work in the region).
    return (Enrollment.objects.select_for_update(of=("self",)).select_related("person", "region")
            .get(pk=enrollment.pk))


# ---------------------------------------------------------------------------------------------------------------
# Single-row services
# ---------------------------------------------------------------------------------------------------------------


@transaction.atomic
def enrol_person(
    *, person: Person, plan_year: int, scheme: str = Scheme.RESIDENT_TIER1, by, on_date: date | None = None,
) -> Enrollment:
    """Register `person` for `plan_year` in `scheme` (参保登记): create or update their ledger row.

    Sets the contribution due (the plan year's individual standard of the scheme tier), the subsidy by 就高 over
    the identities that count (with category, funding source, policy version, government shares when the rule is
    cost-shared and the county's class has a cost-sharing rule) and the coverage start. A subsidy already granted
    is kept when the policy does not top up after identity changes; a row already paid (已参保) keeps its figures
    and its scheme. `on_date` (default: today) is the registration day.
    """
    require_permission(by, ENROL_PERMISSION, region=person.region)
    if scheme not in Scheme.values:
        raise ValidationError(_("Unknown scheme %(scheme)s.") % {"scheme": scheme})
    on_date = _today(on_date)
    if person.death_date and person.death_date < date(plan_year, 1, 1):
        raise ValidationError(_("%(person)s died before plan year %(year)s.") % {"person": person, "year": plan_year})
    terms = _terms_for(person.region, plan_year)
    assessment = assess_enrolment(
        terms, scheme=scheme, identities=_person_identities(person.pk, plan_year, on_date),
        birth_date=person.birth_date, on_date=on_date)

    row = Enrollment.objects.select_for_update().filter(person=person, plan_year=plan_year).first()
    if row is None:
        row = Enrollment(person=person, plan_year=plan_year, region=person.region)
    elif row.status == EnrollmentStatus.INSURED:
        # The payment fixed what was due and what was subsidised (参保缴费时); re-registering changes no money.
        if scheme != row.scheme:
            raise ValidationError(
                _("A payment is recorded for %(year)s under %(scheme)s; the scheme can no longer be changed.")
                % {"year": plan_year, "scheme": Scheme(row.scheme).label})
        return row
    row.scheme = scheme
    row.contribution_due = assessment.contribution_due
    keep_granted = row.subsidy_granted_on is not None and not terms.policy.top_up_on_identity_change
    if keep_granted:
        _cap_kept_subsidy(row)
    else:
        _apply_subsidy(row, assessment, terms, granted_on=on_date)
    # Registering is the answer to 未参保 / 不能参保: the person is expected to pay again.
    row.status = EnrollmentStatus.SHOULD_ENROL
    row.cannot_reason = ""
    row.cannot_evidence = ""
    row.coverage_start = assessment.coverage.coverage_start
    row.coverage_end = date(plan_year, 12, 31)
    _save(row, by, change_reason=_("Enrolled"))
    return row


@transaction.atomic
def record_payment(*, enrollment: Enrollment, amount: Decimal, paid_on: date | datetime, by) -> Enrollment:
    """Record the person's own payment; the row becomes 已参保 (insured).

    A subsidy not granted yet is computed and granted as of `paid_on` (参保缴费时), so what the person must pay is
    known only then; `amount` must equal that share exactly. Coverage starts as registered, or — when the row was
    never registered — as of the payment day.
    """
    row = _locked(enrollment)
    require_permission(by, CHANGE_PERMISSION, region=row.region)
    paid_on = local_date(paid_on)
    if row.status == EnrollmentStatus.INSURED:
        raise ValidationError(_("A payment has already been recorded for this enrolment."))
    if row.status == EnrollmentStatus.CANNOT_ENROL:
        raise ValidationError(_("This person is recorded as not insurable; correct that first."))
    if not isinstance(amount, Decimal) or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(_("The amount paid must be a non-negative amount in yuan and fen."))

    if row.subsidy_granted_on is None or row.coverage_start is None:
        terms = _terms_for(row.person.region, row.plan_year)
        assessment = assess_enrolment(
            terms, scheme=row.scheme, identities=_person_identities(row.person_id, row.plan_year, paid_on),
            birth_date=row.person.birth_date, on_date=paid_on)
        if row.subsidy_granted_on is None:
            row.contribution_due = assessment.contribution_due
            _apply_subsidy(row, assessment, terms, granted_on=paid_on)
        if row.coverage_start is None:
            row.coverage_start = assessment.coverage.coverage_start
            row.coverage_end = date(row.plan_year, 12, 31)
    if amount != row.person_share:
        raise ValidationError(
            _("The person's share is %(share)s yuan (contribution %(due)s minus subsidy %(subsidy)s); %(amount)s was "
              "entered.")
            % {"share": row.person_share, "due": row.contribution_due, "subsidy": row.subsidy_amount, "amount": amount})
    row.person_paid = amount
    row.paid_on = paid_on
    row.status = EnrollmentStatus.INSURED
    _save(row, by, change_reason=_("Payment recorded"))
    return row


@transaction.atomic
def mark_cannot_enrol(*, enrollment: Enrollment, reason: str, evidence: str, by) -> Enrollment:
    """Record that the person cannot be insured (不能参保: 参军, 入学, 已参加职工医保, 死亡, ...) with the evidence."""
    row = _locked(enrollment)
    require_permission(by, CHANGE_PERMISSION, region=row.region)
    if reason not in CannotEnrolReason.values:
        raise ValidationError(_("Unknown reason %(reason)s.") % {"reason": reason})
    evidence = (evidence or "").strip()
    if not evidence:
        raise ValidationError(_("Give the evidence for why the person cannot be insured."))
    if row.status == EnrollmentStatus.INSURED:
        raise ValidationError(_("The person is insured for this plan year; they cannot be marked as not insurable."))
    row.status = EnrollmentStatus.CANNOT_ENROL
    row.cannot_reason = reason
    row.cannot_evidence = evidence
    _save(row, by, change_reason=_("Marked as not insurable"))
    return row


@transaction.atomic
def mark_not_insured(*, enrollment: Enrollment, by, note: str = "") -> Enrollment:
    """Record that a person who should be insured did not enrol (未参保), e.g. when the collection period ends."""
    row = _locked(enrollment)
    require_permission(by, CHANGE_PERMISSION, region=row.region)
    if row.status == EnrollmentStatus.INSURED:
        raise ValidationError(_("A payment is recorded for this enrolment; it cannot be marked as not insured."))
    row.status = EnrollmentStatus.NOT_INSURED
    row.cannot_reason = ""
    row.cannot_evidence = ""
    if note:
        row.note = note[: Enrollment._meta.get_field("note").max_length]
    _save(row, by, change_reason=_("Marked as not insured"))
    return row


# ---------------------------------------------------------------------------------------------------------------
# Set-based services
# ---------------------------------------------------------------------------------------------------------------


def _subtree(region: Region) -> list[Region]:
    return list(Region.objects.filter(path__startswith=region.path))


def _alive_in(plan_year: int, prefix: str = "") -> Q:
    return Q(**{f"{prefix}death_date__isnull": True}) | Q(**{f"{prefix}death_date__gte": date(plan_year, 1, 1)})


def _holder_rows(region: Region, plan_year: int, known_on: date, *, codes, extra: Q | None = None):
    """(person id, person region id, birth date, [identities]) of identity holders living in the subtree, streamed
    person by person in one query."""
    rows = (
        plan_year_identities(
            Q(person__region__path__startswith=region.path) & _alive_in(plan_year, "person__") & (extra or Q()),
            plan_year, known_on=known_on)
        .filter(category__code__in=codes)
        .order_by("person_id")
        .values_list("person_id", "person__region_id", "person__birth_date", "category__code", "valid_from",
                     "valid_to")
        .iterator(chunk_size=BATCH_SIZE)
    )
    for person_id, group in groupby(rows, key=lambda r: r[0]):
        group = list(group)
        yield person_id, group[0][1], group[0][2], [(code, start, end) for _p, _r, _b, code, start, end in group]


@dataclass(frozen=True)
class LedgerBuildResult:
    created: int  # new 应参保 rows
    holders: int  # people in the subtree holding an identity with a rule, not yet in the ledger
    not_subsidised: int  # of those, people whose identities give no subsidy this plan year
    without_policy: int  # of those, people whose region has no policy version for the plan year


@transaction.atomic
def build_ledger(*, region: Region, plan_year: int, by, on_date: date | None = None) -> LedgerBuildResult:
    """Create 应参保 rows for everyone in `region`'s subtree holding a subsidised identity for `plan_year` and not
    yet in the ledger (people who died before the plan year are left out).

    A constant number of queries (plus one insert per batch): the regions' terms are read once, the identities
    are streamed in one query, subsidies are computed in Python, rows are written with history in batches. The
    subsidy is computed for the default scheme (tier 1) but not yet granted — see the module docstring.
    """
    require_permission(by, ENROL_PERMISSION, region=region)
    on_date = _today(on_date)
    Region.objects.select_for_update().filter(pk=region.pk).first()  # one build of a region at a time
    regions = _subtree(region)
    terms_by_region = enrolment_terms(regions, plan_year)
    codes = {code for terms in terms_by_region.values() for code in terms.rules}
    already = Enrollment.objects.filter(plan_year=plan_year).values("person_id")

    created = holders = not_subsidised = without_policy = 0
    batch: list[Enrollment] = []
    for person_id, region_id, birth_date, identities in _holder_rows(
            region, plan_year, on_date, codes=codes, extra=~Q(person_id__in=already)):
        holders += 1
        terms = terms_by_region[region_id]
        if terms.policy is None:
            without_policy += 1
            continue
        assessment = assess_enrolment(terms, scheme=Scheme.RESIDENT_TIER1, identities=identities,
                                      birth_date=birth_date, on_date=on_date)
        if assessment.subsidy is None:
            not_subsidised += 1
            continue
        row = Enrollment(person_id=person_id, plan_year=plan_year, region_id=region_id,
                         scheme=Scheme.RESIDENT_TIER1, status=EnrollmentStatus.SHOULD_ENROL,
                         contribution_due=assessment.contribution_due)
        _apply_subsidy(row, assessment, terms, granted_on=None)
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            created += len(bulk_create_with_history(batch, Enrollment, batch_size=BATCH_SIZE, default_user=by))
            batch = []
    if batch:
        created += len(bulk_create_with_history(batch, Enrollment, batch_size=BATCH_SIZE, default_user=by))
    return LedgerBuildResult(created, holders, not_subsidised, without_policy)


@dataclass(frozen=True)
class ProblemDetectionResult:
    created: dict[str, int]  # new open problems by kind
    already_open: int  # problems found again that were still open (left untouched)

    @property
    def total_created(self) -> int:
        return sum(self.created.values())


@transaction.atomic
def detect_ledger_problems(
    *,
    region: Region,
    plan_year: int,
    by,
    responsible_unit: str = "",
    deadline: date | None = None,
    collection_closed_on: date | None = None,
    on_date: date | None = None,
) -> ProblemDetectionResult:
    """List the ledger's discrepancies in `region`'s subtree for `plan_year` as open problems (问题清单):

    - ``not_insured``: a person holding a subsidised identity for the plan year who is not in the ledger; a ledger
      row in status 未参保; a row still 应参保 once `collection_closed_on` has passed (or at once, if no date is
      given);
    - ``subsidy_missing``: a row (not 不能参保) without a subsidy although the person's identities — as held when
      they paid, or today when they have not paid — give one under the row's scheme;
    - ``subsidy_exceeds``: a row whose subsidy is above the contribution due.

    A problem still open for the same person, year and kind is not created again (and stays as staff left it).
    A fixed number of queries plus one insert per batch.
    """
    on_date = _today(on_date)
    regions = _subtree(region)
    terms_by_region = enrolment_terms(regions, plan_year)
    codes = {code for terms in terms_by_region.values() for code in terms.rules}
    in_subtree = Q(region__path__startswith=region.path) | Q(person__region__path__startswith=region.path)
    rows = {
        row["person_id"]: row
        for row in Enrollment.objects.filter(in_subtree, plan_year=plan_year).values(
            "pk", "person_id", "region_id", "status", "scheme", "subsidy_amount", "contribution_due", "paid_on",
            "person__region_id")
    }
    names = dict(IdentityCategory.objects.values_list("code", "name"))
    found: list[tuple[int, int, str, str]] = []  # (person id, region id, kind, description)

    def category_names(categories) -> str:
        return "、".join(names.get(code, code) for code in sorted(categories))

    for person_id, region_id, birth_date, identities in _holder_rows(region, plan_year, on_date, codes=codes):
        terms = terms_by_region[region_id]
        if terms.policy is None:
            continue
        row = rows.get(person_id)
        if row is None:
            expected = assess_enrolment(terms, scheme=Scheme.RESIDENT_TIER1, identities=identities,
                                        birth_date=birth_date, on_date=on_date)
            if expected.subsidy is not None:
                found.append((person_id, region_id, ProblemKind.NOT_INSURED,
                              _("Holds %(categories)s but is not in the %(year)s ledger.")
                              % {"categories": category_names(expected.categories), "year": plan_year}))
            continue
        if row["status"] == EnrollmentStatus.CANNOT_ENROL or row["subsidy_amount"] > 0:
            continue
        known_on = row["paid_on"] if row["status"] == EnrollmentStatus.INSURED and row["paid_on"] else on_date
        expected = assess_enrolment(terms, scheme=row["scheme"], identities=identities, birth_date=birth_date,
                                    on_date=known_on)
        if expected.subsidy is not None:
            found.append((person_id, row["region_id"], ProblemKind.SUBSIDY_MISSING,
                          _("Holds %(category)s, which gives a subsidy of %(amount)s yuan, but no subsidy is recorded.")
                          % {"category": names.get(expected.subsidy.rule.category, expected.subsidy.rule.category),
                             "amount": expected.subsidy.amount}))

    collection_closed = collection_closed_on is None or on_date > collection_closed_on
    for row in rows.values():
        if row["status"] == EnrollmentStatus.NOT_INSURED:
            found.append((row["person_id"], row["region_id"], ProblemKind.NOT_INSURED,
                          _("Recorded as not insured for %(year)s.") % {"year": plan_year}))
        elif row["status"] == EnrollmentStatus.SHOULD_ENROL and collection_closed:
            found.append((row["person_id"], row["region_id"], ProblemKind.NOT_INSURED,
                          _("Should be insured for %(year)s but no payment is recorded.") % {"year": plan_year}))
    for row in Enrollment.objects.filter(in_subtree, plan_year=plan_year,
                                         subsidy_amount__gt=F("contribution_due")).values(
            "person_id", "region_id", "subsidy_amount", "contribution_due"):
        found.append((row["person_id"], row["region_id"], ProblemKind.SUBSIDY_EXCEEDS_DUE,
                      _("The subsidy of %(subsidy)s yuan is above the contribution due of %(due)s yuan.")
                      % {"subsidy": row["subsidy_amount"], "due": row["contribution_due"]}))

    for row in Enrollment.objects.filter(
            in_subtree, plan_year=plan_year, status=EnrollmentStatus.INSURED,
            contribution_due__lt=F("person_paid") + F("subsidy_amount")).values(
            "person_id", "region_id", "person_paid", "subsidy_amount", "contribution_due"):
        found.append((row["person_id"], row["region_id"], ProblemKind.PAID_ABOVE_DUE,
                      _("Paid %(paid)s yuan with a subsidy of %(subsidy)s yuan, above the contribution due of "
                        "%(due)s yuan: refund the difference.")
                      % {"paid": row["person_paid"], "subsidy": row["subsidy_amount"], "due": row["contribution_due"]}))
    for person_id, region_id, others in _duplicates_across_regions(region, plan_year):
        found.append((person_id, region_id, ProblemKind.DUPLICATE_REGIONS,
                      _("Someone with the same name, sex and birth date is also in the %(year)s ledger of "
                        "%(regions)s: check whether it is the same person enrolled twice.")
                      % {"year": plan_year, "regions": "、".join(others)}))

    open_already = set(
        LedgerProblem.objects.filter(in_subtree, plan_year=plan_year, status=ProblemStatus.OPEN)
        .values_list("person_id", "kind"))
    max_description = LedgerProblem._meta.get_field("description").max_length
    new_problems: dict[tuple[int, str], LedgerProblem] = {}
    seen_open = set()
    for person_id, region_id, kind, description in found:
        key = (person_id, str(kind))
        if key in open_already:
            seen_open.add(key)
            continue
        new_problems.setdefault(key, LedgerProblem(
            person_id=person_id, plan_year=plan_year, region_id=region_id, kind=kind,
            description=description[:max_description], responsible_unit=responsible_unit, deadline=deadline))
    objects = list(new_problems.values())
    for start in range(0, len(objects), BATCH_SIZE):
        bulk_create_with_history(objects[start:start + BATCH_SIZE], LedgerProblem, batch_size=BATCH_SIZE,
                                 default_user=by)
    created = {kind.value: 0 for kind in ProblemKind}
    for problem in objects:
        created[str(problem.kind)] += 1
    return ProblemDetectionResult(created=created, already_open=len(seen_open))


def _duplicate_keys(plan_year: int):
    """(name, sex, birth date) of people in the plan year's ledger of more than one region — one grouped query."""
    return (Enrollment.objects.filter(plan_year=plan_year).exclude(status=EnrollmentStatus.CANNOT_ENROL)
            .values("person__name", "person__sex", "person__birth_date")
            .annotate(regions=Count("region_id", distinct=True)).filter(regions__gt=1)
            .values_list("person__name", "person__sex", "person__birth_date"))


def _duplicates_across_regions(region: Region, plan_year: int):
    """(person id, region id, [names of the other regions]) of ledger rows in the subtree that share name, sex and
    birth date with a row of another region in the same plan year (重复参保 across regions: the same person may
    have been registered twice under different ID numbers)."""
    keys = set(_duplicate_keys(plan_year))
    if not keys:
        return []
    names = {key[0] for key in keys}
    rows = list(Enrollment.objects.filter(plan_year=plan_year, person__name__in=names)
                .exclude(status=EnrollmentStatus.CANNOT_ENROL)
                .values_list("person_id", "region_id", "region__name", "region__path", "person__name",
                             "person__sex", "person__birth_date"))
    by_key: dict[tuple, list] = {}
    for row in rows:
        key = row[4:]
        if key in keys:
            by_key.setdefault(key, []).append(row)
    out = []
    for group in by_key.values():
        for person_id, region_id, _name, path, *_key in group:
            if not path.startswith(region.path):
                continue
            others = sorted({other[2] for other in group if other[1] != region_id})
            if others:
                out.append((person_id, region_id, others))
    return out


def problem_unresolved_reason(problem: LedgerProblem) -> str | None:
    """Why ``problem`` cannot be closed off yet (对账销号 only for problems resolved in the ledger), or None.

    The ledger decides: a person not insured must now be insured or recorded as not insurable (不能参保, with its
    reason and evidence); a missing subsidy must be granted; an overpayment must be refunded; a duplicate must be
    gone from one of the regions' ledgers. Other problems are closed on the clerk's note alone.
    """
    row = (Enrollment.objects.filter(person_id=problem.person_id, plan_year=problem.plan_year)
           .values("status", "subsidy_amount", "contribution_due", "person_paid").first())
    kind = problem.kind
    if kind == ProblemKind.NOT_INSURED:
        if row is None or row["status"] not in (EnrollmentStatus.INSURED, EnrollmentStatus.CANNOT_ENROL):
            return _("%(person)s is still not insured for %(year)s: record the payment, or mark the ledger row "
                     "not insurable with its reason, first.") % {"person": problem.person.name,
                                                                 "year": problem.plan_year}
    elif kind == ProblemKind.SUBSIDY_MISSING:
        if row is not None and row["status"] != EnrollmentStatus.CANNOT_ENROL and row["subsidy_amount"] <= 0:
            return _("%(person)s's %(year)s ledger row still has no subsidy: grant it first.") % {
                "person": problem.person.name, "year": problem.plan_year}
    elif kind in (ProblemKind.SUBSIDY_EXCEEDS_DUE, ProblemKind.PAID_ABOVE_DUE):
        if row is not None and row["person_paid"] + row["subsidy_amount"] > row["contribution_due"]:
            return _("%(person)s's %(year)s ledger row still shows more paid than due: record the refund first.") % {
                "person": problem.person.name, "year": problem.plan_year}
    elif kind == ProblemKind.IDENTITY_ENDED:
        if row is not None and row["status"] == EnrollmentStatus.SHOULD_ENROL and row["subsidy_amount"] > 0:
            person = problem.person
            terms = enrolment_terms([person.region], problem.plan_year)[person.region_id]
            on_date = timezone.localdate()
            expected = None if terms.policy is None else assess_enrolment(
                terms, scheme=Scheme.RESIDENT_TIER1, birth_date=person.birth_date, on_date=on_date,
                identities=_person_identities(person.pk, problem.plan_year, on_date)).subsidy
            if expected is None or expected.amount < row["subsidy_amount"]:
                return _("%(person)s's unpaid %(year)s ledger row still carries a subsidy no identity gives: "
                         "correct the subsidy first.") % {"person": person.name, "year": problem.plan_year}
    elif kind == ProblemKind.DUPLICATE_REGIONS:
        person = problem.person
        if (person.name, person.sex, person.birth_date) in set(_duplicate_keys(problem.plan_year)):
            return _("%(person)s is still in the %(year)s ledger of two regions: remove or mark one of the rows "
                     "first.") % {"person": person.name, "year": problem.plan_year}
    return None


@transaction.atomic
def close_problem(*, problem: LedgerProblem, by, note: str, on_date: date | None = None) -> LedgerProblem:
    """Close a problem off (对账销号) with a note on how it was resolved."""
    locked = LedgerProblem.objects.select_for_update().get(pk=problem.pk)
    if locked.status == ProblemStatus.CLOSED:
        raise ValidationError(_("This problem was already closed on %(day)s.") % {"day": locked.closed_on})
    note = (note or "").strip()
    if not note:
        raise ValidationError(_("Say how the problem was resolved."))
    unresolved = problem_unresolved_reason(locked)
    if unresolved:
        raise ValidationError(unresolved, code="unresolved")
    locked.status = ProblemStatus.CLOSED
    locked.closed_on = _today(on_date)
    locked.closed_by = by
    locked.closing_note = note[: LedgerProblem._meta.get_field("closing_note").max_length]
    _save(locked, by, change_reason=_("Closed"))
    return locked
