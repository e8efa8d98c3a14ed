"""Exports: formula cells neutralised (CSV injection), the changelist's filters and search respected."""

import io
from decimal import Decimal

import openpyxl
import pytest
import tablib

from enrollment.exports import (
    EnrollmentExportResource,
    PersonExportResource,
    SafeCSV,
    SafeXLSX,
    neutralise_cell,
)
from tests.export_helpers import download_export, job_of
from tests.factories import make_person

from . import _admin_world
from ._admin_world import ADMIN, export_post_data, export_rows, make_enrollment

# Fixtures shared by the admin tests (the HTTP settings one is autouse).
_admin_over_plain_http = _admin_world._admin_over_plain_http

DANGEROUS = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_neutralise_cell(value):
    assert neutralise_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["张三", "1+1", "a=b", "", " =1", 5, Decimal("-1.00"), None])
def test_harmless_cells_are_left_alone(value):
    assert neutralise_cell(value) == value


def test_csv_format_neutralises_every_text_cell():
    dataset = tablib.Dataset(*[(value, "ok") for value in DANGEROUS], headers=["name", "other"])
    text = SafeCSV().export_data(dataset)
    rows = list(tablib.Dataset().load(text, format="csv"))
    assert [row[0] for row in rows] == ["'" + value for value in DANGEROUS]
    assert dataset[0][0] == DANGEROUS[0]  # the caller's dataset is not modified


def test_xlsx_format_writes_no_formula_cells():
    dataset = tablib.Dataset(*[(value, Decimal("12.50")) for value in DANGEROUS], headers=["name", "amount"])
    book = openpyxl.load_workbook(io.BytesIO(SafeXLSX().export_data(dataset)))
    cells = list(book.active.iter_rows(min_row=2))
    assert all(name.data_type == "s" for name, _amount in cells)
    # (XML turns the carriage return into a line feed on the way back in; the apostrophe is what matters.)
    assert [name.value for name, _amount in cells] == ["'" + value.replace("\r", "\n") for value in DANGEROUS]
    assert cells[0][1].data_type == "n"  # numbers stay numbers


def test_xlsx_has_typed_cells_a_frozen_header_and_columns_wide_enough_for_chinese():
    from datetime import UTC, date, datetime

    dataset = tablib.Dataset(
        ("欧阳娜娜", Decimal("1234.50"), date(2024, 1, 2), datetime(2024, 12, 31, 17, 0, tzinfo=UTC), 3),
        ("李四", Decimal("0.10"), None, None, 0),
        headers=["姓名", "应缴金额", "缴费日期", "时间", "n"], title="参保台账")
    book = openpyxl.load_workbook(io.BytesIO(SafeXLSX().export_data(dataset)))
    sheet = book.active
    assert sheet.title == "参保台账" and sheet.freeze_panes == "A2"
    name, amount, paid_on, moment, count = sheet[2]
    assert name.value == "欧阳娜娜"
    assert (amount.data_type, amount.value) == ("n", 1234.5)
    assert paid_on.is_date and paid_on.value.date() == date(2024, 1, 2)
    assert moment.value == datetime(2025, 1, 1, 1, 0)  # Beijing time, which Excel shows as is
    assert count.data_type == "n"
    widths = {letter: dimension.width for letter, dimension in sheet.column_dimensions.items()}
    assert widths["A"] >= 8 + 2  # four Chinese characters take eight columns
    assert widths["B"] >= len("应缴金额") * 2
    assert sheet["C3"].value is None


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_admin_export_neutralises_names(client, clerk_a, regions, file_format):
    for name in DANGEROUS[:4]:
        make_person(regions["a"], name=name)
    client.force_login(clerk_a)
    rows = export_rows(client, "person", PersonExportResource, file_format)
    assert sorted(row[1] for row in rows[1:]) == sorted("'" + name for name in DANGEROUS[:4])


def test_export_headers_and_values(client, clerk_a, regions):
    person = make_person(regions["a"], name="钱七")
    make_enrollment(person, 2024, contribution_due=Decimal("380.00"), subsidy_amount=Decimal("266.00"))
    client.force_login(clerk_a)
    rows = export_rows(client, "enrollment", EnrollmentExportResource, "csv")
    assert rows[0] == [str(field.column_name) for field in EnrollmentExportResource().get_export_fields()]
    row = dict(zip(EnrollmentExportResource._meta.fields, rows[1], strict=True))
    assert (row["name"], row["plan_year"], row["contribution_due"], row["subsidy_amount"], row["person_share"]) == (
        "钱七", "2024", "380.00", "266.00", "114.00")
    assert row["status"] == "Should be insured" or row["status"] == "应参保"


def test_csv_starts_with_a_bom_for_excel(client, clerk_a, regions):
    make_person(regions["a"], name="钱七")
    client.force_login(clerk_a)
    response = client.post(f"{ADMIN}/person/export/", export_post_data(PersonExportResource, "csv"))
    assert download_export(client, response).startswith("\ufeff".encode())
    assert job_of(response).file_name.endswith(".csv")


def test_export_follows_the_changelist_search_and_filters(client, clerk_a, regions):
    zhang = make_person(regions["a"], name="张三")
    make_person(regions["a"], name="李四")
    make_enrollment(zhang, 2023)
    client.force_login(clerk_a)
    rows = export_rows(client, "person", PersonExportResource, "csv", query="?q=张")
    assert [row[1] for row in rows[1:]] == ["张三"]
    rows = export_rows(client, "person", PersonExportResource, "csv", query=f"?q={zhang.id_number}")
    assert [row[1] for row in rows[1:]] == ["张三"]
    rows = export_rows(client, "enrollment", EnrollmentExportResource, "csv", query="?plan_year=2024")
    assert rows[1:] == []


@pytest.mark.parametrize(("model_name", "resource_class", "sheet"), [
    ("person", PersonExportResource, "花名册"), ("enrollment", EnrollmentExportResource, "参保台账")])
def test_an_exported_workbooks_sheet_is_named_in_chinese(client, clerk_a, regions, settings, model_name,
                                                         resource_class, sheet):
    from django.utils import translation

    make_person(regions["a"], name="钱七")
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(clerk_a)
    with translation.override("zh-hans"):
        response = client.post(f"{ADMIN}/{model_name}/export/", export_post_data(resource_class, "xlsx"),
                               HTTP_ACCEPT_LANGUAGE="zh-hans")
        content = download_export(client, response)
    # The sheet is named as the import of the same kind names its file (round trip), in Chinese.
    assert openpyxl.load_workbook(io.BytesIO(content)).sheetnames == [sheet]
