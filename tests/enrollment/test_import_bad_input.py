"""Bad input to the imports: refused with row, column and reason, never a server error, never silently bent."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection

from enrollment.imports import run_import
from enrollment.imports.cells import CellError, parse_date, parse_money
from enrollment.models import Enrollment, Identity, Person

from ..factories import make_identity, make_person
from .test_imports import (
    ENROLLMENT_HEADERS,
    ID_HEAD,
    ID_OTHER,
    IDENTITY_HEADERS,
    ROSTER_HEADERS,
    _english,  # noqa: F401 - autouse fixture
    _media,  # noqa: F401 - autouse fixture
    errors_of,
    history_counts,
    import_csv,
    nothing_written,
    roster_rows,
    write,
    xlsx_bytes,
)

CONTROL = "This text contains the invisible control character U+%04X at character %d; remove it (it is often left " \
          "by copying from another program)."


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f"])
def test_a_control_character_in_a_csv_cell_is_named_by_row_and_column(tmp_path, clerk_a, char):
    rows = roster_rows()
    rows[1][1] = f"李{char}小花"
    before = history_counts()
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, rows)
    assert errors_of(result) == [(3, "姓名", CONTROL % (ord(char), 2))]
    assert nothing_written(before)


def test_tab_and_line_breaks_stay_ordinary_text(tmp_path, clerk_a):
    rows = roster_rows()
    rows[0][4] = "墨冲镇\t"
    rows[0][15] = "2024-01\r\n补充"
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, rows)
    assert result.ok, errors_of(result)


def test_a_control_character_in_the_header_is_reported_with_the_column_letter(tmp_path, clerk_a):
    headers = list(ROSTER_HEADERS)
    headers[1] = "姓\x00名"
    result = import_csv(tmp_path, "roster", clerk_a, headers, roster_rows())
    errors = errors_of(result)
    assert (1, "column B", CONTROL % (0, 2)) in errors
    assert not result.written and Person.objects.count() == 0


def _xlsx_with_raw_text(headers, rows, placeholder: str, raw: bytes) -> bytes:
    """openpyxl refuses to write control characters; other programs write them anyway, raw or as &#7;."""
    import io
    import zipfile

    original = zipfile.ZipFile(io.BytesIO(xlsx_bytes(headers, rows)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as patched:
        for item in original.infolist():
            data = original.read(item.filename)
            patched.writestr(item, data.replace(placeholder.encode(), raw))
    return out.getvalue()


@pytest.mark.parametrize("raw", [b"\xe5\xad\x90&#7;", b"\xe5\xad\x90\x07"])
def test_a_control_character_in_an_xlsx_cell_is_a_message_with_its_cell(tmp_path, clerk_a, raw):
    """calamine reads the character into the cell, so the clerk learns the row and the column."""
    rows = roster_rows()
    rows[2][6] = "PLACEHOLDER"
    path = write(tmp_path, "f.xlsx", _xlsx_with_raw_text(ROSTER_HEADERS, rows, "PLACEHOLDER", raw))
    before = history_counts()
    result = run_import(job_or_file=path, kind="roster", user=clerk_a)
    assert errors_of(result) == [(4, "与户主关系", CONTROL % (7, 2))]
    assert nothing_written(before)


def test_an_xlsx_sheet_that_breaks_off_is_a_message_with_its_row(tmp_path, clerk_a):
    """A character XML cannot hold at all (&#0;): calamine refuses the sheet, openpyxl's streaming parser then
    says where it broke off."""
    rows = roster_rows()
    rows[2][6] = "PLACEHOLDER"
    path = write(tmp_path, "f.xlsx", _xlsx_with_raw_text(ROSTER_HEADERS, rows, "PLACEHOLDER", b"&#0;"))
    before = history_counts()
    result = run_import(job_or_file=path, kind="roster", user=clerk_a)
    [(row, column, message)] = errors_of(result)
    assert (row, column) == (None, "")
    assert message.startswith("Row 4 of the workbook cannot be read (")
    assert nothing_written(before)


def test_xlsx_cells_reach_the_import_as_openpyxl_gave_them(tmp_path):
    """calamine leaves out the empty columns before the first used one and gives "" for an empty cell; the rows
    must still line up with the column letters and blanks the clerk sees."""
    import io

    import openpyxl

    from enrollment.imports.readers import open_table

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["C2"], sheet["D2"], sheet["E2"] = "身份证号", "人数", "日期"
    sheet["C4"], sheet["E4"] = "X", date(2024, 3, 1)
    buffer = io.BytesIO()
    workbook.save(buffer)
    with open_table(io.BytesIO(buffer.getvalue())) as table:
        rows = list(table.rows)
    assert [number for number, _cells in rows] == [1, 2, 3, 4]
    assert rows[1][1] == (None, None, "身份证号", "人数", "日期")
    assert rows[3][1][:4] == (None, None, "X", None)
    assert rows[3][1][4] in (date(2024, 3, 1), datetime(2024, 3, 1))


def test_nul_in_a_cell_never_reaches_the_database(tmp_path, clerk_a):
    """On PostgreSQL a NUL byte in a text value raised a server error; here (and on SQLite) it is a row error."""
    rows = roster_rows()
    rows[3][15] = "2024\x0003"
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, rows)
    assert errors_of(result) == [(5, "批次号", CONTROL % (0, 5))]
    assert Person.objects.count() == 0
    assert connection.vendor in ("sqlite", "postgresql")


# --- cells --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("cell", "expected"), [
    ("12.34", Decimal("12.34")), ("12.3", Decimal("12.30")), ("1,200.50", Decimal("1200.50")), (12.5, Decimal("12.50")),
    (380, Decimal("380.00")), ("￥380元", Decimal("380.00")), ("12.340", Decimal("12.34")),
])
def test_money_with_at_most_two_decimals(cell, expected):
    assert parse_money(cell) == expected


