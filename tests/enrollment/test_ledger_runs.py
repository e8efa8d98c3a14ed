"""The ledger's life: building a plan year's ledger (task, command, admin page), the follow-up of imports, ended
identities, the problems page with its counts, and 对账销号 only once resolved."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from enrollment import roles
from enrollment.models import Enrollment, Identity, LedgerProblem, LedgerRun, RegionYear
from enrollment.models.ledger import EnrollmentStatus, ProblemKind, ProblemStatus
from enrollment.models.ledger_runs import LedgerRunStatus
from enrollment.services.ledger import close_problem, enrol_person
from enrollment.services.ledger_runs import (
    execute_ledger_run,
    follow_up_import,
    mark_ended_identities,
    open_plan_years,
    start_ledger_build,
)
from tests.enrollment import test_ledger_services as ledger_tests
from tests.factories import make_identity, make_person, make_user

pytestmark = pytest.mark.django_db

_fast_password_hashing = ledger_tests._fast_password_hashing
_english_messages = ledger_tests._english_messages
clerk = ledger_tests.clerk
class2_county = ledger_tests.class2_county
policy = ledger_tests.policy


@pytest.fixture
def holders(regions, policy):
    """Identity holders in counties A and B; one person in A without an identity."""
    out = {}
    for key, region, code in (("a1", "a", "dibao"), ("a2", "a", "tekun"), ("b1", "b", "dibao_edge")):
        person = make_person(regions[region], name=f"持证{key}")
        make_identity(person, code, date(2021, 3, 1))
        out[key] = person
    out["plain"] = make_person(regions["a"], name="无身份")
    return out


@pytest.fixture
def clerk_a(regions):
    return make_user("run_clerk_a", roles=(roles.CLERK,), regions=(regions["a"],))


def test_a_build_runs_county_by_county_and_a_rerun_adds_nothing(regions, holders, clerk,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start_ledger_build(region=regions["prefecture"], plan_year=2022, by=clerk)
    run.refresh_from_db()
    assert run.status == LedgerRunStatus.DONE and run.progress_percent == 100
    assert run.done_steps == run.total_steps >= 2
    assert run.created_rows == 3
    assert set(Enrollment.objects.filter(plan_year=2022).values_list("person__name", flat=True)) == {
        "持证a1", "持证a2", "持证b1"}
    assert set(Enrollment.objects.values_list("status", flat=True)) == {EnrollmentStatus.SHOULD_ENROL}
    again = start_ledger_build(region=regions["prefecture"], plan_year=2022, by=clerk, dispatch=False)
    assert execute_ledger_run(again.pk).created_rows == 0
    assert execute_ledger_run(again.pk).status == LedgerRunStatus.DONE  # a redelivered task leaves it alone


def test_building_needs_the_permission_and_the_region(regions, holders, clerk_a):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        start_ledger_build(region=regions["b"], plan_year=2022, by=clerk_a)
    liaison = make_user("run_liaison", roles=(roles.LIAISON,), regions=(regions["a"],))
    with pytest.raises(PermissionDenied):
        start_ledger_build(region=regions["a"], plan_year=2022, by=liaison)


def test_the_command_builds_in_the_foreground(regions, holders, clerk):
    out = io.StringIO()
    call_command("build_ledger", "--region", regions["a"].code, "--year", "2022", "--user", clerk.username,
                 stdout=out)
    assert "2 ledger rows created" in out.getvalue()
    assert LedgerRun.objects.get().status == LedgerRunStatus.DONE
    with pytest.raises(CommandError, match="No region"):
        call_command("build_ledger", "--region", "999999", "--year", "2022", "--user", clerk.username)


def test_the_build_page_starts_a_run_and_shows_its_progress(client, regions, holders, clerk_a,
                                                            django_capture_on_commit_callbacks,
                                                            django_assert_max_num_queries):
    client.force_login(clerk_a)
    url = reverse("admin:enrollment_ledgerrun_build")
    with django_assert_max_num_queries(12):
        page = client.get(url).content.decode()
    assert f'value="{regions["a"].pk}"' in page and f'value="{regions["b"].pk}"' not in page  # own regions only
    assert client.post(url, {"region": regions["b"].pk, "plan_year": 2022}).status_code == 200  # refused choice
    assert not LedgerRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"region": regions["a"].pk, "plan_year": 2022})
    run = LedgerRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("admin:enrollment_ledgerrun_status",
                                                                   args=[run.pk])
    with django_assert_max_num_queries(12):
        status = client.get(response.url).content.decode()
    assert 'id="run-created">2<' in status and 'id="open-problems"' in status
    with django_assert_max_num_queries(14):
        assert client.get(reverse("admin:enrollment_ledgerrun_changelist")).status_code == 200
    other = make_user("run_clerk_b", roles=(roles.CLERK,), regions=(regions["b"],))
    client.force_login(other)
    assert client.get(response.url).status_code == 404


def test_an_import_is_followed_by_a_build_of_the_open_plan_years(regions, holders, clerk_a,
                                                                 django_capture_on_commit_callbacks):
    years = open_plan_years(date.today())
    for year in years:
        RegionYear.objects.update_or_create(region=regions["prefecture"], year=year,
                                            defaults={"contribution_tier1": 400})
    with django_capture_on_commit_callbacks(execute=True):
        runs = follow_up_import(kind="identities", user=clerk_a)
    assert [run.plan_year for run in runs] == years
    assert all(run.region == regions["a"] for run in runs)
    assert set(LedgerRun.objects.values_list("status", flat=True)) == {LedgerRunStatus.DONE}
    assert Enrollment.objects.filter(plan_year=years[0], person__name__in=["持证a1", "持证a2"]).count() == 2
    assert follow_up_import(kind="regions", user=clerk_a) == []


def test_a_build_without_policy_data_fails_with_its_reason_on_the_run(regions, holders, clerk):
    run = start_ledger_build(region=regions["a"], plan_year=date.today().year + 1, by=clerk, dispatch=False)
    RegionYear.objects.filter(year=run.plan_year).delete()
    run = execute_ledger_run(run.pk)
    assert run.status == LedgerRunStatus.FAILED and "contribution standard" in run.message


def test_ended_identities_are_listed_and_closed_off_only_once_corrected(regions, holders, clerk):
    row = enrol_person(person=holders["a1"], plan_year=2022, by=clerk, on_date=date(2021, 10, 1))
    assert row.subsidy_amount > 0
    Identity.objects.filter(person=holders["a1"]).update(valid_to=date(2021, 10, 10))
    assert mark_ended_identities(region=regions["prefecture"], plan_year=2022, by=clerk,
                                 on_date=date(2021, 11, 1)) == 1
    assert mark_ended_identities(region=regions["prefecture"], plan_year=2022, by=clerk,
                                 on_date=date(2021, 11, 1)) == 0  # not repeated while open
    problem = LedgerProblem.objects.select_related("person").get(kind=ProblemKind.IDENTITY_ENDED)
    with pytest.raises(Exception, match="correct the subsidy"):
        close_problem(problem=problem, by=clerk, note="已核实")
    Enrollment.objects.filter(pk=row.pk).update(subsidy_amount=0, subsidy_province=0, subsidy_prefecture=0,
                                                subsidy_county=0)
    assert close_problem(problem=problem, by=clerk, note="已取消资助").status == ProblemStatus.CLOSED


def test_the_problems_page_counts_per_kind_with_links(client, regions, holders, clerk, clerk_a,
                                                      django_assert_max_num_queries):
    call_command("build_ledger", "--region", regions["prefecture"].code, "--year", "2022", "--user",
                 clerk.username, stdout=io.StringIO())
    # The build found the three unpaid rows (two in county A, one in B) as not insured.
    assert LedgerProblem.objects.filter(kind=ProblemKind.NOT_INSURED).count() == 3
    client.force_login(clerk_a)
    with django_assert_max_num_queries(20):
        html = client.get(reverse("admin:enrollment_ledgerproblem_changelist") + "?plan_year=2022").content.decode()
    counts = html.split('id="problem-counts"')[1].split("</div>")[0]
    # Only county A's problems are counted for county A's clerk.
    assert ('class="problem-count-not_insured"><a href="?status__exact=open&amp;plan_year=2022&amp;'
            'kind__exact=not_insured">2</a>') in counts
