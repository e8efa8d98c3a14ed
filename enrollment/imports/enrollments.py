"""Enrolment ledger files (参保台账): one row per person and plan year.

The row is keyed by (ID number, 参保年度); the person must already be registered. Empty cells leave stored
values as they are. Subsidies are granted by the subsidy service, never by a file, so a file cannot lower the
contribution due below a subsidy already granted.
"""

from dataclasses import dataclass, field
from datetime import date

from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import Enrollment
from ..models.imports import ImportKind
from ..models.ledger import EnrollmentStatus
from .base import (
    CREATE,
    LOOKUP_CHUNK,
    SAME,
    UPDATE,
    Context,
    Importer,
    Row,
    chunked,
    fetch_people,
    not_found_message,
)
from .cells import parse_date, parse_money, parse_year
from .columns import CANNOT_REASONS, ENROLLMENT_COLUMNS, SCHEMES, STATUSES
from .writer import Writer

# File column → Enrollment field.
ENROLLMENT_CELLS = (
    ("scheme", "scheme"),
    ("status", "status"),
    ("cannot_reason", "cannot_reason"),
    ("cannot_evidence", "cannot_evidence"),
    ("contribution_due", "contribution_due"),
    ("person_paid", "person_paid"),
    ("paid_on", "paid_on"),
)
ENROLLMENT_FIELDS = [model_field for _key, model_field in ENROLLMENT_CELLS]
# The resident schemes were merged in 2016 and the new rural cooperative scheme began in 2003: no ledger row of a
# plan year before that can be real.
PLAN_YEAR_FIRST = 2003


@dataclass(slots=True)
class EnrollmentDraft:
    row: int
    id_number: str
    plan_year: int
    values: dict = field(default_factory=dict)  # Enrollment field → value, only what the file gives
    person_pk: int | None = None
    region_id: int | None = None
    pk: int | None = None
    action: str = ""


