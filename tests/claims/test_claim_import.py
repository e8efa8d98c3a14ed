"""Hospital claim files: row and column errors, all or nothing, dry run, encodings, settling, command and page."""

import csv
import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from claims.imports import import_claims
from claims.models import Claim, Settlement
from claims.models.choices import Referral, VisitType
from claims.models.claims import ClaimSource, ClaimStatus
from enrollment.idnumbers import make_id_number
from tests.enrollment._admin_world import _admin_over_plain_http  # noqa: F401 - autouse: plain-HTTP test client
from tests.factories import make_user

from .factories import make_claim, make_hospital, make_patient, spec_example_policy

D = Decimal
HEADERS = ["单据号", "身份证号", "医院编码", "就诊类型", "入院日期", "出院日期", "诊断编码", "诊断名称", "大病专项",
           "转诊", "总费用", "政策范围内费用"]


@pytest.fixture
def world(regions):
    spec_example_policy(regions["prefecture"], date(2024, 1, 1))
    return {
        "hospital": make_hospital(regions["a"], code="520100001", name="都匀市人民医院"),
        "a": make_patient(regions["a"], name="甲县病人"),
        "b": make_patient(regions["b"], name="乙县病人"),
    }


def row(world, number="ZY001", *, person="a", **cells) -> list:
    values = {
        "单据号": number, "身份证号": world[person].id_number, "医院编码": world["hospital"].code,
        "就诊类型": "住院", "入院日期": "2024-03-01", "出院日期": "2024-03-10", "诊断编码": "I63.9",
        "诊断名称": "脑梗死", "大病专项": "否", "转诊": "已转诊", "总费用": "60000.00", "政策范围内费用": "52000.00",
    }
    values.update(cells)
    return [values[h] for h in HEADERS]


def csv_file(rows, *, encoding="utf-8", headers=HEADERS) -> io.BytesIO:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(headers)
    writer.writerows(rows)
    data = text.getvalue().encode(encoding)
    buffer = io.BytesIO(data)
    buffer.name = "claims.csv"
    return buffer


def xlsx_file(rows) -> io.BytesIO:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["某医院 2024年3月 费用单据"])  # a title line above the header, as hospitals send them
    sheet.append(HEADERS)
    for cells in rows:
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "claims.xlsx"
    return buffer


def errors_of(outcome) -> list[tuple]:
    return [(e.row, e.column, e.message) for e in outcome.result.errors]


# --- Success -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_each_encoding_registers_every_claim_with_history(world, clerk_a, encoding):
    source = csv_file([row(world, "ZY001"), row(world, "MZ002", 就诊类型="普通门诊", 出院日期="", 转诊="无需转诊",
                                            总费用="320.50", 政策范围内费用="300.00")], encoding=encoding)
    outcome = import_claims(source=source, user=clerk_a)
    assert outcome.result.ok and outcome.result.written and outcome.result.created == 2
    inpatient = Claim.objects.get(number="ZY001")
    assert (inpatient.person, inpatient.region, inpatient.hospital) == (world["a"], world["a"].region,
                                                                        world["hospital"])
    assert (inpatient.visit_type, inpatient.admitted_on, inpatient.discharged_on) == (
        VisitType.INPATIENT, date(2024, 3, 1), date(2024, 3, 10))
    assert (inpatient.total_cost, inpatient.policy_scope_cost) == (D("60000.00"), D("52000.00"))
    assert (inpatient.referral, inpatient.is_special_disease) == (Referral.REFERRED, False)
    assert (inpatient.source, inpatient.status, inpatient.created_by) == (
        ClaimSource.IMPORT, ClaimStatus.REGISTERED, clerk_a)
    outpatient = Claim.objects.get(number="MZ002")
    assert outpatient.visit_type == VisitType.OUTPATIENT and outpatient.discharged_on is None
    assert outpatient.referral == Referral.NOT_REQUIRED
    record = inpatient.history.get()
    assert record.history_user == clerk_a and "claims.csv" in record.history_change_reason


