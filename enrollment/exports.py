"""Spreadsheet exports of people, identities and the enrolment ledger (参保台账).

Two safeguards live here so every export gets them, from the admin or elsewhere:
- ID numbers are masked unless the requesting user holds `enrollment.view_full_id_number`; a resource built
  without a user (as import-export's export form does to list the columns) masks too.
- Cells that a spreadsheet would run as a formula (starting with = + - @, tab or carriage return) get a leading
  apostrophe (CSV injection). The formats below do it for CSV and for XLSX string cells.

Resources re-apply the region scope when they know the user, so a caller that forgets to pass a scoped queryset
still cannot export another region's rows.
"""

import tablib
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.formats.base_formats import CSV, XLSX

from .access_log import record_export
from .idnumbers import mask_bank_account, mask_id_number, shown_birth_date
from .imports.columns import (
    CANNOT_REASON_SPELLINGS,
    DEPARTMENT_SPELLINGS,
    ENROLLMENT_COLUMNS,
    IDENTITY_FILE_COLUMNS,
    LEVEL_SPELLINGS,
    REGION_COLUMNS,
    ROSTER_COLUMNS,
    SCHEME_SPELLINGS,
    STATUS_SPELLINGS,
    Column,
)
from .imports.workbook import SHEET_TITLES
from .models import Enrollment, Identity, Person, Region
from .models.imports import ImportKind
from .scoping import scope_queryset

FULL_ID_PERMISSION = "enrollment.view_full_id_number"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


# --- Formats ------------------------------------------------------------------------------------------------------

def neutralise_cell(value):
    """Prefix an apostrophe to a text cell that a spreadsheet would otherwise evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def neutralised(dataset: tablib.Dataset) -> tablib.Dataset:
    safe = tablib.Dataset(
        headers=[neutralise_cell(h) for h in dataset.headers] if dataset.headers else None, title=dataset.title)
    for row in dataset:
        safe.append([neutralise_cell(cell) for cell in row])
    return safe


class SafeCSV(CSV):
    def export_data(self, dataset, **kwargs):
        return super().export_data(neutralised(dataset), **kwargs)


class SafeXLSX(XLSX):
    """Typed cells (numbers and dates stay numbers and dates), the header row frozen, and columns as wide as their
    content in a Chinese font: tablib's "adaptive" width counts characters, and a Chinese character takes two
    columns, so names and headers were cut off. Written by openpyxl in write-only mode: a 100 000-row export does
    not build a cell object per value."""

    WIDTH_SAMPLE_ROWS = 200  # the first rows decide the widths; a later, longer cell is still there, only hidden
    MAX_WIDTH = 60

    def export_data(self, dataset, **kwargs):
        from openpyxl.utils.exceptions import IllegalCharacterError

        safe = neutralised(dataset)
        try:
            return _typed_workbook(safe, sample_rows=self.WIDTH_SAMPLE_ROWS, max_width=self.MAX_WIDTH)
        except IllegalCharacterError:
            # import-export's own path knows what to do with control characters (escape or a clean error).
            return super().export_data(safe, **kwargs)


def display_width(value) -> int:
    """Columns a value takes in a spreadsheet: East Asian wide and full-width characters count two."""
    import unicodedata

    text = value.isoformat() if hasattr(value, "isoformat") else str(value if value is not None else "")
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _excel_value(value):
    """Excel has no time zones: a moment is written as Beijing wall-clock time, what the user's screen shows."""
    from datetime import datetime

    if isinstance(value, datetime) and value.tzinfo is not None:
        from django.utils import timezone

        return timezone.localtime(value).replace(tzinfo=None)
    return value


def _typed_workbook(dataset: tablib.Dataset, *, sample_rows: int, max_width: int) -> bytes:
    import io
    from itertools import islice

    import openpyxl
    from openpyxl.utils import get_column_letter

    headers = list(dataset.headers or [])
    widths = [display_width(h) for h in headers]
    for row in islice(dataset, sample_rows):
        widths = [max(w, display_width(cell)) for w, cell in zip(widths, row, strict=False)]
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(title=(dataset.title or "导出数据")[:31])
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, max_width)
    sheet.freeze_panes = "A2"
    if headers:
        sheet.append(headers)
    for row in dataset:
        sheet.append([_excel_value(cell) for cell in row])
    stream = io.BytesIO()
    workbook.save(stream)
    return stream.getvalue()


