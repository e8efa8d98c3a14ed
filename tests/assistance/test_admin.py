"""The assistance lists in the admin: region-scoped, read-only, query counts pinned."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from assistance.models import Application
from assistance.services import applications as application_services
from assistance.services import special_aid as case_services
from assistance.services.applications import IncomeItem, OutsideItem
from enrollment import roles
from tests.factories import make_household, make_identity, make_user

from .factories import assistance_policy, member

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def filled(regions):
    assistance_policy(regions["prefecture"], effective_from=dt.date(TODAY.year - 1, 1, 1))
    clerk = make_user("clerk", roles=(roles.CLERK,), regions=(regions["a"],))
    for index in range(6):
        household = make_household(regions["a"])
        person = member(household, regions["a"], codes=(), years=(TODAY.year,))
        make_identity(person, "stable_lifted", dt.date(TODAY.year - 1, 1, 1))
        application_services.register_application(
            by=clerk, household=household, applicant=person, patients=[person], applied_on=TODAY,
            incomes=[IncomeItem(person, Decimal(index), "证明")],
            outside_costs=[OutsideItem(person, TODAY, "发票", Decimal("100"), Decimal("10"))])
        case_services.open_case(by=clerk, person=person, opened_on=TODAY, opening_unit="某镇")
    return clerk


@pytest.mark.parametrize("name", ["application", "specialaidcase", "outsidecost", "assistancepolicy"])
def test_changelists_are_scoped_and_their_query_count_is_pinned(client, filled, regions, name,
                                                                django_assert_max_num_queries):
    client.force_login(filled)
    url = reverse(f"admin:assistance_{name}_changelist")
    with django_assert_max_num_queries(14):
        response = client.get(url)
    assert response.status_code == 200
    if name != "assistancepolicy":
        assert response.context["cl"].result_count == 6
        other = make_user("clerk_b", roles=(roles.CLERK,), regions=(regions["b"],))
        client.force_login(other)
        assert client.get(url).context["cl"].result_count == 0


def test_admin_history_of_an_application(client, filled):
    client.force_login(filled)
    application = Application.objects.first()
    response = client.get(reverse("admin:assistance_application_history", args=[application.pk]))
    assert response.status_code == 200