def test_xlsx_with_a_title_row_and_typed_cells(world, clerk_a):
    source = xlsx_file([row(world, "ZY001", 入院日期=date(2024, 3, 1), 出院日期=date(2024, 3, 10), 总费用=60000,
                            政策范围内费用=52000.5, 大病专项="是", 转诊="未转诊")])
    outcome = import_claims(source=source, user=clerk_a)
    assert outcome.result.written, errors_of(outcome)
    claim = Claim.objects.get(number="ZY001")
    assert claim.policy_scope_cost == D("52000.50") and claim.is_special_disease
    assert claim.referral == Referral.MISSING


def test_dry_run_checks_and_writes_nothing(world, clerk_a):
    outcome = import_claims(source=csv_file([row(world)]), user=clerk_a, dry_run=True)
    assert outcome.result.ok and outcome.result.created == 1 and not outcome.result.written
    assert not Claim.objects.exists()


def test_settle_after_import_settles_each_claim(world, clerk_a):
    outcome = import_claims(source=csv_file([row(world, "ZY001"), row(world, "ZY002", 入院日期="2019-03-01",
                                                                        出院日期="2019-03-05")]),
                            user=clerk_a, settle=True)
    assert outcome.result.written and outcome.settled == 1
    settlement = Settlement.objects.get(claim__number="ZY001")
    assert settlement.patient_pays == D("8866.87")  # the worked example
    # No policy was in force in 2019: that claim stays registered and is reported.
    assert Claim.objects.get(number="ZY002").status == ClaimStatus.REGISTERED
    assert len(outcome.settle_errors) == 1 and outcome.settle_errors[0].startswith("ZY002")


# --- Errors: row, column, reason; nothing written -----------------------------------------------------------------

def test_every_kind_of_error_is_reported_by_row_and_column_and_nothing_is_written(world, clerk_a, regions):
    make_claim(world["a"], world["hospital"], number="OLD-1")
    unknown_id = make_id_number("522701", date(1977, 7, 7), 9)
    rows = [
        row(world, "ZY001"),                                             # row 2: fine
        row(world, "ZY002", 身份证号=unknown_id),                          # row 3: unknown person
        row(world, "ZY003", 医院编码="NOPE"),                              # row 4: unknown hospital
        row(world, "ZY004", 政策范围内费用="70000.00"),                     # row 5: scope above total
        row(world, "ZY005", 入院日期="2024-02-30"),                        # row 6: not a date
        row(world, "ZY006", 出院日期="2024-02-01"),                        # row 7: discharged before admitted
        row(world, "ZY001"),                                             # row 8: number twice in the file
        row(world, "OLD-1"),                                             # row 9: number already registered
        row(world, "ZY009", person="b"),                                 # row 10: another county's person
        row(world, "ZY010", 就诊类型="急诊"),                               # row 11: unknown visit type
        row(world, "ZY011", 出院日期=""),                                  # row 12: inpatient without discharge
        row(world, "ZY012", 总费用="-5"),                                  # row 13: negative amount
        row(world, "ZY013", 身份证号="123"),                               # row 14: invalid ID number
    ]
    outcome = import_claims(source=csv_file(rows), user=clerk_a)
    found = {(r, c) for r, c, _m in errors_of(outcome)}
    assert found == {
        (3, "身份证号"), (4, "医院编码"), (5, "政策范围内费用"), (6, "入院日期"), (7, "出院日期"), (8, "单据号"),
        (9, "单据号"), (10, "身份证号"), (11, "就诊类型"), (12, "出院日期"), (13, "总费用"), (14, "身份证号"),
    }
    messages = {(r, c): m for r, c, m in errors_of(outcome)}
    assert "row 2" in messages[(8, "单据号")]
    assert "already registered" in messages[(9, "单据号")]
    # Another county's person reads exactly like an unknown number (row 3): no existence oracle.
    assert messages[(10, "身份证号")] == messages[(3, "身份证号")]
    assert "Unknown hospital" in messages[(4, "医院编码")]
    assert not outcome.result.written
    assert outcome.result.rejected_rows == 12
    assert not Claim.objects.filter(number="ZY001").exists()  # the good row is not written either


def test_a_missing_required_column_is_reported(world, clerk_a):
    headers = [h for h in HEADERS if h != "政策范围内费用"]
    outcome = import_claims(source=csv_file([row(world)[:-1]], headers=headers), user=clerk_a)
    assert any(c == "政策范围内费用" for _r, c, _m in errors_of(outcome))
    assert not Claim.objects.exists()


