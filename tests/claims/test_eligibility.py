"""Eligibility look-up (资格确认, SPEC §4.3): the selector, the hospitals' JSON endpoint and the staff page."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from claims.eligibility import eligibility
from claims.models import BenefitPolicy, EligibilityLookup, HospitalStaff
from claims.services import settle_claim
from enrollment import roles
from enrollment.idnumbers import make_id_number
from enrollment.models import IdentityCategory
from enrollment.models.ledger import EnrollmentStatus
from tests.enrollment._admin_world import _admin_over_plain_http  # noqa: F401 - autouse: plain-HTTP test client
from tests.factories import make_identity, make_person, make_user

from .factories import (
    make_assistance_rule,
    make_claim,
    make_enrollment,
    make_hospital,
    make_patient,
    spec_example_policy,
)

D = Decimal
API = "/api/eligibility/"
# Chongqing 渝乡振发〔2022〕15号 (二): from 2022 only dibao, tekun, monitored and returned-poverty people are admitted
# without a deposit; lifted people who are not monitored no longer are.
_VALID = make_id_number("522701", date(1960, 5, 17), 1)
WRONG_CHECK_DIGIT = _VALID[:-1] + ("0" if _VALID[-1] != "0" else "1")
CHONGQING_2022 = ("dibao", "tekun", "unstable_lifted", "edge_vulnerable", "sudden_hardship", "returned_poverty")


def set_no_deposit(policy, codes) -> None:
    BenefitPolicy.objects.get(policy=policy).no_deposit_categories.set(IdentityCategory.objects.filter(code__in=codes))


@pytest.fixture
def policy(regions):
    policy = spec_example_policy(regions["prefecture"], date(2024, 1, 1))
    set_no_deposit(policy, CHONGQING_2022)
    return policy


@pytest.fixture
def county_hospital(regions):
    return make_hospital(regions["a"], code="H-COUNTY", in_county=True)


@pytest.fixture
def city_hospital(regions):
    return make_hospital(regions["prefecture"], code="H-CITY", in_county=False)


@pytest.fixture
def dibao_patient(regions, policy):
    return make_patient(regions["a"], name="低保户", codes=("dibao",), years=(2024,))


@pytest.fixture
def hospital_user(county_hospital):
    user = make_user("his_user", roles=(roles.HOSPITAL,))
    HospitalStaff.objects.create(user=user, hospital=county_hospital)
    return user


def look_up(person, on, hospital=None):
    return eligibility(id_number=person.id_number, on_date=on, hospital=hospital)


# --- The selector -----------------------------------------------------------------------------------------------

def test_insured_on_a_date_of_the_covered_plan_year(dibao_patient):
    result = look_up(dibao_patient, date(2024, 6, 1))
    assert result.insured and result.enrollment.plan_year == 2024
    assert [c.code for c in result.categories] == ["dibao"]


@pytest.mark.parametrize("on", [date(2023, 12, 31), date(2025, 1, 1)])
def test_not_insured_outside_the_plan_year(dibao_patient, on):
    result = look_up(dibao_patient, on)
    assert not result.insured
    assert result.no_deposit_by_category is False


def test_coverage_start_counts(regions, policy):
    # Enrolled mid-year by the green channel: covered from 1 March only.
    person = make_person(regions["a"], name="绿色通道")
    make_identity(person, "dibao", date(2024, 3, 1))
    make_enrollment(person, 2024, coverage_start=date(2024, 3, 1))
    assert not look_up(person, date(2024, 2, 29)).insured
    assert look_up(person, date(2024, 3, 1)).insured


@pytest.mark.parametrize("status", [EnrollmentStatus.SHOULD_ENROL, EnrollmentStatus.NOT_INSURED])
def test_a_ledger_row_that_is_not_insured_does_not_count(regions, policy, status):
    person = make_person(regions["a"], name="未缴费")
    make_enrollment(person, 2024, status=status)
    assert not look_up(person, date(2024, 6, 1)).insured


def test_categories_are_those_valid_on_the_date(regions, policy):
    person = make_person(regions["a"], name="身份变化")
    make_identity(person, "dibao", date(2020, 1, 1), date(2024, 4, 30))
    make_identity(person, "tekun", date(2024, 5, 1))
    make_enrollment(person, 2024)
    assert [c.code for c in look_up(person, date(2024, 4, 30)).categories] == ["dibao"]
    assert [c.code for c in look_up(person, date(2024, 5, 1)).categories] == ["tekun"]


def test_no_deposit_at_a_county_hospital_for_a_dibao_patient(dibao_patient, county_hospital, city_hospital):
    on = date(2024, 6, 1)
    assert look_up(dibao_patient, on, county_hospital).no_deposit is True
    assert look_up(dibao_patient, on, city_hospital).no_deposit is False  # not county-internal
    assert look_up(dibao_patient, on).no_deposit is None  # no hospital asked about
    assert look_up(dibao_patient, on).no_deposit_by_category is True


@pytest.mark.parametrize(("code", "admitted"), [
    ("dibao", True), ("tekun", True), ("unstable_lifted", True), ("edge_vulnerable", True),
    ("sudden_hardship", True), ("returned_poverty", True),
    ("stable_lifted", False), ("dibao_edge", False),
])
def test_no_deposit_categories_chongqing_2022(regions, policy, county_hospital, code, admitted):
    person = make_patient(regions["a"], name=code, codes=(code,), years=(2024,))
    assert look_up(person, date(2024, 6, 1), county_hospital).no_deposit is admitted


def test_no_deposit_follows_the_policy_in_force_on_the_date(regions, county_hospital):
    """Before 2022 lifted people were admitted without a deposit; from 2022-01-01 (Chongqing) no longer."""
    old = spec_example_policy(regions["prefecture"], date(2021, 1, 1), date(2021, 12, 31))
    new = spec_example_policy(regions["prefecture"], date(2022, 1, 1), date(2022, 12, 31))
    set_no_deposit(old, (*CHONGQING_2022, "stable_lifted"))
    set_no_deposit(new, CHONGQING_2022)
    lifted = make_patient(regions["a"], name="脱贫人口", codes=("stable_lifted",), years=(2021, 2022))
    assert look_up(lifted, date(2021, 12, 31), county_hospital).no_deposit is True
    assert look_up(lifted, date(2022, 1, 1), county_hospital).no_deposit is False


def test_no_deposit_needs_insurance(regions, policy, county_hospital):
    person = make_patient(regions["a"], name="未参保低保", codes=("dibao",), years=())
    result = look_up(person, date(2024, 6, 1), county_hospital)
    assert not result.insured and result.no_deposit is False


def test_remaining_limits_before_and_after_a_settled_claim(dibao_patient, county_hospital, clerk_a):
    on = date(2024, 6, 1)
    before = look_up(dibao_patient, on)
    assert (before.basic.cap, before.basic.remaining) == (D("250000.00"), D("250000.00"))
    assert before.critical.cap is None and before.critical_cap_removed_by.code == "dibao"  # tilt: no cap
    assert (before.assistance.cap, before.assistance.remaining) == (D("30000.00"), D("30000.00"))

    settle_claim(claim=make_claim(dibao_patient, county_hospital), by=clerk_a)  # the worked example

    after = look_up(dibao_patient, on)
    assert (after.basic.paid, after.basic.remaining) == (D("38625.00"), D("211375.00"))
    assert after.critical.paid == D("3818.75") and after.critical.remaining is None
    assert (after.assistance.paid, after.assistance.remaining) == (D("6689.38"), D("23310.62"))
    assert look_up(dibao_patient, date(2025, 1, 2)).basic.paid == D("0.00")  # another year starts afresh


def test_without_a_tilt_the_critical_cap_applies(regions, policy, county_hospital, clerk_a):
    person = make_patient(regions["a"], name="普通参保人", codes=(), years=(2024,))
    result = look_up(person, date(2024, 6, 1))
    assert result.critical.cap == D("400000.00") and result.critical_cap_removed_by is None
    assert result.assistance is None  # no category with an assistance rule


def test_the_assistance_rule_with_the_largest_limit_is_shown(regions, policy):
    make_assistance_rule(policy, "tekun", ratio="1.00", annual_limit="50000.00")
    person = make_patient(regions["a"], name="特困低保", codes=("dibao", "tekun"), years=(2024,))
    result = look_up(person, date(2024, 6, 1))
    assert result.assistance.cap == D("50000.00") and result.assistance_category.code == "tekun"


def test_unknown_person_is_none_and_invalid_id_raises(db):
    from django.core.exceptions import ValidationError

    assert eligibility(id_number=make_id_number("522701", date(1970, 1, 1), 1), on_date=date(2024, 1, 1)) is None
    with pytest.raises(ValidationError):
        eligibility(id_number="52270119700101001", on_date=date(2024, 1, 1))


# --- The JSON endpoint ------------------------------------------------------------------------------------------

def get_json(client, **params):
    """The look-up is a POST: the ID number travels in the body, never in a URL an access log keeps."""
    response = client.post(API, params)
    return response.status_code, json.loads(response.content.decode())


def test_endpoint_answers_a_hospital_user_with_the_masked_id(client, hospital_user, dibao_patient):
    client.force_login(hospital_user)
    status, body = get_json(client, id_number=dibao_patient.id_number, date="2024-06-01")
    assert status == 200
    assert body["found"] and body["insured"] and body["no_deposit"]
    assert body["id_number"] == dibao_patient.masked_id_number
    assert dibao_patient.id_number not in json.dumps(body)
    assert dibao_patient.name not in json.dumps(body, ensure_ascii=False)  # no more personal data than needed
    assert body["categories"] == [{"code": "dibao", "name": "低保对象"}]
    assert body["limits"]["basic"] == {"cap": "250000.00", "remaining": "250000.00"}
    assert [layer["code"] for layer in body["layers"]] == ["basic", "critical", "assistance"]
    assert [(tilt["layer"], tilt["category"], tilt["cap_removed"]) for tilt in body["tilts"]] == [
        ("critical", "dibao", True)]
    assert body["limits"]["critical"]["cap"] is None
    assert body["limits"]["assistance"]["remaining"] == "30000.00"


def test_endpoint_accepts_a_15_digit_number(client, hospital_user, regions, policy):
    person = make_person(regions["a"], name="老证", id_number="522701700101003")  # converted to 18 digits
    make_enrollment(person, 2024)
    client.force_login(hospital_user)
    status, body = get_json(client, id_number="522701700101003", date="2024-06-01")
    assert status == 200 and body["insured"]


def test_endpoint_reflects_a_settled_claim(client, hospital_user, dibao_patient, county_hospital, clerk_a):
    settle_claim(claim=make_claim(dibao_patient, county_hospital), by=clerk_a)
    client.force_login(hospital_user)
    _status, body = get_json(client, id_number=dibao_patient.id_number, date="2024-06-01")
    assert body["limits"]["basic"]["remaining"] == "211375.00"
    assert body["limits"]["assistance"]["remaining"] == "23310.62"


def test_endpoint_without_login_is_401(client, dibao_patient):
    status, body = get_json(client, id_number=dibao_patient.id_number, date="2024-06-01")
    assert status == 401 and "error" in body and "insured" not in body


def test_endpoint_without_the_permission_is_403(client, clerk_a, dibao_patient):
    client.force_login(clerk_a)
    status, body = get_json(client, id_number=dibao_patient.id_number, date="2024-06-01")
    assert status == 403 and set(body) == {"error"}


def test_endpoint_without_a_hospital_link_is_403(client, dibao_patient):
    unlinked = make_user("unlinked", roles=(roles.HOSPITAL,))
    client.force_login(unlinked)
    status, body = get_json(client, id_number=dibao_patient.id_number, date="2024-06-01")
    assert status == 403 and set(body) == {"error"}


@pytest.mark.parametrize(("params", "field", "fragment"), [
    ({"id_number": "52270119600517001", "date": "2024-06-01"}, "id_number", "18 characters"),
    ({"id_number": WRONG_CHECK_DIGIT, "date": "2024-06-01"}, "id_number", "check digit"),
    ({"id_number": "5227011960051700AX", "date": "2024-06-01"}, "id_number", "17 digits"),
    ({"id_number": "", "date": "2024-06-01"}, "id_number", "id_number"),
    ({"id_number": "VALID", "date": "2024-13-01"}, "date", "real calendar date"),
    ({"id_number": "VALID", "date": "2024/06/01"}, "date", "YYYY-MM-DD"),
    ({"id_number": "VALID", "date": "20240601"}, "date", "YYYY-MM-DD"),
])
def test_endpoint_bad_input_is_400_with_a_precise_message(client, hospital_user, dibao_patient, params, field,
                                                          fragment):
    if params["id_number"] == "VALID":
        params = {**params, "id_number": dibao_patient.id_number}
    client.force_login(hospital_user)
    status, body = get_json(client, **params)
    assert status == 400
    assert body["field"] == field and fragment in body["error"]


def test_endpoint_unknown_person_is_404_and_says_nothing_else(client, hospital_user, dibao_patient):
    client.force_login(hospital_user)
    status, body = get_json(client, id_number=make_id_number("522701", date(1980, 2, 2), 7), date="2024-06-01")
    assert status == 404 and body["found"] is False and set(body) == {"found", "message"}


def test_endpoint_date_defaults_to_today(client, hospital_user, dibao_patient):
    client.force_login(hospital_user)
    status, body = get_json(client, id_number=dibao_patient.id_number)
    assert status == 200 and body["date"] == date.today().isoformat()


def test_endpoint_refuses_get_so_no_id_number_reaches_a_url(client, hospital_user, dibao_patient):
    client.force_login(hospital_user)
    response = client.get(API, {"id_number": dibao_patient.id_number, "date": "2024-06-01"})
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "insured" not in json.loads(response.content)


def test_endpoint_accepts_a_json_body(client, hospital_user, dibao_patient):
    client.force_login(hospital_user)
    response = client.post(API, {"id_number": dibao_patient.id_number, "date": "2024-06-01"},
                           content_type="application/json")
    assert response.status_code == 200 and response.json()["insured"] is True


def test_endpoint_needs_the_csrf_token(hospital_user, dibao_patient):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(hospital_user)
    assert client.post(API, {"id_number": dibao_patient.id_number}).status_code == 403
    client.get("/hospital/login/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(API, {"id_number": dibao_patient.id_number, "date": "2024-06-01"},
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_endpoint_query_count_is_constant(client, hospital_user, regions, policy, county_hospital, clerk_a,
                                          django_assert_max_num_queries, django_assert_num_queries):
    plain = make_patient(regions["a"], name="简单", codes=("dibao",), years=(2024,))
    busy = make_patient(regions["a"], name="复杂", codes=("dibao", "tekun", "unstable_lifted", "returned_poverty"),
                        years=(2023, 2024))
    make_assistance_rule(policy, "tekun", ratio="1.00", annual_limit="50000.00")
    for n in range(5):
        settle_claim(claim=make_claim(busy, county_hospital, number=f"BUSY-{n}", total_cost="1000.00",
                                      policy_scope_cost="900.00", admitted_on=date(2024, 2, 1 + n)), by=clerk_a)
    client.force_login(hospital_user)
    client.post(API, {"id_number": plain.id_number, "date": "2024-06-01"})  # warm the session and the caches

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for person in (plain, busy):
        with CaptureQueriesContext(connection) as queries:
            assert client.post(API, {"id_number": person.id_number, "date": "2024-06-01"}).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # The session (cached), user, permissions, hospital link and policy are not read again: one statement for the
    # person, the ledger row, the identities and the year's payments (claims.standing_sql), one for the record.
    assert counts[0] == 2, [q["sql"] for q in queries.captured_queries]
    with django_assert_max_num_queries(14):
        client.get(API, {"id_number": busy.id_number, "date": "2024-06-01"})


# --- The staff page -------------------------------------------------------------------------------------------

PAGE = "/admin/claims/claim/eligibility/"


def test_staff_page_shows_the_result_card(client, clerk_a, dibao_patient, county_hospital):
    client.force_login(clerk_a)
    response = client.post(PAGE, {"id_number": dibao_patient.id_number, "on_date": "2024-06-01",
                                  "hospital": county_hospital.pk})
    assert response.status_code == 200
    result = response.context["result"]
    record = EligibilityLookup.objects.get()  # staff look-ups are recorded too
    assert (record.user, record.hospital, record.id_number, record.outcome, record.region) == (
        clerk_a, county_hospital, dibao_patient.id_number, "insured", dibao_patient.region)
    assert result.insured and result.no_deposit
    page = response.content.decode()
    assert dibao_patient.masked_id_number in page
    assert page.count(dibao_patient.id_number) == 1  # only in the search box, as the clerk typed it
    assert "250000.00" in page and "低保对象" in page


def test_staff_page_finds_only_people_of_the_users_regions(client, clerk_b, dibao_patient):
    client.force_login(clerk_b)
    response = client.post(PAGE, {"id_number": dibao_patient.id_number, "on_date": "2024-06-01"})
    assert response.status_code == 200
    assert response.context["searched"] and response.context["result"] is None
    assert EligibilityLookup.objects.get().outcome == "not_found"


def test_staff_page_reports_an_invalid_id_on_the_form(client, clerk_a, policy):
    client.force_login(clerk_a)
    response = client.post(PAGE, {"id_number": WRONG_CHECK_DIGIT, "on_date": "2024-06-01"})
    assert "check digit" in " ".join(response.context["form"].errors["id_number"])


def test_staff_page_needs_view_person(client, hospital_user, regions):
    client.force_login(hospital_user)  # staff flag set by the test factory, but no view_person
    assert client.get(PAGE).status_code == 403


def test_claim_list_links_to_the_look_up(client, clerk_a, policy):
    client.force_login(clerk_a)
    assert PAGE in client.get(reverse("admin:claims_claim_changelist")).content.decode()
