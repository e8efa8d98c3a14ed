"""The enrolment admin: searches, filters, query counts, actions through the services, pages and users."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db import connection
from django.urls import reverse

from enrollment import roles
from enrollment.admin.base import EstimatedCountPaginator, person_search_q
from enrollment.models import Enrollment, Identity, ImportJob, LedgerProblem, Person, RegionMembership
from enrollment.models.ledger import EnrollmentStatus, ProblemStatus
from enrollment.services import policy as policy_services
from tests.factories import (
    make_household,
    make_identity,
    make_person,
    make_policy,
    make_region_year,
    make_user,
    new_id_number,
)

from . import _admin_world
from ._admin_world import ADMIN, make_enrollment, management_data

# Fixtures shared by the admin tests (the HTTP settings one is autouse).
_admin_over_plain_http = _admin_world._admin_over_plain_http
world = _admin_world.world


def _results(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:300]
    return list(response.context["cl"].result_list)


# --- Search -------------------------------------------------------------------------------------------------------

@pytest.fixture
def people(regions):
    a = regions["a"]
    return {
        "zhang": make_person(a, name="张三丰"),
        "zhang2": make_person(a, name="张三"),
        "li": make_person(a, name="李张三"),
        "old": make_person(a, name="王五", id_number="522701580101123"),  # stored converted to 18 digits
        "x": make_person(a, name="赵六", id_number="11010519491231002X"),
    }


def test_search_by_exact_id_number(client, clerk_a, people):
    client.force_login(clerk_a)
    zhang = people["zhang"]
    assert _results(client, f"{ADMIN}/person/", q=zhang.id_number) == [zhang]
    assert _results(client, f"{ADMIN}/person/", q=f" {zhang.id_number} ") == [zhang]
    # A prefix of a number is not an ID search and matches no name either: no scan for partial numbers.
    assert _results(client, f"{ADMIN}/person/", q=zhang.id_number[:10]) == []


def test_search_by_old_15_digit_number_and_lower_case_x(client, clerk_a, people):
    client.force_login(clerk_a)
    assert people["old"].id_number != "522701580101123"
    assert _results(client, f"{ADMIN}/person/", q="522701580101123") == [people["old"]]
    assert _results(client, f"{ADMIN}/person/", q="11010519491231002x") == [people["x"]]


def test_search_by_name_prefix_only(client, clerk_a, people):
    client.force_login(clerk_a)
    assert set(_results(client, f"{ADMIN}/person/", q="张三")) == {people["zhang"], people["zhang2"]}
    assert _results(client, f"{ADMIN}/person/", q="三丰") == []  # not a substring search


def test_search_sql_uses_prefix_and_exact_lookups():
    name_sql = str(Person.objects.filter(person_search_q("张三")).query)
    assert "LIKE 张三%" in name_sql.replace("'", "") or "LIKE 张三% ESCAPE" in name_sql.replace("'", "")
    assert "%张三" not in name_sql
    id_sql = str(Person.objects.filter(person_search_q("11010519491231002x")).query)
    assert "LIKE" not in id_sql and "11010519491231002X" in id_sql


@pytest.mark.parametrize("model_name", ["identity", "enrollment", "ledgerproblem"])
def test_search_through_the_person(client, clerk_a, regions, model_name):
    target = make_person(regions["a"], name="钱七")
    other = make_person(regions["a"], name="孙八")
    for person in (target, other):
        make_identity(person, "dibao", date(2023, 1, 1))
        make_enrollment(person)
        LedgerProblem.objects.create(person=person, plan_year=2024, region=person.region, kind="other",
                                     description="x")
    client.force_login(clerk_a)
    for term in (target.id_number, "钱"):
        rows = _results(client, f"{ADMIN}/{model_name}/", q=term)
        assert [row.person_id for row in rows] == [target.pk]


def test_household_search_by_number_prefix_or_member_id(client, clerk_a, regions):
    household = make_household(regions["a"], number="H52270100123")
    make_household(regions["a"], number="H52270200999")
    member = make_person(regions["a"], household=household)
    client.force_login(clerk_a)
    assert _results(client, f"{ADMIN}/household/", q="H5227010") == [household]
    assert _results(client, f"{ADMIN}/household/", q=member.id_number) == [household]


# --- Filters ------------------------------------------------------------------------------------------------------

def test_identity_filters_use_exists_and_never_repeat_a_person(client, clerk_a, regions):
    from enrollment.models import IdentityCategory

    dibao = IdentityCategory.objects.get(code="dibao")
    now = make_person(regions["a"], name="现低保")
    past = make_person(regions["a"], name="曾低保")
    make_person(regions["a"], name="无身份")
    make_identity(now, "dibao", date(2020, 1, 1), date(2020, 12, 31))
    make_identity(now, "dibao", date(2021, 1, 1))  # twice the same category: a join would list `now` twice
    make_identity(past, "dibao", date(2019, 1, 1), date(2019, 12, 31))
    client.force_login(clerk_a)
    assert _results(client, f"{ADMIN}/person/", identity_now=dibao.pk) == [now]
    assert sorted(p.pk for p in _results(client, f"{ADMIN}/person/", identity_ever=dibao.pk)) == [now.pk, past.pk]


def test_ledger_filters_on_people(client, clerk_a, regions):
    insured_2024 = make_person(regions["a"], name="二四已保")
    should_2024 = make_person(regions["a"], name="二四应保")
    make_enrollment(insured_2024, 2024, status=EnrollmentStatus.INSURED)
    make_enrollment(insured_2024, 2025, status=EnrollmentStatus.SHOULD_ENROL)
    make_enrollment(should_2024, 2024, status=EnrollmentStatus.SHOULD_ENROL)
    client.force_login(clerk_a)
    assert {p.pk for p in _results(client, f"{ADMIN}/person/", plan_year=2024)} == {insured_2024.pk, should_2024.pk}
    assert _results(client, f"{ADMIN}/person/", plan_year=2025) == [insured_2024]
    # Status and year together mean the same ledger row: insured_2024 is 应参保 only in 2025.
    assert _results(client, f"{ADMIN}/person/", plan_year=2024, ledger_status="should") == [should_2024]
    assert _results(client, f"{ADMIN}/person/", ledger_status="should", plan_year=2025) == [insured_2024]


def test_identity_valid_today_filter(client, clerk_a, regions):
    person = make_person(regions["a"])
    current = make_identity(person, "dibao", date(2020, 1, 1))
    ended = make_identity(person, "tekun", date(2019, 1, 1), date(2019, 12, 31))
    client.force_login(clerk_a)
    assert _results(client, f"{ADMIN}/identity/", valid_today="yes") == [current]
    assert _results(client, f"{ADMIN}/identity/", valid_today="no") == [ended]


def test_enrollment_filters(client, clerk_a, regions):
    person = make_person(regions["a"])
    old = make_enrollment(person, 2023, status=EnrollmentStatus.INSURED)
    new = make_enrollment(person, 2024, status=EnrollmentStatus.NOT_INSURED, scheme="resident_tier2")
    client.force_login(clerk_a)
    assert _results(client, f"{ADMIN}/enrollment/", plan_year=2023) == [old]
    assert _results(client, f"{ADMIN}/enrollment/", status__exact="not_insured") == [new]
    assert _results(client, f"{ADMIN}/enrollment/", scheme__exact="resident_tier2") == [new]
    assert _results(client, f"{ADMIN}/enrollment/", region=regions["a"].pk, plan_year=2024) == [new]


# --- Query counts: constant in the number of rows -----------------------------------------------------------------

def _populate(region, count):
    for i in range(count):
        household = make_household(region)
        person = make_person(region, name=f"人{i:03d}", household=household)
        identity = make_identity(person, "dibao", date(2023, 1, 1))
        make_identity(person, "tekun", date(2022, 1, 1), date(2022, 12, 31))
        make_enrollment(person, subsidy_category=identity.category)
        LedgerProblem.objects.create(person=person, plan_year=2024, region=region, kind="other", description="d")


# Measured with 30 and with 60 rows (SQLite and PostgreSQL alike): the counts do not grow with the rows. Each pin
# is the measurement plus 2, so one query per row (an N+1) fails at once.
CHANGELIST_QUERIES = {
    "person": 12, "household": 9, "identity": 10, "enrollment": 11, "ledgerproblem": 10,
}


@pytest.mark.parametrize(("model_name", "measured"), CHANGELIST_QUERIES.items())
def test_changelist_query_count(client, clerk_a, regions, django_assert_max_num_queries, model_name, measured):
    _populate(regions["a"], 35)
    client.force_login(clerk_a)
    client.get(f"{ADMIN}/{model_name}/")  # session and per-process caches warm
    from tests.conftest import budgeted_count_extra

    with django_assert_max_num_queries(measured + 2 + budgeted_count_extra()):
        response = client.get(f"{ADMIN}/{model_name}/")
    assert len(response.context["cl"].result_list) == (70 if model_name == "identity" else 35)


@pytest.mark.parametrize("model_name", ["region", "regionyear", "policyversion", "identitycategory", "importjob"])
def test_reference_changelists_query_count(client, head_a, regions, django_assert_max_num_queries, model_name):
    for year in range(2000, 2035):
        make_region_year(regions["a"], year, tier1="380")
        make_policy(regions["a"], date(year, 1, 1), date(year, 12, 31))
        ImportJob.objects.create(kind="roster", original_name=f"{year}.xlsx", created_by=head_a, file="x.xlsx")
    client.force_login(head_a)
    client.get(f"{ADMIN}/{model_name}/")
    with django_assert_max_num_queries(13):  # measured 8–11
        assert client.get(f"{ADMIN}/{model_name}/").status_code == 200


def test_person_change_page_query_count(client, clerk_a, regions, django_assert_max_num_queries):
    person = make_person(regions["a"], household=make_household(regions["a"]))
    for year in range(2015, 2025):
        make_identity(person, "dibao" if year % 2 else "tekun", date(year, 1, 1), date(year, 12, 31))
        make_enrollment(person, year)
    client.force_login(clerk_a)
    url = f"{ADMIN}/person/{person.pk}/change/"
    client.get(url)
    with django_assert_max_num_queries(17):  # measured 15 with 10 identities and 10 ledger rows, and with 1 of each
        response = client.get(url)
    assert len(response.context["inline_admin_formsets"][0].formset.forms) == 10


# --- Counting ------------------------------------------------------------------------------------------------------

def test_list_counts_are_exact_or_clearly_bounded(client, regions, monkeypatch, django_assert_max_num_queries):
    for i in range(5):
        make_person(regions["a"], name=f"计{i}")
    make_person(regions["b"], name="计外")
    filtered = Person.objects.filter(region=regions["a"])

    paginator = EstimatedCountPaginator(filtered, 10)
    assert paginator.count == 5 and not paginator.is_bounded and paginator.shown_count == "5"

    # The exact count ran out of its budget (as on a province's million rows): a bounded figure, never a guess.
    from enrollment import counting
    monkeypatch.setattr(counting, "exact_count_within", lambda queryset, budget_ms: None)
    monkeypatch.setattr(EstimatedCountPaginator, "cap", 3)
    paginator = EstimatedCountPaginator(filtered, 10)
    assert paginator.count == 4 and paginator.is_bounded and paginator.shown_count == "over 3"
    paginator = EstimatedCountPaginator(Person.objects.filter(name="计外"), 10)
    assert paginator.count == 1 and not paginator.is_bounded  # few rows: the bounded count is exact

    client.force_login(User.objects.create_superuser("root", password="x", email=""))
    with django_assert_max_num_queries(12):
        response = client.get(f"{ADMIN}/person/")
    assert response.context["cl"].paginator.is_bounded
    assert "over 3" in response.content.decode()
    assert "about" not in response.content.decode()


def test_an_exact_count_gives_up_after_its_budget_on_postgresql(regions):
    from enrollment.counting import exact_count_within
    from tests.conftest import require

    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL) for the statement timeout")
    make_person(regions["a"], name="计")
    assert exact_count_within(Person.objects.all(), 1000) == 1
    slow = Person.objects.extra(where=["(SELECT 1 FROM pg_sleep(0.2)) = 1"])
    assert exact_count_within(slow, 20) is None
    with connection.cursor() as cursor:  # the savepoint's rollback restored the timeout; the connection works
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
    assert Person.objects.count() == 1


# --- Ledger actions through the services ---------------------------------------------------------------------------

def test_close_off_action_calls_the_service(client, clerk_a, world):
    problem, other = world["a"].problem, world["b"].problem
    client.force_login(clerk_a)
    selected = {"action": "close_off", "_selected_action": [problem.pk, other.pk]}
    response = client.post(f"{ADMIN}/ledgerproblem/", selected)
    assert response.status_code == 200  # the page asking how it was resolved
    assert "note" in response.context["form"].fields
    problem.refresh_from_db()
    assert problem.status == ProblemStatus.OPEN

    # 对账销号 only once the ledger shows it resolved; the refusal names the person.
    response = client.post(f"{ADMIN}/ledgerproblem/", {**selected, "apply": "1", "note": "已补录参保"}, follow=True)
    problem.refresh_from_db()
    assert problem.status == ProblemStatus.OPEN
    assert f"{problem.person.name} is still not insured" in response.content.decode()
    Enrollment.objects.filter(person=problem.person, plan_year=problem.plan_year).update(
        status=EnrollmentStatus.INSURED)
    response = client.post(f"{ADMIN}/ledgerproblem/", {**selected, "apply": "1", "note": "已补录参保"})
    assert response.status_code == 302
    problem.refresh_from_db()
    other.refresh_from_db()
    assert (problem.status, problem.closed_by, problem.closing_note) == (ProblemStatus.CLOSED, clerk_a, "已补录参保")
    assert problem.history.latest().history_user == clerk_a
    assert other.status == ProblemStatus.OPEN  # county B's problem was not among the rows the action got


def test_close_off_action_requires_a_note(client, clerk_a, world):
    client.force_login(clerk_a)
    response = client.post(f"{ADMIN}/ledgerproblem/", {
        "action": "close_off", "_selected_action": [world["a"].problem.pk], "apply": "1", "note": ""})
    assert response.status_code == 200 and response.context["form"].errors
    world["a"].problem.refresh_from_db()
    assert world["a"].problem.status == ProblemStatus.OPEN


def test_ledger_status_actions(client, clerk_a, world):
    row = world["a"].enrollment
    client.force_login(clerk_a)
    client.post(f"{ADMIN}/enrollment/", {"action": "mark_not_insured", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == EnrollmentStatus.NOT_INSURED

    client.post(f"{ADMIN}/enrollment/", {"action": "mark_cannot_enrol", "_selected_action": [row.pk], "apply": "1",
                                         "reason": "military", "evidence": "入伍通知书"})
    row.refresh_from_db()
    assert (row.status, row.cannot_reason, row.cannot_evidence) == ("cannot", "military", "入伍通知书")


def test_ledger_row_fields_are_read_only_but_the_note(client, clerk_a, world):
    row = world["a"].enrollment
    client.force_login(clerk_a)
    response = client.get(f"{ADMIN}/enrollment/{row.pk}/change/")
    assert list(response.context["adminform"].form.fields) == ["note"]
    response = client.post(f"{ADMIN}/enrollment/{row.pk}/change/", {"note": "电话已通知", "status": "insured",
                                                                      "subsidy_amount": "380"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.note, row.status, row.subsidy_amount) == ("电话已通知", "should", Decimal("0.00"))


def test_registering_a_person_runs_the_enrolment_service(client, clerk_a, regions):
    person = make_person(regions["a"])
    client.force_login(clerk_a)
    page = client.get(f"{ADMIN}/enrollment/add/")
    data = {**management_data(page), "person": person.pk, "plan_year": "2025", "scheme": "resident_tier1"}

    response = client.post(f"{ADMIN}/enrollment/add/", data)
    assert response.status_code == 200  # no policy version covers 2025 yet: the service's message, nothing saved
    assert any("2025" in error for error in response.context["adminform"].form.non_field_errors())
    assert not Enrollment.objects.exists()

    make_policy(regions["province"], date(2025, 1, 1), date(2025, 12, 31))
    make_region_year(regions["province"], 2025, tier1="400.00")
    response = client.post(f"{ADMIN}/enrollment/add/", data)
    assert response.status_code == 302
    row = Enrollment.objects.get()
    assert (row.person, row.region, row.plan_year, row.contribution_due) == (
        person, regions["a"], 2025, Decimal("400.00"))
    assert row.history.latest().history_user == clerk_a


# --- Pages ---------------------------------------------------------------------------------------------------------

def test_coverage_rate_page(client, clerk_a, province_user, regions):
    statuses = {"a": ["insured", "insured", "insured", "not_insured", "cannot"], "b": ["insured", "should"]}
    for key, values in statuses.items():
        for status in values:
            person = make_person(regions[key])
            make_enrollment(person, 2024, status=status, cannot_reason="deceased" if status == "cannot" else "")
    client.force_login(clerk_a)
    url = reverse("admin:enrollment_enrollment_coverage")
    response = client.get(url, {"plan_year": 2024})
    assert response.status_code == 200
    rows = {row.code: row for row in response.context["rows"]}
    assert list(rows) == ["522701"]  # only the clerk's county
    assert (rows["522701"].should_count, rows["522701"].insured_count) == (4, 3)
    assert rows["522701"].coverage_percent == Decimal("75.00") and not rows["522701"].meets_target

    client.force_login(province_user)
    rows = {row.code: row for row in client.get(url, {"plan_year": 2024}).context["rows"]}
    assert (rows["520000"].should_count, rows["520000"].insured_count) == (6, 4)
    assert rows["522702"].coverage_percent == Decimal("50.00")
    assert "75.00 %" in client.get(url, {"plan_year": 2024}).content.decode()
    assert url in client.get(f"{ADMIN}/enrollment/").content.decode()


@pytest.mark.parametrize(("model_name", "kind"), [
    ("person", "roster"), ("identity", "identities"), ("enrollment", "enrollments")])
def test_import_buttons(client, clerk_a, regions, model_name, kind):
    client.force_login(clerk_a)
    html = client.get(f"{ADMIN}/{model_name}/").content.decode()
    assert f'href="{reverse("enrollment:import-start")}?kind={kind}"' in html


def test_region_import_button_only_for_who_may_add_regions(client, clerk_a, regions):
    url = f'href="{reverse("enrollment:import-start")}?kind=regions"'
    client.force_login(clerk_a)
    assert url not in client.get(f"{ADMIN}/region/").content.decode()
    client.force_login(make_user("province_head", roles=(roles.HEAD,), regions=(regions["province"],)))
    assert url in client.get(f"{ADMIN}/region/").content.decode()


def test_import_jobs_are_read_only_and_scoped(client, clerk_a, clerk_b, province_user, regions):
    mine = ImportJob.objects.create(kind="roster", original_name="a.xlsx", created_by=clerk_a, file="a.xlsx")
    colleague = make_user("clerk_a2", roles=(roles.CLERK,), regions=(regions["a"],))
    colleagues = ImportJob.objects.create(kind="roster", original_name="a2.xlsx", created_by=colleague, file="a.xlsx")
    theirs = ImportJob.objects.create(kind="roster", original_name="b.xlsx", created_by=clerk_b, file="b.xlsx")
    client.force_login(clerk_a)
    response = client.get(f"{ADMIN}/importjob/")
    assert {job.pk for job in response.context["cl"].result_list} == {mine.pk, colleagues.pk}
    assert reverse("enrollment:import-result", args=[mine.pk]) in response.content.decode()
    assert client.get(f"{ADMIN}/importjob/{theirs.pk}/change/").status_code == 404
    assert client.get(f"{ADMIN}/importjob/add/").status_code == 403
    client.force_login(province_user)
    assert len(_results(client, f"{ADMIN}/importjob/")) == 3


def test_person_change_page_shows_household_identities_ledger_and_history(client, clerk_a, regions):
    household = make_household(regions["a"], number="H-LINK-1")
    person = make_person(regions["a"], household=household)
    late = make_identity(person, "dibao", date(2022, 1, 1))
    early = make_identity(person, "tekun", date(2018, 1, 1), date(2021, 12, 31))
    make_enrollment(person, 2024)
    client.force_login(clerk_a)
    response = client.get(f"{ADMIN}/person/{person.pk}/change/")
    html = response.content.decode()
    assert reverse("admin:enrollment_household_change", args=[household.pk]) in html
    identity_formset, ledger_formset = (inline.formset for inline in response.context["inline_admin_formsets"])
    assert [form.instance for form in identity_formset.forms] == [early, late]  # ordered by valid_from
    assert [form.instance.plan_year for form in ledger_formset.forms] == [2024]
    assert reverse("admin:enrollment_person_history", args=[person.pk]) in html


def test_policy_version_page_with_rules_and_edit_guard(client, head_a, regions):
    policy = make_policy(regions["a"], date(2024, 1, 1), code="dy-2024")
    client.force_login(head_a)
    response = client.get(f"{ADMIN}/policyversion/{policy.pk}/change/")
    assert response.status_code == 200
    prefixes = [inline.formset.prefix for inline in response.context["inline_admin_formsets"]]
    assert prefixes[:2] == ["subsidy_rules", "cost_share_rules"]  # the claims app adds its benefit rules after
    assert "green_channel_categories" in response.context["adminform"].form.fields
    assert response.context["has_change_permission"]

    def refuse(version):
        raise policy_services.PolicyNotEditable("claims were settled under this version")

    policy_services.register_edit_guard(refuse)
    try:
        response = client.get(f"{ADMIN}/policyversion/{policy.pk}/change/")
        assert not response.context["has_change_permission"]
        assert client.post(f"{ADMIN}/policyversion/{policy.pk}/change/", {"name": "x"}).status_code == 403
    finally:
        policy_services.unregister_edit_guard(refuse)


def test_region_tree_list(client, head_a, regions):
    client.force_login(head_a)
    rows = _results(client, f"{ADMIN}/region/")
    assert [r.code for r in rows] == ["520000", "522700", "522701"]  # the clerk's county and what is above it
    assert _results(client, f"{ADMIN}/region/", q="5227") == [regions["prefecture"], regions["a"]]


def test_site_header(client, clerk_a, settings):
    assert admin.site.site_header == settings.ADMIN_SITE_HEADER
    client.force_login(clerk_a)
    assert str(settings.ADMIN_SITE_HEADER) in client.get("/admin/").content.decode()


# --- Users -------------------------------------------------------------------------------------------------------

def test_only_administrators_manage_users(client, clerk_a, head_a, regions):
    for user in (clerk_a, head_a):
        client.force_login(user)
        assert client.get("/admin/auth/user/").status_code == 403
    client.force_login(make_user("sysadmin", roles=(roles.ADMIN,), regions=(regions["province"],)))
    assert client.get("/admin/auth/user/").status_code == 200


def test_administrator_sets_roles_and_regions(client, regions):
    sysadmin = make_user("sysadmin", roles=(roles.ADMIN,), regions=(regions["prefecture"],))
    client.force_login(sysadmin)
    response = client.post("/admin/auth/user/add/", {
        "username": "new_clerk", "password1": "A-long-Secret-987", "password2": "A-long-Secret-987",
        "usable_password": "true", "region_memberships-TOTAL_FORMS": "0", "region_memberships-INITIAL_FORMS": "0"})
    # An account without a region would fall out of the administrator's reach: refused.
    assert response.status_code == 200
    assert not User.objects.filter(username="new_clerk").exists()
    response = client.post("/admin/auth/user/add/", {
        "username": "new_clerk", "password1": "A-long-Secret-987", "password2": "A-long-Secret-987",
        "usable_password": "true", "region_memberships-TOTAL_FORMS": "1", "region_memberships-INITIAL_FORMS": "0",
        "region_memberships-0-region": regions["b"].pk})
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(username="new_clerk")
    page = client.get(f"/admin/auth/user/{user.pk}/change/")
    form = page.context["adminform"].form
    assert "is_superuser" not in form.fields  # an administrator cannot make superusers
    assert "user_permissions" not in form.fields  # roles are the only way to grant permissions
    region_field = page.context["inline_admin_formsets"][0].formset.form.base_fields["region"]
    assert {r.code for r in region_field.queryset} == {"522700", "522701", "522702"}
    clerk_group = Group.objects.get(name=roles.CLERK)
    data = {"username": "new_clerk", "is_active": "on", "is_staff": "on", "groups": [clerk_group.pk],
            "last_name": "", "first_name": "", "email": "", **management_data(page),
            "region_memberships-TOTAL_FORMS": "1", "region_memberships-0-region": regions["a"].pk,
            "region_memberships-0-id": RegionMembership.objects.get(user=user).pk, "region_memberships-0-user": user.pk}
    response = client.post(f"/admin/auth/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(user.groups.all()) == [clerk_group]
    assert [m.region for m in RegionMembership.objects.filter(user=user)] == [regions["a"]]
    # A region outside the administrator's own is refused.
    data["region_memberships-0-region"] = regions["province"].pk
    data["region_memberships-INITIAL_FORMS"] = "1"
    data["region_memberships-0-id"] = RegionMembership.objects.get(user=user).pk
    data["region_memberships-0-user"] = user.pk
    response = client.post(f"/admin/auth/user/{user.pk}/change/", data)
    assert response.status_code == 200
    assert [m.region for m in RegionMembership.objects.filter(user=user)] == [regions["a"]]


def test_identity_save_checks_the_persons_region_not_only_the_choices(world, clerk_a):
    """An identity reaches its region through its person; a form with unlimited choices still cannot save one for
    a person of county B."""
    from django import forms

    from enrollment.admin.base import scoped_form_class

    class PlainIdentityForm(forms.ModelForm):
        class Meta:
            model = Identity
            fields = ("person", "category", "valid_from", "certified_by")

    data = {"category": world["b"].identity.category_id, "valid_from": "2024-02-01", "certified_by": "civil_affairs"}
    form = scoped_form_class(PlainIdentityForm, clerk_a)(data={**data, "person": world["b"].person.pk})
    assert not form.is_valid()
    assert [e.code for e in form.non_field_errors().as_data()] == ["region_out_of_scope"]
    assert scoped_form_class(PlainIdentityForm, clerk_a)(data={**data, "person": world["a"].person.pk}).is_valid()


def test_adding_a_person_with_identities_on_the_same_page(client, clerk_a, regions):
    """The inline identities reach their region through the person being added: the save check must see it."""
    from enrollment.models import IdentityCategory

    dibao = IdentityCategory.objects.get(code="dibao")
    client.force_login(clerk_a)
    page = client.get(f"{ADMIN}/person/add/")
    number = new_id_number("522701")
    data = {**management_data(page), "id_number": number.lower(), "name": "新增人", "region": regions["a"].pk,
            "identities-TOTAL_FORMS": "1", "identities-0-category": dibao.pk,
            "identities-0-valid_from": "2024-03-01", "identities-0-certified_by": dibao.certified_by}
    response = client.post(f"{ADMIN}/person/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    person = Person.objects.get(id_number=number)
    assert [identity.category for identity in person.identities.all()] == [dibao]
    assert person.history.latest().history_user == clerk_a


def test_an_invalid_id_number_is_refused_with_the_reason(client, clerk_a, regions):
    client.force_login(clerk_a)
    page = client.get(f"{ADMIN}/person/add/")
    number = new_id_number("522701")
    wrong_check_digit = number[:-1] + ("0" if number[-1] != "0" else "1")
    response = client.post(f"{ADMIN}/person/add/", {**management_data(page), "id_number": wrong_check_digit,
                                                     "name": "错号", "region": regions["a"].pk})
    assert response.status_code == 200
    assert [e.code for e in response.context["adminform"].form.errors.as_data()["id_number"]] == ["id_check_digit"]
    assert not Person.objects.filter(name="错号").exists()