class EnrollmentsImporter(Importer):
    kind = ImportKind.ENROLLMENTS
    columns = ENROLLMENT_COLUMNS
    models = (Enrollment,)

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.drafts: list[EnrollmentDraft] = []
        self.first_row: dict[tuple[str, int], int] = {}

    def check_row(self, row: Row) -> None:
        parsed = row.id_number()
        plan_year = row.read("plan_year", parse_year, required=True)
        values = {
            "scheme": row.choice("scheme", SCHEMES),
            "status": row.choice("status", STATUSES),
            "cannot_reason": row.choice("cannot_reason", CANNOT_REASONS),
            "cannot_evidence": row.text("cannot_evidence", 200) or None,
            "contribution_due": row.read("contribution_due", parse_money),
            "person_paid": row.read("person_paid", parse_money),
            "paid_on": row.read("paid_on", parse_date),
        }
        if plan_year is not None and not PLAN_YEAR_FIRST <= plan_year <= timezone.localdate().year + 1:
            row.error("plan_year", _("Plan year %(year)d is not plausible: the ledger covers %(first)d to next year "
                                     "(%(last)d).") % {"year": plan_year, "first": PLAN_YEAR_FIRST,
                                                       "last": timezone.localdate().year + 1})
            plan_year = None
        if parsed is None or plan_year is None:
            return
        key = (parsed.number, plan_year)
        if key in self.first_row:
            # The number itself is left out: the result page is read by clerks who see ID numbers masked.
            row.error("id_number", _("This ID number already has a row for plan year %(year)d (row %(row)d).")
                      % {"year": plan_year, "row": self.first_row[key]})
            return
        self.first_row[key] = row.number
        if row.ok:
            self.drafts.append(EnrollmentDraft(
                row=row.number, id_number=parsed.number, plan_year=plan_year,
                values={k: v for k, v in values.items() if v is not None}))

    def resolve(self) -> None:
        ctx = self.ctx
        people = fetch_people({draft.id_number for draft in self.drafts})
        by_key: dict[tuple[int, int], EnrollmentDraft] = {}
        for draft in self.drafts:
            person = people.get(draft.id_number)
            # Another region's person gets the very words of an unknown number (no existence oracle).
            if person is None or not ctx.can_reach(ctx.regions_by_id[person[1]]):
                self.reject(draft.row, "id_number", not_found_message())
                continue
            draft.person_pk, draft.region_id = person
            by_key[(draft.person_pk, draft.plan_year)] = draft

        years = sorted({draft.plan_year for draft in by_key.values()})
        for chunk in chunked(sorted({key[0] for key in by_key}), LOOKUP_CHUNK):
            rows = Enrollment.objects.filter(person_id__in=chunk, plan_year__in=years).values_list(
                "pk", "person_id", "plan_year", "region_id", "subsidy_amount", *ENROLLMENT_FIELDS)
            for pk, person_id, plan_year, region_id, subsidy, *current in rows:
                draft = by_key.get((person_id, plan_year))
                if draft is None:
                    continue
                draft.pk = pk
                region = ctx.regions_by_id[region_id]
                if not ctx.can_reach(region):
                    self.reject(draft.row, "plan_year", _("This enrolment is kept by %(region)s, outside your "
                                                          "regions.") % {"region": region})
                stored = dict(zip(ENROLLMENT_FIELDS, current, strict=True))
                self._check_merged(draft, {**stored, **draft.values}, subsidy)
                changed = any(stored[name] != value for name, value in draft.values.items())
                draft.action = UPDATE if changed else SAME
        for draft in by_key.values():
            if not draft.action:
                draft.action = CREATE
                self._check_merged(draft, {"status": EnrollmentStatus.SHOULD_ENROL, "cannot_reason": "",
                                           **draft.values}, 0)
            self.counts["enrollment"].add(draft.action)
        self.drafts = list(by_key.values())

    def _check_merged(self, draft: EnrollmentDraft, merged: dict, subsidy) -> None:
        """The ledger's constraints, checked on the values the row will have after the import."""
        if merged["status"] == EnrollmentStatus.CANNOT_ENROL and not merged.get("cannot_reason"):
            self.reject(draft.row, "cannot_reason", _("Give the reason why the person cannot be insured."))
        due = merged.get("contribution_due")
        paid = merged.get("person_paid") or 0
        share = (due or 0) - subsidy
        if merged["status"] == EnrollmentStatus.INSURED and share > 0 and paid == 0:
            self.reject(draft.row, self._column(draft, "person_paid", "status"), _(
                "Marked 已参保 but nothing is paid, while the person owes %(share)s; give the amount paid "
                "(个人缴费), or leave the status 应参保.") % {"share": share})
        if paid > share >= 0 and due is not None:
            self.reject(draft.row, "person_paid", _(
                "The person paid %(paid)s, more than their share of %(share)s (contribution %(due)s less the "
                "subsidy %(subsidy)s).") % {"paid": paid, "share": share, "due": due, "subsidy": subsidy})
        paid_on = merged.get("paid_on")
        if paid_on is not None and "paid_on" in draft.values:
            self._check_paid_on(draft, paid_on)
        if due is not None and due < subsidy:
            self.reject(draft.row, "contribution_due", _("The contribution due is below the subsidy already "
                                                         "granted (%(subsidy)s).") % {"subsidy": subsidy})

    def _column(self, draft: EnrollmentDraft, key: str, fallback: str) -> str:
        """The column to blame: `key` if the file has it, else `fallback` (a file may leave out 个人缴费)."""
        return key if self.bound is not None and key in self.bound.index else fallback

    def _check_paid_on(self, draft: EnrollmentDraft, paid_on: date) -> None:
        # Contributions for plan year Y are collected from the year before (集中征缴期, usually autumn) until the
        # end of Y; a date outside that window is a typo or a payment for another year.
        earliest, latest = date(draft.plan_year - 1, 1, 1), date(draft.plan_year, 12, 31)
        today = timezone.localdate()
        if paid_on > today:
            self.reject(draft.row, "paid_on", _("The payment date %(date)s is in the future.")
                        % {"date": paid_on.isoformat()})
        elif not earliest <= paid_on <= latest:
            self.reject(draft.row, "paid_on", _(
                "The payment date %(date)s does not belong to plan year %(year)d; contributions for it are paid "
                "from %(earliest)s to %(latest)s.") % {"date": paid_on.isoformat(), "year": draft.plan_year,
                                                       "earliest": earliest.isoformat(),
                                                       "latest": latest.isoformat()})

    def write(self, writer: Writer) -> None:
        def build(draft: EnrollmentDraft) -> dict:
            return {"person_id": draft.person_pk, "plan_year": draft.plan_year, "region_id": draft.region_id,
                    **draft.values}

        def apply(enrollment: Enrollment, draft: EnrollmentDraft) -> None:
            for name, value in draft.values.items():
                setattr(enrollment, name, value)

        writer.create(Enrollment, [d for d in self.drafts if d.action == CREATE], build)
        writer.update(Enrollment, [d for d in self.drafts if d.action == UPDATE], apply, ENROLLMENT_FIELDS)
