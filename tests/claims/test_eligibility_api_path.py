"""The JSON look-up's short request path (claims/api_path.py) and its prepared statements (claims/standing_sql.py).

The answers themselves, login, CSRF, the hospital link, the rate limit, POST only and the record are pinned by
test_eligibility.py and test_hospital_portal.py, which go through the same path; these tests pin what is
particular to it.
"""

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import Client
from django.urls import reverse

from claims.models import EligibilityLookup
from tests.enrollment._admin_world import _admin_over_plain_http  # noqa: F401 - autouse: plain-HTTP test client

from .test_eligibility import county_hospital, dibao_patient, hospital_user, policy  # noqa: F401 - fixtures

API = "/api/eligibility/"
BODY = {"date": "2024-06-01"}


def test_the_url_name_is_the_short_paths_path():
    assert reverse("api-eligibility") == API


def test_the_look_up_skips_the_middleware_it_does_not_need(client, hospital_user, dibao_patient):  # noqa: F811 - fixtures imported above
    client.force_login(hospital_user)
    response = client.post(API, {**BODY, "id_number": dibao_patient.id_number})
    assert response.status_code == 200 and response.json()["insured"] is True
    request = response.wsgi_request
    # MessageMiddleware and URL resolution did not run; the session and the user did.
    assert not hasattr(request, "_messages") and request.resolver_match is None
    assert request.session.session_key and request.user.pk == hospital_user.pk
    assert response["X-Frame-Options"] == "DENY" and "Cookie" in response["Vary"]
    # The rest of the site still has the full stack.
    page = client.get(reverse("hospital:eligibility"))
    assert hasattr(page.wsgi_request, "_messages") and page.wsgi_request.resolver_match is not None


def test_the_short_path_still_checks_the_csrf_token_of_a_logged_in_session(hospital_user, dibao_patient):  # noqa: F811 - fixtures imported above
    client = Client(enforce_csrf_checks=True)
    client.force_login(hospital_user)
    client.get(reverse("hospital:eligibility"))  # sets the CSRF cookie
    data = {**BODY, "id_number": dibao_patient.id_number}
    assert client.post(API, data, HTTP_X_CSRFTOKEN="x" * 32).status_code == 403
    assert client.post(API, data, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value).status_code == 200
    assert EligibilityLookup.objects.count() == 1  # the refused one was never looked up


def test_a_forged_session_cookie_is_not_a_login(client, hospital_user, dibao_patient):  # noqa: F811 - fixtures imported above
    client.cookies["sessionid"] = "x" * 32
    assert client.post(API, {**BODY, "id_number": dibao_patient.id_number}).status_code == 401


def test_control_characters_in_the_query_string_are_still_refused(client, hospital_user, dibao_patient):  # noqa: F811 - fixtures imported above
    client.force_login(hospital_user)
    response = client.post(API + "?x=%00", {**BODY, "id_number": dibao_patient.id_number})
    assert response.status_code == 400 and "error" in response.json()


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_the_two_statements_are_prepared_once_per_connection(client, hospital_user, dibao_patient, settings):  # noqa: F811 - fixtures imported above
    client.force_login(hospital_user)
    for _round in range(3):
        assert client.post(API, {**BODY, "id_number": dibao_patient.id_number}).status_code == 200
    statements = _prepared_statements()
    assert sum("FROM enrollment_person p" in text for text in statements) == 1
    assert sum(text.startswith("INSERT INTO claims_eligibilitylookup") for text in statements) == 1
    record = EligibilityLookup.objects.order_by("-id").first()
    assert (record.outcome, record.id_number, record.categories, record.no_deposit) == (
        "insured", dibao_patient.id_number, "dibao", True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_without_prepared_statements_the_answer_is_the_same(client, hospital_user, dibao_patient, settings):  # noqa: F811 - fixtures imported above
    client.force_login(hospital_user)
    data = {**BODY, "id_number": dibao_patient.id_number}
    settings.ELIGIBILITY_PREPARED_STATEMENTS = False
    before = sorted(_prepared_statements())  # what earlier tests prepared on this connection stays
    plain = client.post(API, data).json()
    assert sorted(_prepared_statements()) == before
    settings.ELIGIBILITY_PREPARED_STATEMENTS = True
    assert client.post(API, data).json() == plain
    assert len(_prepared_statements()) == len(before) + (0 if any("enrollment_person" in t for t in before) else 2)


def test_the_look_up_skips_the_per_request_health_check_but_pages_keep_it(client, hospital_user, dibao_patient,  # noqa: F811 - fixtures imported above
                                                                          monkeypatch):
    client.force_login(hospital_user)
    wrapper = connections[DEFAULT_DB_ALIAS]  # the wrapper itself, not the module-level proxy
    wrapper.ensure_connection()
    monkeypatch.setattr(wrapper, "health_check_enabled", True)
    checks = []
    monkeypatch.setattr(wrapper, "is_usable", lambda: checks.append("SELECT 1") or True)
    monkeypatch.setattr(wrapper, "health_check_done", False)  # as at the start of every request
    response = client.post(API, {**BODY, "id_number": dibao_patient.id_number})
    assert response.status_code == 200 and checks == []
    # The body goes with its length, not chunked.
    assert int(response["Content-Length"]) == len(response.content) > 0
    wrapper.health_check_done = False
    assert client.get(reverse("hospital:eligibility")).status_code == 200
    assert checks == ["SELECT 1"]


def test_the_short_path_checks_the_host_as_the_full_stack_does(client, hospital_user, dibao_patient):  # noqa: F811 - fixtures imported above
    client.force_login(hospital_user)
    response = client.post(API, {**BODY, "id_number": dibao_patient.id_number}, HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert not EligibilityLookup.objects.exists()
