"""Fuzzing every import and the policy loader (hypothesis): random bytes, encodings, cell values and documents.

Properties: no exception escapes (no server error), every refusal carries a message (a row and column for a cell),
and a refused file writes nothing. Examples are bounded (`FUZZ_EXAMPLES` per test and parameter) and derandomized:
the same cases on every run, so CI is repeatable.
"""

import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claims.imports import import_claims
from enrollment import roles
from enrollment.idnumbers import make_id_number
from enrollment.imports import run_import
from enrollment.models import Enrollment, Household, Identity, Person, Region
from enrollment.policyfile import PolicyDocument, PolicyFileError, parse_policy_document
from tests.enrollment.test_imports import ENROLLMENT_HEADERS, IDENTITY_HEADERS, REGION_HEADERS, ROSTER_HEADERS
from tests.factories import make_person, make_user

# About 25 s of CPU for the ~700 cases (longer on a busy machine): marked slow, run by CI like every test.
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

KNOWN = make_id_number("522701", date(1960, 5, 17), 53)  # registered in county A by the fixture

FUZZ_EXAMPLES = 30
CLAIM_HEADERS = ["单据号", "身份证号", "医院编码", "就诊类型", "入院日期", "出院日期", "诊断编码", "诊断名称",
                 "大病专项", "转诊", "总费用", "政策范围内费用"]
HEADERS = {"roster": ROSTER_HEADERS, "identities": IDENTITY_HEADERS, "enrollments": ENROLLMENT_HEADERS,
           "regions": REGION_HEADERS, "claims": CLAIM_HEADERS}
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# Cells: plausible values (real numbers, dates, choices) mixed with hostile ones (control characters, huge,
# unicode, formula-looking, numbers with many decimals, datetimes with zones).
PLAUSIBLE = st.sampled_from([
    "", "522701", "都匀市", "县", "2024", "2024-01-01", "2024/02/30", "20240301", "380", "380.005", "-5", "1e9",
    "NaN", "低保对象", "tekun", "已参保", "应参保", "不能参保", "参军", "住院", "门诊", "是", "否", "已转诊",
    "ZY001", "H001", "户主", "民政", "=1+1", "0x10", "５２２７０１", KNOWN, "522701580101123",
    "2024-12-31T17:00:00Z", "9" * 30, "Infinity", "1,200.50", "￥380元",
])
CELL_TEXT = st.one_of(PLAUSIBLE, st.text(max_size=40), st.text(alphabet=st.characters(max_codepoint=0x40),
                                                                  max_size=10))
ROW = st.lists(CELL_TEXT, min_size=0, max_size=18)


def _counts():
    return (Person.objects.count(), Household.objects.count(), Identity.objects.count(),
            Enrollment.objects.count(), Region.objects.count(), Person.history.count(), Region.history.count())


def _claims_count():
    from claims.models import Claim

    return Claim.objects.count(), Claim.history.count()


@pytest.fixture
def users(regions):
    person = make_person(regions["a"], id_number=KNOWN)
    assert person.pk
    return {
        "clerk": make_user("fuzz_clerk", roles=(roles.CLERK,), regions=(regions["a"],)),
        # Regions are reference data kept by heads (the 系统管理员 holds no business right).
        "head": make_user("fuzz_head", roles=(roles.HEAD,), regions=(regions["province"],)),
    }


def _run(kind, users, content: bytes):
    """Import `content`; return (result, written) after checking the properties common to every kind."""
    before = _counts(), _claims_count()
    user = users["head"] if kind == "regions" else users["clerk"]
    stream = io.BytesIO(content)
    if kind == "claims":
        result = import_claims(source=stream, user=user, file_name="fuzz.csv").result
    else:
        result = run_import(job_or_file=stream, kind=kind, user=user, file_name="fuzz.csv")
    after = _counts(), _claims_count()
    if result.ok:
        assert result.written
    else:
        assert not result.written and after == before, "a refused file wrote something"
        assert result.errors, "refused without a message"
        for error in result.errors:
            assert error.message.strip()
            if error.row is not None and error.row > 1:
                assert error.column, error  # a row error names its column
    return result


