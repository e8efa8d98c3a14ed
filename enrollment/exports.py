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
from import_export import fields, resources
from import_export.formats.base_formats import CSV, XLSX

from .access_log import record_export
from .idnumbers import mask_id_number, shown_birth_date
from .models import Enrollment, Identity, Person
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
    sheet = workbook.create_sheet(title=(dataset.title or "Sheet1")[:31])
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


def _field(attribute, column_name, **kwargs):
    return fields.Field(attribute=attribute, column_name=column_name, readonly=True, **kwargs)


class PersonExportResource(ScopedMaskingResource):
    id_number = _field("id_number", _("ID number"))
    name = _field("name", _("name"))
    sex = _field("sex", _("sex"))
    birth_date = _field("birth_date", _("birth date"))
    region_code = _field("region__code", _("region code"))
    region_name = _field("region__name", _("region"))
    household = _field("household__number", _("household number"))
    relation_to_head = _field("relation_to_head", _("relation to head of household"))
    township = _field("township", _("township"))
    village = _field("village", _("village"))
    phone = _field("phone", _("phone"))
    death_date = _field("death_date", _("date of death"))

    select_related = ("region", "household")

    class Meta:
        model = Person
        fields = ("id_number", "name", "sex", "birth_date", "region_code", "region_name", "household",
                  "relation_to_head", "township", "village", "phone", "death_date")
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


class IdentityExportResource(ScopedMaskingResource):
    id_number = _field("person__id_number", _("ID number"))
    name = _field("person__name", _("name"))
    region = _field("person__region__name", _("region"))
    category_code = _field("category__code", _("category code"))
    category = _field("category__name", _("category"))
    valid_from = _field("valid_from", _("valid from"))
    valid_to = _field("valid_to", _("valid to"))
    certified_by = _field("certified_by", _("certifying department"))
    source_document = _field("source_document", _("source document"))
    source_batch = _field("source_batch", _("source batch"))

    select_related = ("person__region", "category")

    class Meta:
        model = Identity
        fields = ("id_number", "name", "region", "category_code", "category", "valid_from", "valid_to",
                  "certified_by", "source_document", "source_batch")
        export_order = fields

    @classmethod
    def get_display_name(cls):
        return _("Identities")

    def dehydrate_id_number(self, identity):
        return self.id_number_for_export(identity.person.id_number)

    def dehydrate_certified_by(self, identity):
        return str(identity.get_certified_by_display())


class EnrollmentExportResource(ScopedMaskingResource):
    id_number = _field("person__id_number", _("ID number"))
    name = _field("person__name", _("name"))
    region_code = _field("region__code", _("region code"))
    region_name = _field("region__name", _("region"))
    plan_year = _field("plan_year", _("plan year"))
    scheme = _field("scheme", _("scheme"))
    status = _field("status", _("status"))
    cannot_reason = _field("cannot_reason", _("reason not insurable"))
    contribution_due = _field("contribution_due", _("contribution due"))
    subsidy_amount = _field("subsidy_amount", _("subsidy"))
    person_share = _field("person_share", _("person's share"))
    subsidy_category = _field("subsidy_category__name", _("subsidy category"))
    subsidy_funding_source = _field("subsidy_funding_source", _("subsidy funding source"))
    subsidy_province = _field("subsidy_province", _("province share"))
    subsidy_prefecture = _field("subsidy_prefecture", _("prefecture share"))
    subsidy_county = _field("subsidy_county", _("county share"))
    person_paid = _field("person_paid", _("paid by the person"))
    paid_on = _field("paid_on", _("paid on"))
    coverage_start = _field("coverage_start", _("covered from"))
    coverage_end = _field("coverage_end", _("covered until"))
    note = _field("note", _("note"))

    select_related = ("person", "region", "subsidy_category")

    class Meta:
        model = Enrollment
        fields = ("id_number", "name", "region_code", "region_name", "plan_year", "scheme", "status",
                  "cannot_reason", "contribution_due", "subsidy_amount", "person_share", "subsidy_category",
                  "subsidy_funding_source", "subsidy_province", "subsidy_prefecture", "subsidy_county",
                  "person_paid", "paid_on", "coverage_start", "coverage_end", "note")
        export_order = fields

    @classmethod
    def get_display_name(cls):
        return _("Enrolment ledger")

    def dehydrate_id_number(self, enrollment):
        return self.id_number_for_export(enrollment.person.id_number)

    def dehydrate_scheme(self, enrollment):
        return str(enrollment.get_scheme_display())

    def dehydrate_status(self, enrollment):
        return str(enrollment.get_status_display())

    def dehydrate_cannot_reason(self, enrollment):
        return str(enrollment.get_cannot_reason_display()) if enrollment.cannot_reason else ""

    def dehydrate_subsidy_funding_source(self, enrollment):
        return str(enrollment.get_subsidy_funding_source_display()) if enrollment.subsidy_funding_source else ""