SAFE_EXPORT_FORMATS = (SafeXLSX, SafeCSV)


# --- Resources ----------------------------------------------------------------------------------------------------

class ScopedMaskingResource(resources.ModelResource):
    """Base of our export resources: knows the user, masks ID numbers for them and keeps to their regions."""

    select_related: tuple[str, ...] = ()
    progress = None  # an ExportProgress when a background job builds the file

    def __init__(self, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user

    def export_resource(self, instance, selected_fields=None, **kwargs):
        row = super().export_resource(instance, selected_fields, **kwargs)
        if self.progress is not None:
            self.progress.advance()
        return row

    @property
    def shows_full_id(self) -> bool:
        return self.user is not None and self.user.has_perm(FULL_ID_PERMISSION)

    def id_number_for_export(self, number: str) -> str:
        return number if self.shows_full_id else mask_id_number(number)

    def birth_date_for_export(self, birth) -> str:
        return shown_birth_date(birth, full=self.shows_full_id)

    def filter_export(self, queryset, **kwargs):
        if self.user is not None:
            queryset = scope_queryset(queryset, self.user)
        if self.select_related:
            queryset = queryset.select_related(*self.select_related)
        if self.shows_full_id:
            record_export(self.user, model=queryset.model._meta.label_lower, rows=queryset.count())
        return queryset

    def get_queryset(self):
        return super().get_queryset().select_related(*self.select_related)

    def export(self, queryset=None, **kwargs):
        dataset = super().export(queryset, **kwargs)
        # The sheet is named after the list (in the user's language): a clerk's workbook reads 救助申请, not Sheet1.
        dataset.title = str(self.get_display_name())
        return dataset


class NativeWidget(widgets.Widget):
    """Values as they are for .xlsx (numbers and dates stay numbers and dates: sums and sorting work, and the
    import reads them back), as text for CSV: dates in ISO form, amounts with their two decimals."""

    def render(self, value, obj=None, **kwargs):
        if kwargs.get("force_native_type"):
            return value
        if value is None:
            return ""
        return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _field(attribute, column_name, **kwargs):
    kwargs.setdefault("widget", NativeWidget())
    return fields.Field(attribute=attribute, column_name=column_name, readonly=True, **kwargs)


def typed_field(attribute, column_name, **kwargs):
    """A read-only column for other apps' exports: numbers and dates reach .xlsx as number and date cells when the
    export is asked with ``force_native_type`` (as the admin's export jobs ask for binary formats), text in CSV."""
    return _field(attribute, column_name, **kwargs)



def _header(columns: tuple[Column, ...], key: str) -> str:
    return next(column.header for column in columns if column.key == key)


def _imported(columns: tuple[Column, ...], key: str, attribute: str, **kwargs):
    """A column the import of the same kind reads back: headed exactly as the import's COLUMNS (exchange format,
    not translated), so an exported file, edited, imports again."""
    return _field(attribute, _header(columns, key), **kwargs)


def _spelling(spellings: dict, value: str) -> str:
    """A choice as the exchange files write it (the first Chinese spelling the import accepts), whatever the
    interface language."""
    return spellings[value][0] if value in spellings else (value or "")


class RoundTripResource(ScopedMaskingResource):
    """An export the import of `import_kind` reads back. Its other columns (name of the region, sex …) have headers
    the import does not know, so it skips them."""

    import_kind: str = ""
    sheet_title: str = ""

    def export(self, queryset=None, **kwargs):
        dataset = super().export(queryset=queryset, **kwargs)
        dataset.title = self.sheet_title
        return dataset


class PersonExportResource(RoundTripResource):
    id_number = _imported(ROSTER_COLUMNS, "id_number", "id_number")
    name = _imported(ROSTER_COLUMNS, "name", "name")
    household = _imported(ROSTER_COLUMNS, "household_number", "household__number")
    region_code = _imported(ROSTER_COLUMNS, "region_code", "region__code")
    region_name = _field("region__name", _("region"))
    township = _imported(ROSTER_COLUMNS, "township", "township")
    village = _imported(ROSTER_COLUMNS, "village", "village")
    relation_to_head = _imported(ROSTER_COLUMNS, "relation", "relation_to_head")
    sex = _field("sex", _("sex"))
    birth_date = _field("birth_date", _("birth date"))
    address = _imported(ROSTER_COLUMNS, "address", "household__address")
    income = _imported(ROSTER_COLUMNS, "income", "household__annual_income")
    income_year = _imported(ROSTER_COLUMNS, "income_year", "household__income_year")
    income_source = _imported(ROSTER_COLUMNS, "income_source", "household__income_source")
    assets = _imported(ROSTER_COLUMNS, "assets", "household__assets_value")
    assets_year = _imported(ROSTER_COLUMNS, "assets_year", "household__assets_year")
    assets_source = _imported(ROSTER_COLUMNS, "assets_source", "household__assets_source")
    bank_name = _imported(ROSTER_COLUMNS, "bank_name", "bank_name")
    bank_account = _imported(ROSTER_COLUMNS, "bank_account", "bank_account")
    phone = _imported(ROSTER_COLUMNS, "phone", "phone")
    death_date = _field("death_date", _("date of death"))

    select_related = ("region", "household")
    import_kind = ImportKind.ROSTER
    sheet_title = SHEET_TITLES[ImportKind.ROSTER]

    class Meta:
        model = Person
        fields = ("id_number", "name", "household", "region_code", "region_name", "township", "village",
                  "relation_to_head", "sex", "birth_date", "address", "income", "income_year", "income_source",
                  "assets", "assets_year", "assets_source", "bank_name", "bank_account", "phone", "death_date")
        export_order = fields

    @classmethod
    def get_display_name(cls):
        return _("People")

    def dehydrate_id_number(self, person):
        return self.id_number_for_export(person.id_number)

    def dehydrate_birth_date(self, person):
        return self.birth_date_for_export(person.birth_date)

    def dehydrate_sex(self, person):
        return str(person.get_sex_display())

    def dehydrate_bank_account(self, person):
        # Masked for every role: the roster import keeps the account on file when it reads back its own mask.
        return mask_bank_account(person.bank_account) if person.bank_account else ""


class IdentityExportResource(RoundTripResource):
    id_number = _imported(IDENTITY_FILE_COLUMNS, "id_number", "person__id_number")
    name = _field("person__name", _("name"))
    region = _field("person__region__name", _("region"))
    category = _imported(IDENTITY_FILE_COLUMNS, "category", "category__name")
    valid_from = _imported(IDENTITY_FILE_COLUMNS, "valid_from", "valid_from")
    valid_to = _imported(IDENTITY_FILE_COLUMNS, "valid_to", "valid_to")
    certified_by = _imported(IDENTITY_FILE_COLUMNS, "certified_by", "certified_by")
    source_document = _imported(IDENTITY_FILE_COLUMNS, "source_document", "source_document")
    source_batch = _imported(IDENTITY_FILE_COLUMNS, "source_batch", "source_batch")

    select_related = ("person__region", "category")
    import_kind = ImportKind.IDENTITIES
    sheet_title = SHEET_TITLES[ImportKind.IDENTITIES]

    class Meta:
        model = Identity
        fields = ("id_number", "name", "region", "category", "valid_from", "valid_to", "certified_by",
                  "source_document", "source_batch")
        export_order = fields

    @classmethod
    def get_display_name(cls):
        return _("Identities")

    def dehydrate_id_number(self, identity):
        return self.id_number_for_export(identity.person.id_number)

    def dehydrate_certified_by(self, identity):
        return _spelling(DEPARTMENT_SPELLINGS, identity.certified_by)


class EnrollmentExportResource(RoundTripResource):
    id_number = _imported(ENROLLMENT_COLUMNS, "id_number", "person__id_number")
    name = _field("person__name", _("name"))
    region_name = _field("region__name", _("region"))
    plan_year = _imported(ENROLLMENT_COLUMNS, "plan_year", "plan_year")
    scheme = _imported(ENROLLMENT_COLUMNS, "scheme", "scheme")
    status = _imported(ENROLLMENT_COLUMNS, "status", "status")
    cannot_reason = _imported(ENROLLMENT_COLUMNS, "cannot_reason", "cannot_reason")
    cannot_evidence = _imported(ENROLLMENT_COLUMNS, "cannot_evidence", "cannot_evidence")
    contribution_due = _imported(ENROLLMENT_COLUMNS, "contribution_due", "contribution_due")
    subsidy_amount = _field("subsidy_amount", _("subsidy"))
    person_share = _field("person_share", _("person's share"))
    subsidy_category = _field("subsidy_category__name", _("subsidy category"))
    subsidy_funding_source = _field("subsidy_funding_source", _("subsidy funding source"))
    subsidy_province = _field("subsidy_province", _("province share"))
    subsidy_prefecture = _field("subsidy_prefecture", _("prefecture share"))
    subsidy_county = _field("subsidy_county", _("county share"))
    person_paid = _imported(ENROLLMENT_COLUMNS, "person_paid", "person_paid")
    paid_on = _imported(ENROLLMENT_COLUMNS, "paid_on", "paid_on")
    coverage_start = _field("coverage_start", _("covered from"))
    coverage_end = _field("coverage_end", _("covered until"))
    note = _field("note", _("note"))

    select_related = ("person", "region", "subsidy_category")
    import_kind = ImportKind.ENROLLMENTS
    sheet_title = SHEET_TITLES[ImportKind.ENROLLMENTS]

    class Meta:
        model = Enrollment
        fields = ("id_number", "name", "region_name", "plan_year", "scheme", "status", "cannot_reason",
                  "cannot_evidence", "contribution_due", "subsidy_amount", "person_share", "subsidy_category",
                  "subsidy_funding_source", "subsidy_province", "subsidy_prefecture", "subsidy_county",
                  "person_paid", "paid_on", "coverage_start", "coverage_end", "note")
        export_order = fields

    @classmethod
    def get_display_name(cls):
        return _("Enrolment ledger")

    def dehydrate_id_number(self, enrollment):
        return self.id_number_for_export(enrollment.person.id_number)

    def dehydrate_scheme(self, enrollment):
        return _spelling(SCHEME_SPELLINGS, enrollment.scheme)

    def dehydrate_status(self, enrollment):
        return _spelling(STATUS_SPELLINGS, enrollment.status)

    def dehydrate_cannot_reason(self, enrollment):
        return _spelling(CANNOT_REASON_SPELLINGS, enrollment.cannot_reason)

    def dehydrate_subsidy_funding_source(self, enrollment):
        return str(enrollment.get_subsidy_funding_source_display()) if enrollment.subsidy_funding_source else ""


class RegionExportResource(RoundTripResource):
    code = _imported(REGION_COLUMNS, "code", "code")
    name = _imported(REGION_COLUMNS, "name", "name")
    level = _imported(REGION_COLUMNS, "level", "level")
    parent_code = _imported(REGION_COLUMNS, "parent_code", "parent__code")
    cost_share_class = _imported(REGION_COLUMNS, "cost_share_class", "cost_share_class")

    select_related = ("parent",)
    import_kind = ImportKind.REGIONS
    sheet_title = SHEET_TITLES[ImportKind.REGIONS]

    class Meta:
        model = Region
        fields = ("code", "name", "level", "parent_code", "cost_share_class")
        export_order = fields

    @classmethod
    def get_display_name(cls):
        return _("Regions")

    def dehydrate_level(self, region):
        return _spelling(LEVEL_SPELLINGS, region.level)