@pytest.mark.parametrize("cell", ["12.345", 12.345, "0.001", Decimal("1.005"), 0.1 + 0.2])
def test_money_with_more_than_two_decimals_is_refused_not_rounded(cell):
    with pytest.raises(CellError, match="more than two decimals"):
        parse_money(cell)


@pytest.mark.parametrize(("cell", "expected"), [
    (datetime(2024, 12, 31, 17, 0, tzinfo=UTC), date(2025, 1, 1)),  # 01:00 in Beijing
    (datetime(2024, 12, 31, 15, 59, tzinfo=UTC), date(2024, 12, 31)),
    (datetime(2024, 12, 31, 23, 30), date(2024, 12, 31)),  # naive: already Beijing time
    (datetime(2025, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=-5))), date(2025, 1, 1)),  # 14:00 Beijing
    ("2024-12-31T17:00:00Z", date(2025, 1, 1)),
    ("2024-12-31 20:00:00+08:00", date(2024, 12, 31)),
    ("2024-12-31T16:00:00+00:00", date(2025, 1, 1)),
    ("2024-12-31 08:00", date(2024, 12, 31)),
])
def test_datetime_cells_take_their_date_in_beijing(cell, expected):
    assert parse_date(cell) == expected


def test_a_datetime_cell_that_is_no_real_time_is_refused():
    with pytest.raises(CellError, match="not a real calendar date"):
        parse_date("2024-02-30T10:00:00Z")


# --- the enrolment ledger: plausibility ---------------------------------------------------------------------------

def _enrol(tmp_path, clerk, regions, rows, *, due=None):
    person = make_person(regions["a"], id_number=ID_HEAD)
    if due is not None:
        Enrollment.objects.create(person=person, plan_year=2024, region=regions["a"], contribution_due=due,
                                  subsidy_amount=Decimal("100"))
    before = history_counts()
    result = import_csv(tmp_path, "enrollments", clerk, ENROLLMENT_HEADERS, rows)
    return result, before


