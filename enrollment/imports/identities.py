"""Identity files (身份/属性) sent by 民政 and 乡村振兴: one row per person, category and start date.

A row is a department's statement about one identity, keyed by (person, category, start date): a new key is
created, a known one updated. An empty 结束日期 means "still valid" (so a department can reopen an identity);
other empty cells leave what is stored.
"""

from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext as _

from ..models import Identity
from ..models.imports import ImportKind
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
from .cells import parse_date
from .columns import DEPARTMENTS, IDENTITY_FILE_COLUMNS
from .writer import Writer

IDENTITY_KEYS = ("category", "valid_from", "valid_to", "certified_by", "source_document", "source_batch")
IDENTITY_FIELDS = ["valid_to", "certified_by", "source_document", "source_batch"]


@dataclass(slots=True)
class IdentityDraft:
    row: int
    id_number: str
    category_id: int
    valid_from: date
    valid_to: date | None
    certified_by: str  # "" when the file leaves it to the category's department
    source_document: str
    source_batch: str
    person_pk: int | None = None
    pk: int | None = None
    action: str = ""


def read_identity(row: Row, ctx: Context, id_number: str | None, *, required: bool) -> IdentityDraft | None:
    """The identity cells of a row; with `required` False (a roster) a row may leave them all empty."""
    if not required and not any(row.has(key) for key in IDENTITY_KEYS if key in row.bound.index):
        return None
    category = row.category(ctx, required=True)
    valid_from = row.read("valid_from", parse_date, required=True)
    valid_to = row.read("valid_to", parse_date)
    certified_by = row.choice("certified_by", DEPARTMENTS) or ""
    source_document = row.text("source_document", 200)
    source_batch = row.text("source_batch", 64)
    if valid_from and valid_to and valid_to < valid_from:
        row.error("valid_to", _("The identity ends (%(end)s) before it starts (%(start)s).")
                  % {"end": valid_to.isoformat(), "start": valid_from.isoformat()})
    if not row.ok or id_number is None:
        return None
    return IdentityDraft(
        row=row.number, id_number=id_number, category_id=category.pk, valid_from=valid_from, valid_to=valid_to,
        certified_by=certified_by, source_document=source_document, source_batch=source_batch)


def plan_identities(drafts: list[IdentityDraft], counts, reject) -> None:
    """Decide create / update / unchanged for drafts whose `person_pk` is known (None: the person is new), and
    refuse (through `reject(row, column key, message)`) drafts whose validity overlaps another period of the same
    category for the same person, in the file or on file."""
    by_key: dict[tuple, IdentityDraft] = {}
    stored: list[tuple[int, int, date, date | None]] = []  # (person, category, from, to) already on file
    for draft in drafts:
        if draft.person_pk is None:
            draft.action = CREATE
        else:
            by_key[(draft.person_pk, draft.category_id, draft.valid_from)] = draft
    for chunk in chunked(sorted({key[0] for key in by_key}), LOOKUP_CHUNK):
        existing = Identity.objects.filter(person_id__in=chunk).values_list(
            "pk", "person_id", "category_id", "valid_from", "valid_to", "certified_by", "source_document",
            "source_batch")
        for pk, person_id, category_id, valid_from, valid_to, certified_by, document, batch in existing:
            draft = by_key.get((person_id, category_id, valid_from))
            if draft is None:
                stored.append((person_id, category_id, valid_from, valid_to))
                continue
            draft.pk = pk
            changed = (
                draft.valid_to != valid_to
                or (draft.certified_by and draft.certified_by != certified_by)
                or (draft.source_document and draft.source_document != document)
                or (draft.source_batch and draft.source_batch != batch)
            )
            draft.action = UPDATE if changed else SAME
    for draft in by_key.values():
        if not draft.action:
            draft.action = CREATE
    for draft in drafts:
        counts.add(draft.action)
    _refuse_overlaps(drafts, stored, reject)