def _csv(headers, rows, encoding="utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([headers, *rows])
    return buffer.getvalue().encode(encoding, errors="replace")


@pytest.mark.parametrize("kind", list(HEADERS))
@FUZZ
@given(content=st.binary(max_size=2048))
def test_random_bytes_never_crash_an_import(users, kind, content):
    result = _run(kind, users, content)
    assert not result.ok or result.total_rows >= 0


@pytest.mark.parametrize("kind", list(HEADERS))
@FUZZ
@given(rows=st.lists(ROW, min_size=1, max_size=6),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "big5", "latin-1"]))
def test_random_cells_in_every_encoding_never_crash_an_import(users, kind, rows, encoding):
    _run(kind, users, _csv(HEADERS[kind], rows, encoding))


XLSX_CELL = st.one_of(
    PLAUSIBLE, st.integers(min_value=-10**15, max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.dates(min_value=date(1800, 1, 1), max_value=date(2200, 1, 1)),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30),
)


@pytest.mark.parametrize("kind", ["roster", "enrollments", "claims"])
@FUZZ
@given(rows=st.lists(st.lists(XLSX_CELL, max_size=16), min_size=1, max_size=5))
def test_random_typed_xlsx_cells_never_crash_an_import(users, kind, rows):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADERS[kind])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    _run(kind, users, buffer.getvalue())


@pytest.mark.parametrize("kind", ["roster", "identities"])
@FUZZ
@given(char=st.characters(max_codepoint=0x1F, blacklist_characters="\t\n\r"), position=st.integers(0, 3))
def test_every_control_character_in_a_cell_is_a_row_and_column_error(users, kind, char, position):
    from tests.enrollment.test_imports import roster_rows

    rows = roster_rows() if kind == "roster" else [[KNOWN, "tekun", "2024-01-01", "", "", "", ""]]
    rows[0][position] = f"x{char}y"
    result = _run(kind, users, _csv(HEADERS[kind], rows))
    assert not result.ok
    assert any(e.row == 2 and e.column == HEADERS[kind][position] and f"U+{ord(char):04X}" in e.message
               for e in result.errors), result.errors


# --- the policy loader ------------------------------------------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=12),
                    st.sampled_from(["2024-01-01", "2024-13-01", "0.75", "75", "522700", "tekun", "inpatient"]),
                    st.floats(allow_nan=False, allow_infinity=False))
KEYS = st.sampled_from(["code", "name", "effective_from", "effective_to", "region", "benefits", "enrollment",
                        "basic", "critical", "annual_cap", "rules", "ratio", "deductible", "segments", "tilts",
                        "subsidies", "kind", "value", "category", "level", "parents", "up_to", "assistance",
                        "annual_limit", "statistics", "regions", "format", "x"])
DOCUMENTS = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)), max_leaves=25)


def _parse(document):
    try:
        parsed = parse_policy_document(document, source_name="fuzz.yaml", known_categories={"dibao", "tekun"})
    except PolicyFileError as error:
        assert error.messages and all(message.startswith("fuzz.yaml") for message in error.messages)
        return None
    assert isinstance(parsed, PolicyDocument)
    return parsed


@FUZZ
@given(document=DOCUMENTS)
def test_random_documents_never_crash_the_policy_loader(document):
    _parse(yaml.safe_dump(document, allow_unicode=True))
    _parse(yaml.safe_dump({"code": "fuzz", "name": "x", "effective_from": "2024-01-01",
                           "region": {"code": "522700", "name": "黔南州", "level": "prefecture"},
                           "benefits": document, "enrollment": document}, allow_unicode=True))


@FUZZ
@given(content=st.one_of(st.binary(max_size=1024), st.text(max_size=1024)))
def test_random_bytes_and_text_never_crash_the_policy_loader(content):
    _parse(content)


@FUZZ
@given(depth=st.integers(1, 3000), anchors=st.integers(1, 12), fan=st.integers(1, 12))
def test_nesting_and_aliases_of_any_size_end_in_a_message(depth, anchors, fan):
    _parse("code: " + "[" * depth + "1" + "]" * depth + "\n")
    lines = ["a0: &a0 [1, 2, 3]"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]" for i in range(1, anchors)]
    _parse("\n".join(lines) + "\n")


def test_aware_datetimes_are_what_a_fuzzer_would_also_send():
    # A typed cell with a zone (another system's export) is dated in Beijing, not in its own zone.
    from enrollment.imports.cells import parse_date

    moment = datetime(2024, 6, 30, 20, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert parse_date(moment) == date(2024, 7, 1)