@pytest.mark.parametrize(("row", "expected"), [
    ([ID_HEAD, "2025", "", "已参保", "", "", "380", "", ""],
     (2, "个人缴费", "Marked 已参保 but nothing is paid, while the person owes 380.00; give the amount paid "
                  "(个人缴费), or leave the status 应参保.")),
    ([ID_HEAD, "2025", "", "已参保", "", "", "380", "0", "2025-01-05"],
     (2, "个人缴费", "Marked 已参保 but nothing is paid, while the person owes 380.00; give the amount paid "
                  "(个人缴费), or leave the status 应参保.")),
    ([ID_HEAD, "2025", "", "已参保", "", "", "380", "400", "2025-01-05"],
     (2, "个人缴费", "The person paid 400.00, more than their share of 380.00 (contribution 380.00 less the "
                  "subsidy 0).")),
    ([ID_HEAD, "2025", "", "已参保", "", "", "380", "380.005", "2025-01-05"],
     (2, "个人缴费", "“380.005” has more than two decimals; amounts are in yuan to the fen (0.01).")),
    ([ID_HEAD, "2025", "", "已参保", "", "", "380", "380", "2023-12-31"],
     (2, "缴费日期", "The payment date 2023-12-31 does not belong to plan year 2025; contributions for it are paid "
                  "from 2024-01-01 to 2025-12-31.")),
    ([ID_HEAD, "1899", "", "", "", "", "", "", ""],
     (2, "参保年度", "“1899” is not a year; write four digits, e.g. 2024.")),
    ([ID_HEAD, "1995", "", "", "", "", "", "", ""],
     (2, "参保年度", "Plan year 1995 is not plausible: the ledger covers 2003 to next year "
                  f"({date.today().year + 1}).")),
], ids=["insured-nothing-paid", "insured-zero-paid", "overpaid", "three-decimals", "paid-outside-year",
        "year-nonsense", "year-implausible"])
def test_enrollment_file_refuses_implausible_rows(tmp_path, clerk_a, regions, row, expected):
    result, before = _enrol(tmp_path, clerk_a, regions, [row])
    assert errors_of(result) == [expected]
    assert Enrollment.objects.count() == 0 and history_counts() == before


def test_payment_dates_in_the_future_are_refused(tmp_path, clerk_a, regions):
    tomorrow = date.today() + timedelta(days=1)
    row = [ID_HEAD, str(tomorrow.year), "", "已参保", "", "", "380", "380", tomorrow.isoformat()]
    result, _before = _enrol(tmp_path, clerk_a, regions, [row])
    assert errors_of(result) == [(2, "缴费日期", f"The payment date {tomorrow.isoformat()} is in the future.")]


def test_overpaying_is_measured_against_the_share_after_the_subsidy_already_granted(tmp_path, clerk_a, regions):
    row = [ID_HEAD, "2024", "", "已参保", "", "", "", "300", "2024-01-05"]
    result, _before = _enrol(tmp_path, clerk_a, regions, [row], due=Decimal("380"))
    assert errors_of(result) == [
        (2, "个人缴费", "The person paid 300.00, more than their share of 280.00 (contribution 380.00 less the "
                     "subsidy 100.00).")]


def test_fully_subsidised_insured_rows_and_exact_payments_pass(tmp_path, clerk_a, regions):
    rows = [[ID_HEAD, "2024", "", "已参保", "", "", "", "280", "2023-11-20"]]
    result, _before = _enrol(tmp_path, clerk_a, regions, rows, due=Decimal("380"))
    assert result.ok, errors_of(result)
    assert Enrollment.objects.get().person_paid == Decimal("280")


# --- identities: overlapping periods ------------------------------------------------------------------------------

OVERLAP = ("This identity's validity overlaps %s of the same category for the same person (%s to %s); end the "
           "earlier period before the next one starts.")