def test_an_unreadable_file_is_refused(world, clerk_a):
    junk = io.BytesIO(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    junk.name = "old.xls"
    outcome = import_claims(source=junk, user=clerk_a)
    assert not outcome.result.ok and ".xlsx" in errors_of(outcome)[0][2]


def test_a_user_without_add_claim_may_not_import(world, regions):
    from django.core.exceptions import PermissionDenied

    reader = make_user("reader", regions=(regions["a"],))
    with pytest.raises(PermissionDenied):
        import_claims(source=csv_file([row(world)]), user=reader)


def test_the_check_costs_the_same_queries_for_5_or_50_rows(world, clerk_a):
    def queries_for(n: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            outcome = import_claims(source=csv_file([row(world, f"N{n}-{i}") for i in range(n)]), user=clerk_a,
                                    dry_run=True)
        assert outcome.result.ok
        return len(queries)

    queries_for(1)  # the user's permissions and regions are cached on the user object after the first file
    assert queries_for(5) == queries_for(50)


# --- Command -----------------------------------------------------------------------------------------------------

def test_command_dry_run_then_import_and_settle(world, clerk_a, tmp_path):
    path = tmp_path / "claims.csv"
    path.write_bytes(csv_file([row(world)]).getvalue())
    out = io.StringIO()
    call_command("import_claims", str(path), user="clerk_a", dry_run=True, stdout=out)
    assert "1 claims would be registered" in out.getvalue() and not Claim.objects.exists()
    call_command("import_claims", str(path), user="clerk_a", settle=True, stdout=out)
    assert Claim.objects.get(number="ZY001").status == ClaimStatus.SETTLED


def test_command_fails_with_the_errors(world, clerk_a, tmp_path):
    path = tmp_path / "claims.csv"
    path.write_bytes(csv_file([row(world, 医院编码="NOPE")]).getvalue())
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_claims", str(path), user="clerk_a", stderr=err)
    assert "医院编码" in err.getvalue()


# --- Admin page ---------------------------------------------------------------------------------------------------

PAGE = "/admin/claims/claim/import/"


def upload(world, rows=None) -> SimpleUploadedFile:
    return SimpleUploadedFile("claims.csv", csv_file(rows or [row(world)]).getvalue(), content_type="text/csv")


def test_page_checks_then_imports_on_confirmation(client, world, clerk_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(clerk_a)
    checked = client.post(PAGE, {"file": upload(world)})
    assert checked.status_code == 200 and checked.context["outcome"].result.ok
    assert not Claim.objects.exists()
    token = checked.context["confirm_form"]["token"].value()

    done = client.post(PAGE, {"token": token, "settle": "on"})
    assert done.status_code == 302
    assert Claim.objects.get(number="ZY001").status == ClaimStatus.SETTLED
    assert not list(tmp_path.rglob("*.csv"))  # the stored upload is gone

    again = client.post(PAGE, {"token": token})  # a token works once
    assert again.context["expired"] and Claim.objects.count() == 1


def test_page_shows_row_errors_and_offers_no_confirmation(client, world, clerk_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(clerk_a)
    response = client.post(PAGE, {"file": upload(world, [row(world, 医院编码="NOPE")])})
    assert "confirm_form" not in response.context
    page = response.content.decode()
    assert "医院编码" in page and "NOPE" in page


def test_another_users_token_is_refused(client, world, clerk_a, regions, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(clerk_a)
    token = client.post(PAGE, {"file": upload(world)}).context["confirm_form"]["token"].value()
    other = make_user("clerk_a2", roles=("经办员",), regions=(regions["a"],))
    client.force_login(other)
    assert client.post(PAGE, {"token": token}).context["expired"]
    assert not Claim.objects.exists()


def test_page_needs_add_claim(client, world, regions):
    client.force_login(make_user("viewer", roles=("初审员",), regions=(regions["a"],)))
    assert client.get(PAGE).status_code == 403


def test_claim_list_links_to_the_import_page(client, clerk_a, world):
    client.force_login(clerk_a)
    assert PAGE in client.get(reverse("admin:claims_claim_changelist")).content.decode()