def _refuse_overlaps(drafts: list[IdentityDraft], stored: list, reject) -> None:
    """Two periods of one category for one person may touch but not overlap: the subsidy and the tilts are
    decided per day, and a doubled day would be counted twice. Periods already on file that this file does not
    touch are the file's concern only where a draft meets them."""
    periods: dict[tuple, list[tuple[date, date, int | None]]] = {}
    for person_id, category_id, valid_from, valid_to in stored:
        periods.setdefault((person_id, category_id), []).append((valid_from, valid_to or date.max, None))
    for draft in drafts:
        person = draft.person_pk if draft.person_pk is not None else draft.id_number
        periods.setdefault((person, draft.category_id), []).append(
            (draft.valid_from, draft.valid_to or date.max, draft.row))
    for spans in periods.values():
        if len(spans) < 2:
            continue
        spans.sort(key=lambda span: (span[0], span[1]))
        # Compared with the period reaching furthest so far, not only the previous one: a long period can
        # overlap several later ones.
        start, end, row = spans[0]
        for next_start, next_end, next_row in spans[1:]:
            if next_start <= end and (row is not None or next_row is not None):
                other = (_("row %(row)d") % {"row": row}) if row is not None else _("a period already on file")
                shown_end = _("open-ended") if end == date.max else end.isoformat()
                reject(next_row if next_row is not None else row, "valid_from", _(
                    "This identity's validity overlaps %(other)s of the same category for the same person "
                    "(%(start)s to %(end)s); end the earlier period before the next one starts.") % {
                    "other": other, "start": start.isoformat(), "end": shown_end})
            if next_end > end:
                start, end, row = next_start, next_end, next_row


def write_identities(writer: Writer, ctx: Context, drafts: list[IdentityDraft]) -> None:
    categories = ctx.categories_by_id

    def build(draft: IdentityDraft) -> dict:
        return {
            "person_id": draft.person_pk, "category_id": draft.category_id, "valid_from": draft.valid_from,
            "valid_to": draft.valid_to,
            "certified_by": draft.certified_by or categories[draft.category_id].certified_by,
            "source_document": draft.source_document, "source_batch": draft.source_batch,
        }

    def apply(identity: Identity, draft: IdentityDraft) -> None:
        identity.valid_to = draft.valid_to
        if draft.certified_by:
            identity.certified_by = draft.certified_by
        if draft.source_document:
            identity.source_document = draft.source_document
        if draft.source_batch:
            identity.source_batch = draft.source_batch

    writer.create(Identity, [d for d in drafts if d.action == CREATE], build)
    writer.update(Identity, [d for d in drafts if d.action == UPDATE], apply, IDENTITY_FIELDS)


class IdentitiesImporter(Importer):
    kind = ImportKind.IDENTITIES
    columns = IDENTITY_FILE_COLUMNS
    models = (Identity,)

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.drafts: list[IdentityDraft] = []
        self.first_row: dict[tuple, int] = {}

    def check_row(self, row: Row) -> None:
        parsed = row.id_number()
        number = parsed.number if parsed else None
        draft = read_identity(row, self.ctx, number, required=True)
        if draft is None:
            return
        key = (draft.id_number, draft.category_id, draft.valid_from)
        if key in self.first_row:
            row.error("id_number", _("This person's identity with this category and start date is already on "
                                     "row %(row)d.") % {"row": self.first_row[key]})
            return
        self.first_row[key] = row.number
        self.drafts.append(draft)

    def resolve(self) -> None:
        people = fetch_people({draft.id_number for draft in self.drafts})
        known = []
        for draft in self.drafts:
            person = people.get(draft.id_number)
            # Someone registered in another region is "not found" here, in the same words: a different message
            # would tell the clerk that the number exists elsewhere.
            if person is None or not self.ctx.can_reach(self.ctx.regions_by_id[person[1]]):
                self.reject(draft.row, "id_number", not_found_message())
                continue
            draft.person_pk = person[0]
            known.append(draft)
        self.drafts = known
        plan_identities(self.drafts, self.counts["identity"], self.reject)

    def write(self, writer: Writer) -> None:
        write_identities(writer, self.ctx, self.drafts)
