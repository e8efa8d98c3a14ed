"""Department exchange (seed 001 Q13): warning lists out as .xlsx, identity marks back in.

The workbook's first sheet, 身份标识回传, is the answer form: one row per item about a person, with the item's
number and the person's ID and empty identity columns headed exactly as the project's identity files
(身份类别, 开始日期, 结束日期, 认定文件) plus 标识 (新增 / 确认 / 终止). The following sheets hold the lists,
one per list,
with their figures as real numbers and dates. A department fills in the first sheet and sends the file back; the
project's import engine (enrollment.imports) reads it as the kind ``warning_answers`` — dry run, row and column
errors, nothing written on any error, history — which updates identities and marks the items.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from enrollment.access_log import record_export
from enrollment.exports import neutralise_cell
from enrollment.idnumbers import mask_id_number
from enrollment.imports import columns as import_columns
from enrollment.imports import service as import_service
from enrollment.imports.base import LOOKUP_CHUNK, Context, Importer, Row, chunked
from enrollment.imports.cells import parse_date
from enrollment.imports.columns import ID_NUMBER, Column
from enrollment.imports.identities import IdentityDraft, plan_identities, write_identities
from enrollment.models import Identity, Region
from enrollment.scoping import user_can_reach_region
from enrollment.services.export_jobs import ExportOutput, register_exporter
from enrollment.services.export_start import start_export

from .models import AnswerMark, ListKind, WarningItem

KIND = "warning_answers"
EXPORT_KIND = "monitoring.warnings"
EXPORT_PERMISSION = "monitoring.export_warnings"
FULL_ID_PERMISSION = "enrollment.view_full_id_number"
ANSWER_SHEET = "身份标识回传"

ITEM_NUMBER = Column("item", "预警编号", required=True)
MARK = Column("mark", "标识", aliases=("回传标识",))
ANSWER_COLUMNS = (
    ITEM_NUMBER, ID_NUMBER, MARK,
    *(column for column in import_columns.IDENTITY_COLUMNS if column.key in (
        "category", "valid_from", "valid_to", "source_document")),
)
MARK_SPELLINGS = {
    AnswerMark.NEW: ("新增", "新认定", "new"),
    AnswerMark.CONFIRMED: ("确认", "核实确认", "confirmed"),
    AnswerMark.ENDED: ("终止", "退出", "ended"),
}


# ------------------------------------------------------------------------------------------------------ export

def _may_see_full_id(user) -> bool:
    return user.has_perm(FULL_ID_PERMISSION)


def _id_shown(user, number: str | None) -> str:
    if not number:
        return ""
    return number if _may_see_full_id(user) else mask_id_number(number)


def _money(value) -> Decimal | None:
    if value in (None, ""):
        return None
    return Decimal(str(value))


def _date(value) -> dt.date | None:
    if not value:
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


# Per list: (header, width, value of an item and its figures). Money and dates stay numbers and dates.
def _subject_columns(user):
    return [
        ("预警编号", 10, lambda i, f: i.pk),
        ("地区", 14, lambda i, f: i.region.name),
        ("原因", 26, lambda i, f: str(i.get_reason_display())),
        ("姓名", 10, lambda i, f: i.person.name if i.person_id else ""),
        ("身份证号", 21, lambda i, f: _id_shown(user, i.person.id_number) if i.person_id else ""),
        ("户号", 14, lambda i, f: i.household.number if i.household_id else ""),
    ]


_HANDLING = [
    ("首次发现", 12, lambda i, f: i.first_seen_on),
    ("最近发现", 12, lambda i, f: i.last_seen_on),
    ("原因消除日期", 12, lambda i, f: i.cause_gone_on),
    ("状态", 10, lambda i, f: str(i.get_status_display())),
    ("核实期限", 12, lambda i, f: i.verify_due_on),
    ("经办人", 10, lambda i, f: i.assignee.get_username() if i.assignee_id else ""),
]

_FIGURES = {
    ListKind.HIGH_COST: [
        ("年度", 8, lambda i, f: f.get("year")),
        ("个人自付", 14, lambda i, f: _money(f.get("out_of_pocket"))),
        ("预警线", 14, lambda i, f: _money(f.get("threshold"))),
    ],
    ListKind.APPLY_CANDIDATE: [
        ("家庭自付", 14, lambda i, f: _money(f.get("burden"))),
        ("家庭年可支配收入", 16, lambda i, f: _money(f.get("income"))),
        ("60% 标准", 14, lambda i, f: _money(f.get("threshold"))),
        ("家庭资产", 14, lambda i, f: _money(f.get("assets"))),
    ],
    ListKind.INSURANCE_GAP: [
        ("参保年度", 10, lambda i, f: f.get("plan_year")),
        ("应缴金额", 12, lambda i, f: _money(f.get("contribution_due"))),
        ("资助金额", 12, lambda i, f: _money(f.get("subsidy"))),
        ("资助身份", 14, lambda i, f: f.get("category", "")),
    ],
    ListKind.DEADLINE: [
        ("单据/批次/申请", 18, lambda i, f: f.get("claim") or f.get("batch") or f.get("application") or ""),
        ("期限", 12, lambda i, f: _date(f.get("due_on"))),
        ("情况", 10, lambda i, f: _("Overdue") if f.get("state") == "overdue" else _("Due within 3 working days")),
    ],
    ListKind.OUT_OF_CATALOG: [
        ("医院", 20, lambda i, f: i.hospital.name if i.hospital_id else ""),
        ("超标单据数", 10, lambda i, f: f.get("claims")),
        ("总费用", 14, lambda i, f: _money(f.get("total_cost"))),
        ("目录外费用", 14, lambda i, f: _money(f.get("out_of_catalog"))),
        ("超出 10% 部分", 14, lambda i, f: _money(f.get("excess"))),
        ("单据号", 40, lambda i, f: "、".join(f.get("claim_numbers", []))),
    ],
    ListKind.ASSISTANCE_FLOOR: [
        ("政策范围内自付", 14, lambda i, f: _money(f.get("policy_scope_borne"))),
        ("医疗救助", 12, lambda i, f: _money(f.get("assistance"))),
        ("底线比例 %", 10, lambda i, f: _money(f.get("floor_percent"))),
        ("底线金额", 12, lambda i, f: _money(f.get("floor_amount"))),
    ],
}

SHEET_TITLES = {
    ListKind.HIGH_COST: "高额医疗费用预警",
    ListKind.APPLY_CANDIDATE: "依申请救助线索",
    ListKind.INSURANCE_GAP: "应保尽保",
    ListKind.DEADLINE: "办理时限",
    ListKind.OUT_OF_CATALOG: "目录外费用超标",
    ListKind.ASSISTANCE_FLOOR: "救助比例不足",
}


def _write_sheet(sheet, headers: list[tuple[str, int]], rows, progress=None) -> None:
    sheet.append([header for header, _width in headers])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    for position, (_header, width) in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(position)].width = width
    sheet.freeze_panes = "A2"
    for row in rows:
        sheet.append([neutralise_cell(value) for value in row])
        if progress is not None:
            progress.advance()
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(cell.value, Decimal):
                cell.number_format = "#,##0.00"


def export_workbook(items: QuerySet[WarningItem], *, user, progress=None) -> bytes:
    """The lists of `items` (already scoped to what `user` may see) as a Chinese .xlsx workbook. `progress`
    (an ExportProgress) counts the rows of the list sheets, the answer sheet being a copy of some of them."""
    items = list(items.select_related("region", "person", "household", "hospital", "assignee")
                 .order_by("kind", "region__code", "id"))
    if progress is not None:
        progress.total(len(items))
    if _may_see_full_id(user) and items:
        record_export(user, model=WarningItem._meta.label_lower, rows=len(items))
    workbook = Workbook()
    answer = workbook.active
    answer.title = ANSWER_SHEET
    answer_headers = [("预警编号", 10), ("名单", 18), ("姓名", 10), ("身份证号", 21), ("标识", 8), ("身份类别", 16),
                      ("开始日期", 12), ("结束日期", 12), ("认定文件", 24)]
    _write_sheet(answer, answer_headers, (
        [item.pk, SHEET_TITLES[item.kind], item.person.name, _id_shown(user, item.person.id_number),
         None, None, None, None, None]
        for item in items if item.person_id))
    for kind in ListKind.values:
        of_kind = [item for item in items if item.kind == kind]
        if not of_kind:
            continue
        columns = [*_subject_columns(user), *_FIGURES[kind], *_HANDLING]
        sheet = workbook.create_sheet(SHEET_TITLES[kind])
        _write_sheet(sheet, [(header, width) for header, width, _value in columns],
                     ([value(item, item.figures) for _header, _width, value in columns] for item in of_kind),
                     progress)
    stream = io.BytesIO()
    workbook.save(stream)
    return stream.getvalue()


def export_filename(region_name: str) -> str:
    return f"预警名单-{region_name}-{timezone.localdate():%Y%m%d}.xlsx"


# The queue's filters the export keeps (the item list's query string).
EXPORT_FILTERS = ("region", "kind", "status", "reason", "assignee", "cause")


def start_department_export(*, user, filters: dict[str, str], region: Region | None):
    """Queue the department workbook of the filtered lists as a background export (the request returns at once)."""
    title = _("Warning lists for a department: %(region)s") % {
        "region": region.name if region else _("all regions")}
    return start_export(kind=EXPORT_KIND, title=title, user=user,
                        filters={key: filters.get(key, "") for key in EXPORT_FILTERS})


def build_department_export(job, progress) -> ExportOutput:
    """What the export task runs: the same lists for the same user, scoped and masked as they are now."""
    from .selectors import item_queue

    user, filters = job.created_by, job.filters
    if not user.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied(_("You may no longer export warning lists."))
    region = None
    if filters.get("region"):
        region = Region.objects.filter(code=filters["region"]).first()
        if region is None or not user_can_reach_region(user, region):
            raise PermissionDenied(_("This region is no longer among yours."))
    queryset = item_queue(user, region=region, **{key: filters.get(key, "") for key in EXPORT_FILTERS
                                                   if key != "region"})
    content = export_workbook(queryset, user=user, progress=progress)
    return ExportOutput(content=content, file_name=export_filename(region.name if region else _("all regions")),
                        rows=progress.done)


register_exporter(EXPORT_KIND, build_department_export)


# ------------------------------------------------------------------------------------------------------ import

def parse_mark(value) -> str:
    from enrollment.imports.cells import CellError

    text = str(value).strip()
    for mark, spellings in MARK_SPELLINGS.items():
        if text in spellings:
            return mark
    raise CellError(_("Unknown mark “%(value)s”; write 新增, 确认 or 终止.") % {"value": text})


def parse_item_number(value) -> int:
    from enrollment.imports.cells import CellError

    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    raise CellError(_("An item number is a whole number."))


@dataclass(slots=True)
class AnswerDraft:
    row: int
    item_id: int
    id_cell: str
    mark: str
    identity: IdentityDraft
    pk: int | None = None  # the item's, for the writer


class WarningAnswersImporter(Importer):
    """The department's answer sheet: identity marks (new, confirmed, ended) for the items' people."""

    kind = KIND
    columns = ANSWER_COLUMNS
    models = (Identity, WarningItem)

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.answers: list[AnswerDraft] = []
        self.identities: list[IdentityDraft] = []
        self.items: dict[int, WarningItem] = {}
        self.first_row: dict[int, int] = {}

    def check_row(self, row: Row) -> None:
        item_id = row.read("item", parse_item_number, required=True)
        id_cell = str(row.raw("id_number") or "").strip().upper()
        if not any(row.has(key) for key in ("mark", "category", "valid_from", "valid_to")):
            return  # a row the department left unanswered
        mark = row.read("mark", parse_mark, required=True)
        category = row.category(self.ctx, required=True)
        valid_from = row.read("valid_from", parse_date, required=True)
        valid_to = row.read("valid_to", parse_date, required=mark == AnswerMark.ENDED)
        document = row.text("source_document", 200)
        if valid_from and valid_to and valid_to < valid_from:
            row.error("valid_to", _("The identity ends (%(end)s) before it starts (%(start)s).")
                      % {"end": valid_to.isoformat(), "start": valid_from.isoformat()})
        if mark == AnswerMark.NEW and valid_to:
            row.error("valid_to", _("A new identity has no end date; mark it 终止 to end it."))
        if item_id is not None and item_id in self.first_row:
            row.error("item", _("This item is already answered on row %(row)d.") % {"row": self.first_row[item_id]})
        if not row.ok:
            return
        self.first_row[item_id] = row.number
        identity = IdentityDraft(
            row=row.number, id_number="", category_id=category.pk, valid_from=valid_from, valid_to=valid_to,
            certified_by="", source_document=document, source_batch="")
        self.answers.append(AnswerDraft(row=row.number, item_id=item_id, id_cell=id_cell, mark=mark,
                                        identity=identity))

    def resolve(self) -> None:
        ids = sorted({answer.item_id for answer in self.answers})
        for chunk in chunked(ids, LOOKUP_CHUNK):
            for item in WarningItem.objects.filter(pk__in=chunk).select_related("person", "region"):
                self.items[item.pk] = item
        kept = []
        for answer in self.answers:
            item = self.items.get(answer.item_id)
            if item is None or item.person_id is None:
                self.reject(answer.row, "item", _("No warning item about a person has this number."))
                continue
            if not self.ctx.can_reach(item.region):
                self.reject(answer.row, "item", _("This item belongs to %(region)s, outside your regions.")
                            % {"region": item.region})
                continue
            number = item.person.id_number
            if answer.id_cell and answer.id_cell not in (number, mask_id_number(number)):
                self.reject(answer.row, "id_number", _("This ID number is not the item's person's."))
                continue
            answer.identity.id_number = number
            answer.identity.person_pk = item.person_id
            kept.append(answer)
        self.answers = kept
        self._plan()

    def _plan(self) -> None:
        """Check each mark against the identities stored, then plan their creates and updates."""
        keys = {(a.identity.person_pk, a.identity.category_id, a.identity.valid_from) for a in self.answers}
        stored: dict[tuple, Identity] = {}
        for chunk in chunked(sorted({key[0] for key in keys}), LOOKUP_CHUNK):
            for identity in Identity.objects.filter(person_id__in=chunk):
                stored[(identity.person_id, identity.category_id, identity.valid_from)] = identity
        kept = []
        for answer in self.answers:
            draft = answer.identity
            existing = stored.get((draft.person_pk, draft.category_id, draft.valid_from))
            if answer.mark == AnswerMark.ENDED and existing is None:
                self.reject(answer.row, "valid_from", _("The person holds no such identity from this date to end."))
                continue
            if existing is not None and answer.mark != AnswerMark.ENDED:
                draft.valid_to = existing.valid_to  # new / confirmed keep a stored end date
            kept.append(answer)
        self.answers = kept
        self.identities = [answer.identity for answer in kept]
        plan_identities(self.identities, self.counts["identity"], self.reject)
        self.counts["warningitem"].update += len(kept)

    def write(self, writer) -> None:
        write_identities(writer, self.ctx, self.identities)
        today = timezone.localdate()
        categories = self.ctx.categories_by_id

        def apply(item: WarningItem, answer: AnswerDraft) -> None:
            draft = answer.identity
            item.answer, item.answered_on = answer.mark, today
            item.answer_detail = " ".join(filter(None, [
                categories[draft.category_id].name, draft.valid_from.isoformat(),
                f"– {draft.valid_to.isoformat()}" if draft.valid_to else ""]))[:200]

        for answer in self.answers:
            answer.pk = answer.item_id  # the writer updates by primary key
        writer.update(WarningItem, self.answers, apply, ["answer", "answered_on", "answer_detail"])


def register_answer_import() -> None:
    """Add the answer sheet to the import engine's kinds (from MonitoringConfig.ready; enrollment cannot import
    monitoring, so monitoring plugs in, as it does with its policy section)."""
    import_service.IMPORTERS[KIND] = WarningAnswersImporter
    import_columns.COLUMNS[KIND] = ANSWER_COLUMNS
    import_columns.PERMISSIONS[KIND] = "enrollment.add_identity"
