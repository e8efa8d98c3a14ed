"""Two applications of one household approved at the same moment never exceed the annual assistance limit.

PostgreSQL only, with real concurrent transactions (one connection per thread); skipped on a developer's SQLite,
failed in CI without PostgreSQL. The window between reading the year-to-date and writing the supplement is widened
on purpose, so that without the household's member locks both approvals would read the same empty year.
"""

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.models import Sum
from django.utils import timezone

from assistance.models import AssistanceSupplement
from assistance.services import applications as service
from assistance.services.applications import AssetItem, IncomeItem
from claims.models import PaymentLine
from claims.models.choices import Layer
from enrollment import roles
from tests.claims.factories import make_assistance_rule
from tests.conftest import require
from tests.factories import make_household, make_user, region_tree

from .factories import assistance_policy, member, settled_claim

pytestmark = pytest.mark.services
D = Decimal
LIMIT = D("5000.00")
TODAY = timezone.localdate()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_approvals_of_one_household_stay_within_the_annual_limit(monkeypatch):
    require(connection.vendor == "postgresql", "needs PostgreSQL")
    regions = region_tree()
    policy = assistance_policy(regions["prefecture"], effective_from=dt.date(TODAY.year - 1, 1, 1))
    make_assistance_rule(policy, "illness_poor", ratio="0.60", annual_limit=str(LIMIT))
    household = make_household(regions["a"])
    years = (TODAY.year - 1, TODAY.year)
    patient = member(household, regions["a"], codes=(), years=years)
    spouse = member(household, regions["a"], codes=(), years=years)
    # Two claims of the same year: under illness_poor each alone would get 8 025.00, more than the limit.
    day = TODAY - dt.timedelta(days=40)
    if (day + dt.timedelta(days=21)).year != day.year:  # keep both in one plan year
        day -= dt.timedelta(days=30)
    settled_claim(patient, admitted_on=day)
    settled_claim(patient, admitted_on=day + dt.timedelta(days=12))
    clerk = make_user(roles=(roles.CLERK,), regions=(regions["a"],))
    reviewer = make_user(roles=(roles.REVIEWER,), regions=(regions["a"],))
    approvers = [make_user(roles=(roles.APPROVER,), regions=(regions["a"],)) for _ in range(2)]
    applications = []
    for _ in range(2):
        application = service.register_application(
            by=clerk, household=household, applicant=spouse, patients=[patient], applied_on=TODAY,
            incomes=[IncomeItem(patient, D("0"), "证明"), IncomeItem(spouse, D("1000"), "证明")],
            assets=[AssetItem("deposits", D("0"), "银行流水")])
        service.initial_review(application=application, by=reviewer)
        applications.append(application.pk)

    original = service.year_to_date

    def slow_year_to_date(*args, **kwargs):
        ytd = original(*args, **kwargs)
        time.sleep(0.3)
        return ytd

    monkeypatch.setattr(service, "year_to_date", slow_year_to_date)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(application_id, approver):
        try:
            application = service.Application.objects.get(pk=application_id)
            barrier.wait(timeout=30)
            service.approve(application=application, by=approver)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    pairs = zip(applications, approvers, strict=True)
    threads = [threading.Thread(target=worker, args=(pk, user)) for pk, user in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    year_assistance = PaymentLine.objects.filter(person=patient, year=day.year, layer=Layer.ASSISTANCE).aggregate(
        s=Sum("amount"))["s"]
    assert year_assistance == LIMIT
    assert AssistanceSupplement.objects.aggregate(s=Sum("amount"))["s"] == LIMIT
    assert service.Application.objects.filter(pk__in=applications, state="approved").count() == 2
