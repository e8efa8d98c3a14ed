"""Round trip (issue 10 §4): every importable list exported from the admin, one cell edited, imported back (dry run,
then the write) — the export is headed with the import's own columns. Also what makes such a file safe to send
around: typed cells, a frozen header, widths, a Chinese sheet name, masked ID numbers that the import refuses
instead of matching, masked bank accounts that keep the account on file."""

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from claims.exports import ClaimExportResource
from claims.imports import CLAIM_COLUMNS, import_claims
from claims.models import Claim
from enrollment import roles
from enrollment.exports import (
    EnrollmentExportResource,
    IdentityExportResource,
    PersonExportResource,
    RegionExportResource,
)
from enrollment.idnumbers import mask_bank_account
from enrollment.imports import COLUMNS, run_import
from enrollment.imports.workbook import SHEET_TITLES
from enrollment.models import Enrollment, Household, Identity, Person, Region
from enrollment.models.imports import ImportKind
from tests.claims.factories import make_hospital
from tests.export_helpers import download_export
from tests.factories import make_household, make_identity, make_person, make_user

from . import _admin_world
from ._admin_world import ADMIN, export_post_data, make_enrollment

_admin_over_plain_http = _admin_world._admin_over_plain_http


def export_book(client, url: str, resource_class) -> openpyxl.Workbook:
    response = client.post(url, export_post_data(resource_class, "xlsx"))
    return openpyxl.load_workbook(io.BytesIO(download_export(client, response)))


def header_index(sheet) -> dict[str, int]:
    return {cell.value: cell.column for cell in sheet[1]}


def edited(book, row: int, header: str, value) -> SimpleUploadedFile:
    sheet = book.active
    sheet.cell(row=row, column=header_index(sheet)[header], value=value)
    stream = io.BytesIO()
    book.save(stream)
    return stream.getvalue()


