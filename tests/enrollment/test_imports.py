"""File imports (enrollment.imports): the check pass, all-or-nothing writes, encodings, scope, history."""

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.utils import translation

from enrollment import roles
from enrollment.idnumbers import make_id_number, parse_id_number
from enrollment.imports import run_import
from enrollment.models import Enrollment, Household, Identity, Person, Region
from enrollment.models.ledger import EnrollmentStatus

from ..factories import make_household, make_identity, make_person, make_region, make_user

ROSTER_HEADERS = ["身份证号", "姓名", "户编号", "行政区划代码", "乡镇", "村", "与户主关系", "家庭年可支配收入",
                  "收入年度", "收入来源", "联系电话", "身份类别", "开始日期", "结束日期", "认定部门", "批次号"]
IDENTITY_HEADERS = ["身份证号", "身份类别", "开始日期", "结束日期", "认定部门", "认定文件", "批次号"]
ENROLLMENT_HEADERS = ["身份证号", "参保年度", "参保档次", "参保状态", "不能参保原因", "佐证材料", "应缴金额",
                      "个人缴费", "缴费日期"]

ID_HEAD = make_id_number("522701", date(1960, 5, 17), 11)
ID_SPOUSE = make_id_number("522701", date(1962, 8, 1), 22)
ID_SON = make_id_number("522701", date(1990, 1, 9), 33)
ID_OTHER = make_id_number("522701", date(1975, 12, 30), 45)