def test_overlapping_periods_in_one_file_are_refused(tmp_path, clerk_a, regions):
    make_person(regions["a"], id_number=ID_HEAD)
    rows = [[ID_HEAD, "tekun", "2024-01-01", "", "", "", ""],
            [ID_HEAD, "tekun", "2024-06-01", "2024-12-31", "", "", ""],
            [ID_HEAD, "dibao", "2024-06-01", "", "", "", ""]]  # another category may overlap
    before = history_counts()
    result = import_csv(tmp_path, "identities", clerk_a, IDENTITY_HEADERS, rows)
    assert errors_of(result) == [(3, "开始日期", OVERLAP % ("row 2", "2024-01-01", "open-ended"))]
    assert Identity.objects.count() == 0 and history_counts() == before


def test_a_long_period_overlapping_a_later_one_is_found_beyond_the_neighbour(tmp_path, clerk_a, regions):
    make_person(regions["a"], id_number=ID_HEAD)
    rows = [[ID_HEAD, "tekun", "2020-01-01", "2030-12-31", "", "", ""],
            [ID_HEAD, "tekun", "2021-01-01", "2021-03-31", "", "", ""],
            [ID_HEAD, "tekun", "2024-01-01", "2024-03-31", "", "", ""]]
    result = import_csv(tmp_path, "identities", clerk_a, IDENTITY_HEADERS, rows)
    assert errors_of(result) == [(3, "开始日期", OVERLAP % ("row 2", "2020-01-01", "2030-12-31")),
                                 (4, "开始日期", OVERLAP % ("row 2", "2020-01-01", "2030-12-31"))]


def test_a_period_overlapping_one_on_file_is_refused_but_touching_ones_pass(tmp_path, clerk_a, regions):
    person = make_person(regions["a"], id_number=ID_HEAD)
    make_identity(person, "tekun", valid_from=date(2023, 1, 1), valid_to=date(2023, 12, 31))
    touching = [[ID_HEAD, "tekun", "2024-01-01", "", "", "", ""]]
    assert import_csv(tmp_path, "identities", clerk_a, IDENTITY_HEADERS, touching, dry_run=True).ok
    overlapping = [[ID_HEAD, "tekun", "2023-12-31", "", "", "", ""]]
    result = import_csv(tmp_path, "identities", clerk_a, IDENTITY_HEADERS, overlapping)
    assert errors_of(result) == [(2, "开始日期", OVERLAP % ("a period already on file", "2023-01-01", "2023-12-31"))]
    # Updating the very period on file (same start) is no overlap with itself.
    same = [[ID_HEAD, "tekun", "2023-01-01", "2023-06-30", "", "", ""]]
    assert import_csv(tmp_path, "identities", clerk_a, IDENTITY_HEADERS, same).ok


def test_a_roster_row_may_not_overlap_a_period_on_file(tmp_path, clerk_a, regions):
    person = make_person(regions["a"], id_number=ID_OTHER, name="张平")
    make_identity(person, "tekun", valid_from=date(2024, 1, 1))
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, roster_rows())
    assert errors_of(result) == [(5, "开始日期", OVERLAP % ("a period already on file", "2024-01-01", "open-ended"))]
    assert Person.objects.count() == 1


def test_another_countys_person_reads_exactly_like_an_unknown_number(tmp_path, clerk_a, regions):
    make_person(regions["b"], id_number=ID_OTHER)
    elsewhere = import_csv(tmp_path, "enrollments", clerk_a, ENROLLMENT_HEADERS,
                           [[ID_OTHER, "2025", "", "", "", "", "", "", ""]])
    Person.objects.all().delete()
    nowhere = import_csv(tmp_path, "enrollments", clerk_a, ENROLLMENT_HEADERS,
                         [[ID_OTHER, "2025", "", "", "", "", "", "", ""]])
    assert errors_of(elsewhere) == errors_of(nowhere)
    assert "福泉" not in str(errors_of(elsewhere))