def upload(content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("edited.xlsx", content)


def import_twice(content: bytes, kind: str, user):
    """Dry run (nothing written), then the write."""
    dry = run_import(job_or_file=upload(content), kind=kind, user=user, dry_run=True)
    assert dry.ok, [e.as_dict() for e in dry.errors]
    assert not dry.written
    result = run_import(job_or_file=upload(content), kind=kind, user=user)
    assert result.ok and result.written, [e.as_dict() for e in result.errors]
    return dry, result


def assert_exchange_sheet(book, kind: str):
    sheet = book.active
    assert sheet.title == SHEET_TITLES[kind]
    assert sheet.freeze_panes == "A2"
    headers = header_index(sheet)
    import_headers = {column.header for column in COLUMNS[kind]}
    assert import_headers & set(headers), "the export uses the import's own headers"
    assert all(dimension.width for dimension in sheet.column_dimensions.values())
    return sheet, headers


@pytest.fixture
def head_a(regions):
    """A head of section who also does the clerk's work: sees full ID numbers and may import."""
    return make_user("head_clerk_a", roles=(roles.HEAD, roles.CLERK), regions=(regions["a"],))


@pytest.fixture
def roster_person(regions):
    household = make_household(regions["a"], number="H522701A", address="墨冲镇新场村二组",
                               annual_income=Decimal("12000.50"), income_year=2024)
    return make_person(regions["a"], name="王五", household=household, relation_to_head="户主",
                       bank_name="农业银行", bank_account="6228480000000001234", phone="13800000000")


@pytest.mark.django_db
def test_roster_round_trip_with_masked_bank_account(client, head_a, roster_person):
    client.force_login(head_a)  # sees full ID numbers
    book = export_book(client, f"{ADMIN}/person/export/", PersonExportResource)
    sheet, headers = assert_exchange_sheet(book, ImportKind.ROSTER)
    row = [cell.value for cell in sheet[2]]
    assert row[headers["身份证号"] - 1] == roster_person.id_number
    assert row[headers["银行账号"] - 1] == mask_bank_account(roster_person.bank_account)  # masked even here
    assert row[headers["家庭年可支配收入"] - 1] == 12000.5  # a number cell
    assert row[headers["收入年度"] - 1] == 2024

    content = edited(book, 2, "联系电话", "13900000009")
    dry, _result = import_twice(content, ImportKind.ROSTER, head_a)
    assert dict(dry.counts)[str(Person._meta.verbose_name_plural)].update == 1
    roster_person.refresh_from_db()
    assert roster_person.phone == "13900000009"
    assert roster_person.bank_account == "6228480000000001234"  # its own mask kept the account on file
    assert Household.objects.get(number="H522701A").annual_income == Decimal("12000.50")


@pytest.mark.django_db
def test_a_masked_bank_account_that_is_not_the_one_on_file_is_refused(client, head_a, roster_person):
    client.force_login(head_a)
    book = export_book(client, f"{ADMIN}/person/export/", PersonExportResource)
    content = edited(book, 2, "银行账号", "6228***********9999")
    result = run_import(job_or_file=upload(content), kind=ImportKind.ROSTER, user=head_a, dry_run=True)
    assert [(e.row, e.column) for e in result.errors] == [(2, "银行账号")]
    assert "masked" in result.errors[0].message


@pytest.mark.django_db
def test_masked_id_numbers_are_refused_on_import_not_matched(client, clerk_a, roster_person):
    client.force_login(clerk_a)  # sees masked ID numbers
    book = export_book(client, f"{ADMIN}/person/export/", PersonExportResource)
    shown = book.active.cell(row=2, column=header_index(book.active)["身份证号"]).value
    assert "*" in shown and shown != roster_person.id_number
    content = edited(book, 2, "联系电话", "13900000009")
    result = run_import(job_or_file=upload(content), kind=ImportKind.ROSTER, user=clerk_a, dry_run=True)
    assert [(e.row, e.column) for e in result.errors] == [(2, "身份证号")]
    assert "masked" in result.errors[0].message
    # The write refuses the same file and changes nothing.
    assert not run_import(job_or_file=upload(content), kind=ImportKind.ROSTER, user=clerk_a).written
    roster_person.refresh_from_db()
    assert roster_person.phone == "13800000000"


@pytest.mark.django_db
def test_identities_round_trip(client, head_a, regions):
    person = make_person(regions["a"], name="赵六")
    make_identity(person, "dibao", date(2023, 1, 1), source_batch="2023-01")
    client.force_login(head_a)
    book = export_book(client, f"{ADMIN}/identity/export/", IdentityExportResource)
    sheet, headers = assert_exchange_sheet(book, ImportKind.IDENTITIES)
    assert sheet.cell(row=2, column=headers["开始日期"]).is_date
    content = edited(book, 2, "结束日期", date(2024, 6, 30))
    dry, _result = import_twice(content, ImportKind.IDENTITIES, head_a)
    assert dict(dry.counts)[str(Identity._meta.verbose_name_plural)].update == 1
    identity = Identity.objects.get(person=person)
    assert (identity.valid_from, identity.valid_to) == (date(2023, 1, 1), date(2024, 6, 30))


@pytest.mark.django_db
def test_ledger_round_trip(client, head_a, regions):
    person = make_person(regions["a"], name="孙七")
    make_enrollment(person, plan_year=2024)
    client.force_login(head_a)
    book = export_book(client, f"{ADMIN}/enrollment/export/", EnrollmentExportResource)
    sheet, headers = assert_exchange_sheet(book, ImportKind.ENROLLMENTS)
    assert sheet.cell(row=2, column=headers["应缴金额"]).data_type == "n"
    assert sheet.cell(row=2, column=headers["参保状态"]).value == "应参保"
    content = edited(book, 2, "个人缴费", 100)
    dry, _result = import_twice(content, ImportKind.ENROLLMENTS, head_a)
    assert dict(dry.counts)[str(Enrollment._meta.verbose_name_plural)].update == 1
    assert Enrollment.objects.get(person=person).person_paid == Decimal("100.00")


@pytest.mark.django_db
def test_regions_round_trip(client, regions):
    user = make_user("province_head", roles=(roles.HEAD,), regions=(regions["province"],))
    client.force_login(user)
    book = export_book(client, f"{ADMIN}/region/export/?level__exact=county", RegionExportResource)
    sheet, headers = assert_exchange_sheet(book, ImportKind.REGIONS)
    codes = [sheet.cell(row=r, column=headers["行政区划代码"]).value for r in range(2, sheet.max_row + 1)]
    row = codes.index("522702") + 2
    content = edited(book, row, "名称", "福泉市（新）")
    import_twice(content, ImportKind.REGIONS, user)
    assert Region.objects.get(code="522702").name == "福泉市（新）"
    assert Region.objects.get(code="522701").name == "都匀市"


@pytest.mark.django_db
def test_claims_export_is_a_claim_file(client, regions):
    """A claim number is never imported twice (a bill changes by correction), so the edited cell is the number."""
    clerk = make_user("claims_clerk", roles=(roles.CLERK,), regions=(regions["a"],))
    head = make_user("claims_head", roles=(roles.HEAD,), regions=(regions["a"],))
    hospital = make_hospital(regions["a"])
    person = make_person(regions["a"], name="周八")
    Claim.objects.create(person=person, region=regions["a"], hospital=hospital, number="C-2024-1",
                         visit_type="inpatient", admitted_on=date(2024, 3, 1), discharged_on=date(2024, 3, 5),
                         total_cost=Decimal("5000.00"), policy_scope_cost=Decimal("4000.00"))
    client.force_login(head)
    book = export_book(client, "/admin/claims/claim/export/", ClaimExportResource)
    sheet = book.active
    assert sheet.title == "费用单据" and sheet.freeze_panes == "A2"
    headers = header_index(sheet)
    assert {c.header for c in CLAIM_COLUMNS} <= set(headers)
    assert sheet.cell(row=2, column=headers["总费用"]).value == 5000
    content = edited(book, 2, "单据号", "C-2024-2")
    dry = import_claims(source=upload(content), user=clerk, dry_run=True).result
    assert dry.ok, [e.as_dict() for e in dry.errors]
    assert not Claim.objects.filter(number="C-2024-2").exists()
    assert import_claims(source=upload(content), user=clerk).result.written
    copy = Claim.objects.get(number="C-2024-2")
    assert (copy.person, copy.hospital, copy.total_cost, copy.discharged_on) == (
        person, hospital, Decimal("5000.00"), date(2024, 3, 5))
    # The unedited file names a registered claim: refused, not updated.
    again = import_claims(source=upload(content), user=clerk, dry_run=True).result
    assert [e.column for e in again.errors] == ["单据号"]
