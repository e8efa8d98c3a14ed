"""The night computes each list once for its whole region and merges it per county; the dashboard's expensive
figures are stored when the night closes; assistance against the annual limits and the applications' deadlines
kept are on the dashboard, equal to what lies behind them."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assistance.models import Application
from claims.models import PaymentLine
from enrollment import roles
from monitoring.models import DashboardSnapshot, ListKind, NightCandidate, PartStatus, RunList, WarningItem
from monitoring.services import night
from tests.factories import make_household, make_identity, make_person, make_user

from .factories import monitored_policy, settled

D = Decimal
NIGHT = date(2024, 6, 28)


@pytest.fixture
def world(regions):
    cache.clear()
    policy = monitored_policy(regions["prefecture"])  # assistance rule: dibao, annual limit 30 000
    people = {}
    for county, name, assistance in (("a", "到限", "30000.00"), ("a", "近限", "24000.00"), ("b", "少", "1000.00")):
        person = make_person(regions[county], name=name)
        make_identity(person, "dibao", date(2020, 1, 1))
        settled(person, policy=policy, total="60000.00", scope="60000.00", basic="20000.00",
                assistance=assistance)
        people[name] = person
    lifted = make_person(regions["b"], name="脱贫户")
    make_identity(lifted, "unstable_lifted", date(2020, 1, 1))
    settled(lifted, policy=policy, total="12000.00", scope="12000.00")
    return {"policy": policy, "people": people, **regions}


def _tables_read(queries, table: str) -> int:
    return sum(1 for q in queries if q["sql"].lstrip().upper().startswith("SELECT") and f'"{table}"' in q["sql"])


@pytest.mark.django_db
def test_each_list_is_computed_once_for_the_prefecture_and_split_by_county(world):
    with CaptureQueriesContext(connection) as captured:
        run = night.run_night(region=world["prefecture"], day=NIGHT)
    # Two counties, yet the year's payment lines are read twice for the high-cost list (people, households) and
    # once for the dashboard's assistance against the limits — not once per county.
    assert _tables_read(captured.captured_queries, "claims_paymentline") == 3
    assert set(run.lists.values_list("kind", "status")) == {(kind, PartStatus.DONE) for kind in night.night_kinds()}
    high = run.lists.get(kind=ListKind.HIGH_COST)
    assert high.candidates == WarningItem.objects.filter(kind=ListKind.HIGH_COST).count() > 0
    parts = {p.region.code: p for p in run.parts.filter(kind=ListKind.HIGH_COST).select_related("region")}
    for code, part in parts.items():
        assert part.new_count == WarningItem.objects.filter(kind=ListKind.HIGH_COST, region__code=code).count()
    assert not NightCandidate.objects.exists()  # the staging rows go when the night closes


@pytest.mark.django_db
def test_a_list_task_redelivered_after_its_commit_stages_nothing_twice(world):
    run = night.start_night(region=world["prefecture"], day=NIGHT, kinds=[ListKind.HIGH_COST])
    run_list = run.lists.get()
    night.compute_list(list_id=run_list.pk)
    staged = NightCandidate.objects.filter(run=run).count()
    night.compute_list(list_id=run_list.pk)
    assert NightCandidate.objects.filter(run=run).count() == staged
    assert RunList.objects.get(pk=run_list.pk).attempts == 1
    for part in run.parts.all():
        night.compute_part(part_id=part.pk)
    run.refresh_from_db()
    assert run.status == "finished"
    assert WarningItem.objects.filter(kind=ListKind.HIGH_COST).count() == staged


@pytest.mark.django_db
def test_the_closing_night_stores_the_dashboard_figures_of_each_region(world):
    run = night.run_night(region=world["prefecture"], day=NIGHT)
    stored = dict(DashboardSnapshot.objects.filter(run=run).values_list("region__code", "figures"))
    assert set(stored) == {"522700", "522701", "522702"}
    assert stored["522700"]["limits"] == {"people": 3, "paid": "55000.00", "limit": "90000.00", "reached": 1,
                                          "near": 1, "without_limit": 0}
    assert stored["522701"]["limits"]["reached"] == 1 and stored["522702"]["limits"]["people"] == 1
    night.finish_run_if_complete(run_id=run.pk)  # a redelivered closing part: nothing doubles
    assert DashboardSnapshot.objects.filter(run=run).count() == 3


@pytest.mark.django_db
def test_dashboard_assistance_against_limits_equals_the_payment_lines(client, world, django_assert_max_num_queries):
    night.run_night(region=world["province"], day=NIGHT)
    user = make_user("pref", roles=(roles.CLERK,), regions=(world["prefecture"],))
    client.force_login(user)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("monitoring:dashboard"))
    board, context = response.context["board"], response.context
    paid = sum(PaymentLine.objects.filter(year=2024, layer="assistance").values_list("amount", flat=True))
    assert board.assistance["paid"] == paid == D("55000.00")
    assert (board.assistance["reached"], board.assistance["near"], board.assistance["people"]) == (1, 1, 3)
    listed = client.get(context["lines_url"])
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == PaymentLine.objects.filter(year=2024, layer="assistance").count()
    rows = {row["code"]: row for row in context["limit_rows"]}
    assert rows["522701"]["paid"] == D("54000.00") and rows["522701"]["reached"] == 1
    assert rows["522702"]["paid"] == D("1000.00") and rows["522702"]["percent"] == D("3.33")
    county = client.get(reverse("monitoring:dashboard") + rows["522701"]["url"]).context["board"]
    assert county.assistance["paid"] == D("54000.00")


@pytest.mark.django_db
def test_deadlines_kept_of_assistance_applications(client, world):
    household = make_household(world["a"])
    person = make_person(world["a"], household=household)
    clerk = make_user("clerk_a", roles=(roles.CLERK,), regions=(world["a"],))

    def application(number, *, due_on, paid_on=None):
        app = Application.objects.create(
            number=number, household=household, region=world["a"], applicant=person, applied_on=date(2024, 5, 2),
            policy=world["policy"], step_started_on=date(2024, 5, 2), step_working_days=10, due_on=due_on,
            registered_by=clerk)
        if paid_on:  # as the payment service leaves it: paid, the clock cleared, the deadline kept in the history
            Application.objects.filter(pk=app.pk).update(state="paid", paid_on=paid_on, due_on=None)
        return app

    application("YSQ-IN-TIME", due_on=date(2024, 5, 20), paid_on=date(2024, 5, 20))
    application("YSQ-LATE", due_on=date(2024, 5, 20), paid_on=date(2024, 5, 21))
    application("YSQ-OVERDUE", due_on=date(2024, 6, 27))
    application("YSQ-OPEN", due_on=date(2024, 7, 20))
    night.run_night(region=world["prefecture"], day=NIGHT)
    client.force_login(clerk)
    response = client.get(reverse("monitoring:dashboard"))
    row = next(r for r in response.context["board"].sla if r["label"] == "application")
    assert (row["paid"], row["paid_in_time"], row["percent"], row["open_overdue"]) == (2, 1, D("50.00"), 1)
    links = response.context["sla_links"]["application"]
    assert client.get(links["paid"]).context["cl"].result_count == row["paid"]
    overdue = client.get(links["open"])
    assert overdue.status_code == 200