@pytest.fixture(autouse=True)
def _english():
    """Messages are asserted in their English source form, whatever the translation catalogue holds."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # The factories give every user a password; the real hasher would dominate these tests' time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def roster_rows():
    return [
        [ID_HEAD, "王大山", "H001", "522701", "墨冲镇", "新场村", "户主", "12000", "2024", "民政核定", "13800000001",
         "低保对象", "2024-01-01", "", "民政", "2024-01"],
        [ID_SPOUSE, "李小花", "H001", "522701", "墨冲镇", "新场村", "配偶", "12000", "", "", "", "dibao",
         "2024/01/01", "", "", "2024-01"],
        [ID_SON, "王小石", "H001", "522701", "墨冲镇", "新场村", "子", "", "", "", "", "", "", "", "", ""],
        [ID_OTHER, "张平", "H002", "522701", "墨冲镇", "老场村", "户主", "8000.5", "2024", "", "", "特困人员",
         "20240301", "2025-12-31", "民政局", "2024-03"],
    ]


def csv_bytes(headers, rows, encoding="utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(headers, rows, *, title_rows=()) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for title in title_rows:
        sheet.append(title)
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def import_csv(tmp_path, kind, user, headers, rows, *, dry_run=False, name="file.csv", encoding="utf-8"):
    path = write(tmp_path, name, csv_bytes(headers, rows, encoding))
    return run_import(job_or_file=path, kind=kind, user=user, dry_run=dry_run)


def errors_of(result):
    return [(e.row, e.column, e.message) for e in result.errors]


def snapshot():
    """Everything a roster import writes, in comparable form."""
    people = sorted(Person.objects.values_list(
        "id_number", "id_converted_from", "name", "sex", "birth_date", "household__number", "relation_to_head",
        "region__code", "township", "village", "phone"))
    households = sorted(Household.objects.values_list(
        "number", "region__code", "township", "village", "annual_income", "income_year", "income_source"))
    identities = sorted(Identity.objects.values_list(
        "person__id_number", "category__code", "valid_from", "valid_to", "certified_by", "source_batch"))
    return people, households, identities


def history_counts():
    return (Person.history.count(), Household.history.count(), Identity.history.count(),
            Enrollment.history.count(), Region.history.model.objects.count())


def nothing_written(before_history):
    return (Person.objects.count(), Household.objects.count(), Identity.objects.count(),
            Enrollment.objects.count()) == (0, 0, 0, 0) and history_counts() == before_history


# --- roster: the good path ---------------------------------------------------------------------------------
def test_roster_creates_households_people_and_identities_with_history(tmp_path, clerk_a):
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, roster_rows(), name="民政花名册.csv")

    assert result.ok and result.written, errors_of(result)
    assert result.total_rows == 4
    counts = {label: (c.create, c.update, c.unchanged) for label, c in result.counts}
    assert counts == {"households": (2, 0, 0), "people": (4, 0, 0), "identities": (3, 0, 0)}

    head = Person.objects.get(id_number=ID_HEAD)
    assert (head.name, head.sex, head.birth_date, head.region.code) == ("王大山", "M", date(1960, 5, 17), "522701")
    assert head.household.number == "H001"
    assert head.household.annual_income == Decimal("12000.00")
    assert head.household.income_year == 2024
    assert Household.objects.get(number="H002").annual_income == Decimal("8000.50")
    assert set(head.household.members.values_list("id_number", flat=True)) == {ID_HEAD, ID_SPOUSE, ID_SON}
    dibao = Identity.objects.get(person=head)
    assert (dibao.category.code, dibao.valid_from, dibao.valid_to, dibao.certified_by) == (
        "dibao", date(2024, 1, 1), None, "civil_affairs")
    tekun = Identity.objects.get(person__id_number=ID_OTHER)
    assert (tekun.category.code, tekun.valid_from, tekun.valid_to) == ("tekun", date(2024, 3, 1), date(2025, 12, 31))
    # The spouse's row leaves 认定部门 empty: the category's certifying department is used.
    assert Identity.objects.get(person__id_number=ID_SPOUSE).certified_by == "civil_affairs"

    # Every imported record has a "created" history row naming the importing user and the file.
    for model, count in ((Person, 4), (Household, 2), (Identity, 3)):
        history = model.history.all()
        assert history.count() == count
        assert {h.history_type for h in history} == {"+"}
        assert {h.history_user_id for h in history} == {clerk_a.pk}
        assert all("民政花名册.csv" in h.history_change_reason for h in history)


def test_dry_run_counts_without_writing(tmp_path, clerk_a):
    before = history_counts()
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, roster_rows(), dry_run=True)
    assert result.ok and not result.written
    assert (result.created, result.updated, result.unchanged) == (9, 0, 0)
    assert nothing_written(before)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "xlsx"])
def test_every_encoding_and_xlsx_import_the_same_content(tmp_path, clerk_a, encoding):
    rows = roster_rows()
    if encoding == "xlsx":
        content = xlsx_bytes(ROSTER_HEADERS, rows)
    else:
        content = csv_bytes(ROSTER_HEADERS, rows, encoding)
        if encoding == "gb18030":
            with pytest.raises(UnicodeDecodeError):
                content.decode("utf-8")  # really a GB18030 file, not UTF-8 that happens to decode
    path = write(tmp_path, f"roster.{'xlsx' if encoding == 'xlsx' else 'csv'}", content)
    result = run_import(job_or_file=path, kind="roster", user=clerk_a)
    assert result.ok, errors_of(result)
    people, households, identities = snapshot()
    assert {p[0]: p[2] for p in people} == {ID_HEAD: "王大山", ID_SPOUSE: "李小花", ID_SON: "王小石", ID_OTHER: "张平"}
    assert [h[:4] for h in households] == [
        ("H001", "522701", "墨冲镇", "新场村"), ("H002", "522701", "墨冲镇", "老场村")]
    assert identities == [
        (ID_HEAD, "dibao", date(2024, 1, 1), None, "civil_affairs", "2024-01"),
        (ID_SPOUSE, "dibao", date(2024, 1, 1), None, "civil_affairs", "2024-01"),
        (ID_OTHER, "tekun", date(2024, 3, 1), date(2025, 12, 31), "civil_affairs", "2024-03"),
    ]


def test_xlsx_typed_cells_dates_numbers_and_title_rows(tmp_path, clerk_a):
    """Excel date cells, numeric ID/phone/income cells and a title row above the header all read correctly."""
    number15 = "522701630412003"  # a first-generation number typed as a number loses nothing at 15 digits
    rows = [[int(number15), "赵一", "H9", 522701, "", "", "户主", 9000, 2024, "", 13800000009, "特困人员",
             datetime(2024, 2, 29), date(2024, 12, 31), "", ""]]
    path = write(tmp_path, "r.xlsx", xlsx_bytes(ROSTER_HEADERS, rows, title_rows=[["都匀市2024年特困人员名册"], []]))
    result = run_import(job_or_file=path, kind="roster", user=clerk_a)
    assert result.ok, errors_of(result)
    person = Person.objects.get()
    assert person.id_number == parse_id_number(number15).number
    assert person.id_converted_from == number15
    assert person.phone == "13800000009"
    assert person.household.annual_income == Decimal("9000.00")
    identity = Identity.objects.get()
    assert (identity.valid_from, identity.valid_to) == (date(2024, 2, 29), date(2024, 12, 31))


def test_fifteen_digit_id_is_converted_and_recorded(tmp_path, clerk_a):
    number15 = "522701600517001"
    rows = [[number15, "钱二", "", "522701", "", "", "", "", "", "", "", "", "", "", "", ""]]
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, rows)
    assert result.ok, errors_of(result)
    person = Person.objects.get()
    assert person.id_number == "52270119600517001" + parse_id_number(number15).number[-1]
    assert len(person.id_number) == 18
    assert person.id_converted_from == number15
    assert (person.birth_date, person.sex) == (date(1960, 5, 17), "M")
    # The same person written with the 18-digit number later is the same person, unchanged.
    again = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, [[person.id_number, *rows[0][1:]]])
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)


def test_reimporting_the_same_file_changes_nothing(tmp_path, clerk_a):
    first = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, roster_rows())
    assert first.ok
    history_before = history_counts()
    snapshot_before = snapshot()

    second = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, roster_rows())

    assert second.ok and second.written
    counts = {label: (c.create, c.update, c.unchanged) for label, c in second.counts}
    assert counts == {"households": (0, 0, 2), "people": (0, 0, 4), "identities": (0, 0, 3)}
    assert history_counts() == history_before
    assert snapshot() == snapshot_before


def test_changed_rows_are_updated_with_history_and_empty_cells_keep_values(tmp_path, clerk_a):
    import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, roster_rows())
    rows = roster_rows()
    rows[0][1] = "王大山改"  # new name
    rows[0][10] = ""  # phone left empty: keeps 13800000001
    rows[3][13] = "2024-06-30"  # tekun identity now ends earlier
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, rows)
    counts = {label: (c.create, c.update, c.unchanged) for label, c in result.counts}
    assert counts == {"households": (0, 0, 2), "people": (0, 1, 3), "identities": (0, 1, 2)}
    head = Person.objects.get(id_number=ID_HEAD)
    assert (head.name, head.phone) == ("王大山改", "13800000001")
    assert head.history.latest().history_type == "~"
    assert Identity.objects.get(person__id_number=ID_OTHER).valid_to == date(2024, 6, 30)


# --- the error cases: exact row, column and reason, and nothing written -----------------------------------
def _expected_id_message(raw):
    with pytest.raises(ValidationError) as excinfo:
        parse_id_number(raw)
    return excinfo.value.messages[0]


BAD_CHECK_DIGIT = ID_SPOUSE[:-1] + ("0" if ID_SPOUSE[-1] != "0" else "1")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(lambda rows: rows[1].__setitem__(0, BAD_CHECK_DIGIT),
                     (3, "身份证号", lambda: _expected_id_message(BAD_CHECK_DIGIT)), id="check-digit"),
        pytest.param(lambda rows: rows[2].__setitem__(3, "529999"),
                     (4, "行政区划代码", "Unknown region code 529999."), id="unknown-region"),
        pytest.param(lambda rows: rows[0].__setitem__(12, "2024.01.01"),
                     (2, "开始日期", "“2024.01.01” is not a date; write it as YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD."),
                     id="date-format"),
        pytest.param(lambda rows: rows[3].__setitem__(13, "2024-02-30"),
                     (5, "结束日期", "“2024-02-30” is not a real calendar date."), id="impossible-date"),
        pytest.param(lambda rows: rows[3].__setitem__(0, ID_HEAD),
                     (5, "身份证号", "This ID number is already on row 2; a person appears once in a roster."),
                     id="duplicate-id"),
        pytest.param(lambda rows: rows[3].__setitem__(13, "2024-02-29"),
                     (5, "结束日期", "The identity ends (2024-02-29) before it starts (2024-03-01)."),
                     id="period-reversed"),
        pytest.param(lambda rows: rows[0].__setitem__(11, "贫困户"),
                     (2, "身份类别", "Unknown identity category “贫困户”; give its code or its Chinese name."),
                     id="unknown-category"),
        pytest.param(lambda rows: rows[3].__setitem__(3, "522702"),
                     (5, "行政区划代码", "Region 福泉市（522702） is outside your regions."), id="out-of-scope"),
        pytest.param(lambda rows: rows[2].__setitem__(7, "abc"),
                     (4, "家庭年可支配收入", "“abc” is not an amount of money."), id="bad-amount"),
        pytest.param(lambda rows: rows[1].__setitem__(7, "13000"),
                     (3, "家庭年可支配收入", "Household H001 has “12000.00” here on row 2; the rows of one household "
                                             "must agree."), id="household-disagrees"),
        pytest.param(lambda rows: rows[0].__setitem__(1, ""),
                     (2, "姓名", "This cell must not be empty."), id="missing-name"),
        pytest.param(lambda rows: rows[2].__setitem__(12, "2024-01-01"),
                     (4, "身份类别", "This cell must not be empty."), id="identity-without-category"),
    ],
)
def test_roster_error_names_row_column_and_reason_and_writes_nothing(tmp_path, clerk_a, change, expected):
    rows = roster_rows()
    change(rows)
    if callable(expected[2]):  # a message from enrollment.idnumbers, in the language of the test
        expected = (*expected[:2], expected[2]())
    before = history_counts()
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, rows)
    assert errors_of(result) == [expected]
    assert result.rejected_rows == 1 and not result.written
    assert nothing_written(before)


def test_errors_in_several_rows_are_all_listed_in_row_order(tmp_path, clerk_a):
    rows = roster_rows()
    rows[3][3] = "529999"
    rows[0][12] = "1/1/2024"
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, rows)
    assert [(e.row, e.column) for e in result.errors] == [(2, "开始日期"), (5, "行政区划代码")]
    assert result.rejected_rows == 2


def test_missing_required_column_is_reported_on_the_header_row(tmp_path, clerk_a):
    headers = [h for h in ROSTER_HEADERS if h != "姓名"]
    rows = [[c for i, c in enumerate(r) if i != 1] for r in roster_rows()]
    result = import_csv(tmp_path, "roster", clerk_a, headers, rows)
    assert errors_of(result) == [(1, "姓名", "The file has no column “姓名”; it is required.")]
    assert Person.objects.count() == 0


def test_a_file_that_is_neither_xlsx_nor_text_is_rejected(tmp_path, clerk_a):
    path = write(tmp_path, "photo.csv", bytes(range(256)) * 4)
    result = run_import(job_or_file=path, kind="roster", user=clerk_a)
    assert [(e.row, e.column) for e in result.errors] == [(None, "")]
    assert "UTF-8 or GB18030" in result.errors[0].message


def test_a_header_only_file_has_no_data_rows(tmp_path, clerk_a):
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, [])
    assert errors_of(result) == [(None, "", "The file has no data rows below its header.")]


def test_clerk_cannot_take_over_a_person_of_another_county(tmp_path, clerk_a, regions):
    make_person(regions["b"], id_number=ID_OTHER, name="张平")
    before = history_counts()
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, roster_rows())
    assert errors_of(result) == [
        (5, "身份证号", "This ID number cannot be registered in your regions; if the person moved here, the office "
                       "that keeps their record must transfer it.")]
    assert Person.objects.get(id_number=ID_OTHER).region == regions["b"]
    assert Person.objects.count() == 1 and history_counts() == before


def test_clerk_cannot_add_to_a_household_of_another_county(tmp_path, clerk_a, regions):
    make_household(regions["b"], number="H002")
    result = import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, roster_rows())
    assert errors_of(result) == [
        (5, "户编号", "Household number H002 cannot be used in your regions; choose another number.")]


def test_province_clerk_may_import_into_any_county_below(tmp_path, province_user):
    rows = roster_rows()
    rows[3][3] = "522702"
    result = import_csv(tmp_path, "roster", province_user, ROSTER_HEADERS, rows)
    assert result.ok, errors_of(result)
    assert Person.objects.get(id_number=ID_OTHER).region.code == "522702"


def test_import_needs_the_add_permission(tmp_path, regions):
    reviewer = make_user("reviewer", roles=(roles.REVIEWER,), regions=(regions["a"],))
    with pytest.raises(PermissionDenied):
        import_csv(tmp_path, "roster", reviewer, ROSTER_HEADERS, roster_rows())


def test_roster_identity_columns_need_the_identity_permission(tmp_path, regions):
    from django.contrib.auth.models import Permission

    user = make_user("people_only", regions=(regions["a"],))
    user.user_permissions.add(Permission.objects.get(codename="add_person"))
    result = import_csv(tmp_path, "roster", user, ROSTER_HEADERS, roster_rows())
    assert {(e.row, e.column) for e in result.errors} == {(2, "身份类别"), (3, "身份类别"), (5, "身份类别")}
    rows_without_identities = [r[:11] + [""] * 5 for r in roster_rows()]
    assert import_csv(tmp_path, "roster", user, ROSTER_HEADERS, rows_without_identities).ok


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("2024-03-01", date(2024, 3, 1)), ("2024/3/1", date(2024, 3, 1)), ("20240301", date(2024, 3, 1)),
     (20240301, date(2024, 3, 1)), (datetime(2024, 3, 1), date(2024, 3, 1))],
)
def test_accepted_date_forms(tmp_path, clerk_a, regions, cell, expected):
    make_person(regions["a"], id_number=ID_HEAD)
    path = write(tmp_path, "i.xlsx", xlsx_bytes(IDENTITY_HEADERS, [[ID_HEAD, "tekun", cell, "", "", "", ""]]))
    result = run_import(job_or_file=path, kind="identities", user=clerk_a)
    assert result.ok, errors_of(result)
    assert Identity.objects.get().valid_from == expected


@pytest.mark.parametrize("cell", ["2024.03.01", "03/01/2024", "2024年3月1日", "2024-3", "45352"])
def test_other_date_forms_are_errors(tmp_path, clerk_a, regions, cell):
    make_person(regions["a"], id_number=ID_HEAD)
    result = import_csv(tmp_path, "identities", clerk_a, IDENTITY_HEADERS, [[ID_HEAD, "tekun", cell, "", "", "", ""]])
    assert [(e.row, e.column) for e in result.errors] == [(2, "开始日期")]
    assert Identity.objects.count() == 0


# --- identities files (民政 / 乡村振兴) ------------------------------------------------------------------
def test_identity_file_creates_and_updates_by_person_category_and_start(tmp_path, clerk_a, regions):
    head = make_person(regions["a"], id_number=ID_HEAD)
    other = make_person(regions["a"], id_number=ID_OTHER)
    make_identity(head, "dibao", date(2023, 1, 1))
    rows = [
        [ID_HEAD, "低保对象", "2023-01-01", "2024-05-31", "民政", "民发〔2024〕9号", "B-7"],  # ends it
        [ID_HEAD, "dibao_edge", "2024-06-01", "", "民政", "", "B-7"],
        [ID_OTHER, "返贫致贫人口", "2024-02-01", "", "乡村振兴", "", "B-7"],
    ]
    result = import_csv(tmp_path, "identities", clerk_a, IDENTITY_HEADERS, rows, name="乡村振兴反馈.csv")
    assert result.ok, errors_of(result)
    assert [(c.create, c.update, c.unchanged) for _label, c in result.counts] == [(2, 1, 0)]
    ended = head.identities.get(category__code="dibao")
    assert (ended.valid_to, ended.source_document, ended.source_batch) == (date(2024, 5, 31), "民发〔2024〕9号", "B-7")
    assert ended.history.latest().history_type == "~"
    assert other.identities.get().certified_by == "rural_revitalization"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([[ID_OTHER, "tekun", "2024-01-01", "", "", "", ""]],
         (2, "身份证号", "No person with this ID number is registered in your regions (nor earlier in this file).")),
        ([[ID_HEAD, "tekun", "2024-01-01", "", "", "", ""], [ID_HEAD, "特困人员", "20240101", "", "", "", ""]],
         (3, "身份证号", "This person's identity with this category and start date is already on row 2.")),
        ([[ID_HEAD, "tekun", "2024-01-01", "", "统战部", "", ""]],
         (2, "认定部门", "“统战部” is not one of: 民政、乡村振兴、扶贫办、医保、卫健.")),
    ],
    ids=["person-unknown", "duplicate-row", "unknown-department"],
)
def test_identity_file_errors(tmp_path, clerk_a, regions, rows, expected):
    make_person(regions["a"], id_number=ID_HEAD)
    before = history_counts()
    result = import_csv(tmp_path, "identities", clerk_a, IDENTITY_HEADERS, rows)
    assert errors_of(result) == [expected]
    assert Identity.objects.count() == 0 and history_counts() == before


def test_identity_for_a_person_of_another_county_is_refused(tmp_path, clerk_a, regions):
    make_person(regions["b"], id_number=ID_OTHER)
    result = import_csv(tmp_path, "identities", clerk_a, IDENTITY_HEADERS,
                        [[ID_OTHER, "tekun", "2024-01-01", "", "", "", ""]])
    # The same words as for a number registered nowhere: the error is no oracle of another county's people.
    assert errors_of(result) == [
        (2, "身份证号", "No person with this ID number is registered in your regions (nor earlier in this file).")]


# --- enrolment ledger files -----------------------------------------------------------------------------
def test_enrollment_file_creates_and_updates_ledger_rows(tmp_path, clerk_a, regions):
    head = make_person(regions["a"], id_number=ID_HEAD)
    make_person(regions["a"], id_number=ID_OTHER)
    Enrollment.objects.create(person=head, plan_year=2024, region=regions["a"], contribution_due=Decimal("380"))
    rows = [
        [ID_HEAD, "2024", "", "已参保", "", "", "", "380", "2023-12-20"],
        [ID_HEAD, "2025", "二档", "应参保", "", "", "400", "", ""],
        [ID_OTHER, "2025", "一档", "不能参保", "参军", "入伍通知书", "", "", ""],
    ]
    result = import_csv(tmp_path, "enrollments", clerk_a, ENROLLMENT_HEADERS, rows)
    assert result.ok, errors_of(result)
    assert [(c.create, c.update, c.unchanged) for _label, c in result.counts] == [(2, 1, 0)]
    updated = Enrollment.objects.get(person=head, plan_year=2024)
    assert (updated.status, updated.person_paid, updated.paid_on, updated.contribution_due) == (
        EnrollmentStatus.INSURED, Decimal("380.00"), date(2023, 12, 20), Decimal("380.00"))
    cannot = Enrollment.objects.get(person__id_number=ID_OTHER)
    assert (cannot.status, cannot.cannot_reason, cannot.cannot_evidence, cannot.region) == (
        "cannot", "military", "入伍通知书", regions["a"])
    assert Enrollment.objects.get(person=head, plan_year=2025).scheme == "resident_tier2"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([[ID_OTHER, "2025", "", "", "", "", "", "", ""]],
         (2, "身份证号", "No person with this ID number is registered in your regions (nor earlier in this file).")),
        ([[ID_HEAD, "2025", "", "不能参保", "", "", "", "", ""]],
         (2, "不能参保原因", "Give the reason why the person cannot be insured.")),
        ([[ID_HEAD, "2025", "", "", "", "", "", "", ""], [ID_HEAD, "2025", "", "已参保", "", "", "", "", ""]],
         (3, "身份证号", "This ID number already has a row for plan year 2025 (row 2).")),
        ([[ID_HEAD, "25", "", "", "", "", "", "", ""]],
         (2, "参保年度", "“25” is not a year; write four digits, e.g. 2024.")),
        ([[ID_HEAD, "2025", "", "", "", "", "-1", "", ""]], (2, "应缴金额", "An amount cannot be negative.")),
        ([[ID_HEAD, "2025", "", "参保了", "", "", "", "", ""]],
         (2, "参保状态", "“参保了” is not one of: 应参保、已参保、未参保、不能参保.")),
    ],
    ids=["person-unknown", "cannot-without-reason", "duplicate", "bad-year", "negative", "bad-status"],
)
def test_enrollment_file_errors(tmp_path, clerk_a, regions, rows, expected):
    make_person(regions["a"], id_number=ID_HEAD)
    before = history_counts()
    result = import_csv(tmp_path, "enrollments", clerk_a, ENROLLMENT_HEADERS, rows)
    assert errors_of(result) == [expected]
    assert Enrollment.objects.count() == 0 and history_counts() == before


def test_enrollment_cannot_lower_the_due_below_a_granted_subsidy(tmp_path, clerk_a, regions):
    head = make_person(regions["a"], id_number=ID_HEAD)
    Enrollment.objects.create(person=head, plan_year=2025, region=regions["a"], contribution_due=Decimal("380"),
                              subsidy_amount=Decimal("380"))
    result = import_csv(tmp_path, "enrollments", clerk_a, ENROLLMENT_HEADERS,
                        [[ID_HEAD, "2025", "", "", "", "", "300", "", ""]])
    assert errors_of(result) == [(2, "应缴金额", "The contribution due is below the subsidy already granted (380.00).")]


# --- regions ------------------------------------------------------------------------------------------------
REGION_HEADERS = ["行政区划代码", "名称", "层级", "上级代码", "分担类别"]


def test_region_file_builds_the_tree_whatever_the_row_order(tmp_path, db):
    admin = make_user("root", is_superuser=True)
    rows = [
        ["500101", "万州区", "区县", "500100", ""],
        ["500100", "重庆市辖区", "地市", "500000", ""],
        ["500000", "重庆市", "省", "", ""],
        ["522732", "三都水族自治县", "county", "522700", "1"],
        ["522700", "黔南布依族苗族自治州", "州", "520000", ""],
        ["520000", "贵州省", "省级", "", ""],
    ]
    result = import_csv(tmp_path, "regions", admin, REGION_HEADERS, rows)
    assert result.ok, errors_of(result)
    assert Region.objects.get(code="500101").path == "/500000/500100/500101/"
    sandu = Region.objects.get(code="522732")
    assert (sandu.path, sandu.parent.code, sandu.level, sandu.cost_share_class) == (
        "/520000/522700/522732/", "522700", "county", 1)
    assert Region.history.model.objects.filter(history_type="+").count() == 6
    again = import_csv(tmp_path, "regions", admin, REGION_HEADERS, rows)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)


def test_moving_a_region_rewrites_the_paths_below_it(tmp_path, regions):
    admin = make_user("root", is_superuser=True)
    make_region("530000", "云南省")
    result = import_csv(tmp_path, "regions", admin, REGION_HEADERS, [["522700", "黔南州", "州", "530000", ""]])
    assert result.ok, errors_of(result)
    assert Region.objects.get(code="522701").path == "/530000/522700/522701/"
    assert Region.objects.get(code="522702").path == "/530000/522700/522702/"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([["522703", "新县", "县", "529900", ""]], (2, "上级代码", "Unknown region code 529900.")),
        ([["52270", "新县", "县", "522700", ""]],
         (2, "行政区划代码", "“52270” is not a region code; a region code is six digits.")),
        ([["522703", "新县", "乡", "522700", ""]], (2, "层级", "“乡” is not one of: 省、市、县.")),
        ([["530000", "云南省", "省", "", ""]], (2, "行政区划代码", "Region 530000 is outside your regions.")),
        ([["522703", "新县", "县", "522701", ""], ["522701", "都匀市", "县", "522703", ""]],
         (2, "上级代码", "Region 522703 would end up under itself.")),
    ],
    ids=["unknown-parent", "bad-code", "bad-level", "out-of-scope", "cycle"],
)
def test_region_file_errors(tmp_path, regions, rows, expected):
    prefecture_admin = make_user("pref_admin", regions=(regions["prefecture"],))
    from django.contrib.auth.models import Permission

    prefecture_admin.user_permissions.add(Permission.objects.get(codename="add_region"))
    before = Region.objects.count()
    result = import_csv(tmp_path, "regions", prefecture_admin, REGION_HEADERS, rows)
    assert errors_of(result)[0] == expected
    assert Region.objects.count() == before


def test_region_file_in_scope_is_imported_for_a_prefecture_admin(tmp_path, regions):
    from django.contrib.auth.models import Permission

    user = make_user("pref_admin", regions=(regions["prefecture"],))
    user.user_permissions.add(Permission.objects.get(codename="add_region"))
    result = import_csv(tmp_path, "regions", user, REGION_HEADERS, [["522703", "新县", "县", "522700", "2"]])
    assert result.ok, errors_of(result)
    assert Region.objects.get(code="522703").path == "/520000/522700/522703/"


# --- command line -----------------------------------------------------------------------------------------
def test_command_imports_and_reports(tmp_path, clerk_a):
    path = write(tmp_path, "r.csv", csv_bytes(ROSTER_HEADERS, roster_rows()))
    out = io.StringIO()
    call_command("import_file", "roster", str(path), "--user", clerk_a.username, stdout=out)
    assert Person.objects.count() == 4
    assert "people were created: 4" in out.getvalue()


def test_command_dry_run_writes_nothing(tmp_path, clerk_a):
    path = write(tmp_path, "r.csv", csv_bytes(ROSTER_HEADERS, roster_rows()))
    out = io.StringIO()
    call_command("import_file", "roster", str(path), "--user", clerk_a.username, "--dry-run", stdout=out)
    assert Person.objects.count() == 0
    assert "people would be created: 4" in out.getvalue()


def test_command_prints_errors_and_fails(tmp_path, clerk_a):
    rows = roster_rows()
    rows[2][3] = "529999"
    path = write(tmp_path, "r.csv", csv_bytes(ROSTER_HEADERS, rows))
    err = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_file", "roster", str(path), "--user", clerk_a.username, stdout=io.StringIO(),
                     stderr=err)
    assert "row 4, column 行政区划代码: Unknown region code 529999." in err.getvalue()
    assert excinfo.value.returncode == 1
    assert Person.objects.count() == 0


def test_command_exit_status_is_one_on_errors(tmp_path, clerk_a):
    """Through the real entry point, as a shell script would see it."""
    rows = roster_rows()
    rows[0][0] = BAD_CHECK_DIGIT
    path = write(tmp_path, "r.csv", csv_bytes(ROSTER_HEADERS, rows))
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as excinfo:
        ManagementUtility(["manage.py", "import_file", "roster", str(path), "--user", clerk_a.username]).execute()
    assert excinfo.value.code == 1


# --- the PostgreSQL COPY writer and simple_history's bulk helpers write the same rows and history -----------
def _full_state():
    """Every imported row and history row by natural keys, without surrogate ids and timestamps."""
    def rows(model, key, exclude=()):
        fields = [f.attname for f in model._meta.concrete_fields
                  if f.attname not in {"id", "history_id", "history_date", *exclude}]
        return sorted(model.objects.values_list(key, *fields), key=repr)

    return {
        "households": rows(Household, "number", ("region_id",)),
        "people": rows(Person, "id_number", ("household_id", "region_id")),
        "identities": rows(Identity, "person__id_number", ("person_id",)),
        "household history": rows(Household.history.model, "number", ("region_id",)),
        "person history": rows(Person.history.model, "id_number", ("household_id", "region_id")),
        "identity history": rows(Identity.history.model, "person__id_number", ("person_id",)),
    }


def _wipe():
    for model in (Identity, Person, Household):
        model.objects.all().delete()
    for model in (Identity, Person, Household):
        model.history.all().delete()  # including the rows the deletes above just recorded


@pytest.mark.services
def test_copy_writer_writes_what_simple_history_writes(tmp_path, clerk_a, monkeypatch):
    from django.db import connection

    from enrollment.imports import service
    from enrollment.imports.writer import Writer

    from ..conftest import require

    require(connection.vendor == "postgresql", "the COPY writer runs on PostgreSQL only (DATABASE_URL)")
    changed = roster_rows()
    changed[0][1] = "王大山改"
    changed[3][13] = "2024-06-30"
    states = []
    for use_copy in (False, True):
        monkeypatch.setattr(service, "Writer", lambda use_copy=use_copy, **kw: Writer(use_copy=use_copy, **kw))
        assert import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, roster_rows(), name="a.csv").written
        assert import_csv(tmp_path, "roster", clerk_a, ROSTER_HEADERS, changed, name="b.csv").updated == 2
        states.append(_full_state())
        _wipe()
    orm, copy = states
    assert copy == orm
    assert {row[-3:] for row in copy["person history"]} == {  # (reason, type, user) of every history row
        ("Imported from a.csv", "+", clerk_a.pk), ("Imported from b.csv", "~", clerk_a.pk)}


@pytest.mark.services
def test_a_build_that_queries_during_copy_fails_instead_of_hanging(clerk_a, regions):
    from django.db import connection, transaction
    from django.utils import timezone

    from enrollment.imports.base import Progress
    from enrollment.imports.writer import Writer

    from ..conftest import require

    require(connection.vendor == "postgresql", "the COPY writer runs on PostgreSQL only (DATABASE_URL)")

    class Draft:
        pk = None

    def build(draft):
        return {"number": "H1", "region_id": Region.objects.get(code="522701").pk}  # a query: not allowed

    writer = Writer(user=clerk_a, reason="test", when=timezone.now(), progress=Progress(), use_copy=True)
    with pytest.raises(RuntimeError, match="while COPY was running"), transaction.atomic():
        writer.create(Household, [Draft()], build)
    assert Household.objects.count() == 0


def test_row_estimate_for_choosing_the_background(tmp_path):
    from enrollment.imports.readers import estimate_data_rows

    rows = roster_rows()
    csv_path = write(tmp_path, "r.csv", csv_bytes(ROSTER_HEADERS, [*rows, [""] * 16, [" "] * 16]))
    xlsx_path = write(tmp_path, "r.xlsx", xlsx_bytes(ROSTER_HEADERS, rows))
    assert estimate_data_rows(csv_path) == 4  # blank lines do not count
    assert estimate_data_rows(xlsx_path) == 4  # the workbook's own dimension
