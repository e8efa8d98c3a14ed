"""The ledger services that write subsidies and payments check the acting user's permission and region themselves
(issue 7 §3): called directly by an unprivileged user or a clerk of another county they refuse and write nothing."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from enrollment import roles
from enrollment.models import Enrollment
from enrollment.models.choices import FundingSource
from enrollment.models.ledger import CannotEnrolReason
from enrollment.services.ledger import (
    build_ledger,
    enrol_person,
    mark_cannot_enrol,
    mark_not_insured,
    record_payment,
)
from tests.factories import make_identity, make_person, make_policy, make_region_year, make_user

from .test_ledger_services import add_rule


@pytest.fixture
def world(regions):
    version = make_policy(regions["prefecture"], date(2019, 1, 1), full_subsidy_base="tier1")
    add_rule(version, "dibao", "percent", "90", funding_source=FundingSource.MEDICAL_ASSISTANCE)
    make_region_year(regions["prefecture"], 2024, tier1="400", tier2="595")
    person = make_person(regions["a"])
    make_identity(person, "dibao", date(2020, 1, 1))
    later = make_person(regions["a"])
    make_identity(later, "dibao", date(2020, 1, 1))
    a = (regions["a"],)
    clerk = make_user("clerk", roles=(roles.CLERK,), regions=a)
    row = enrol_person(person=person, plan_year=2024, by=clerk, on_date=date(2023, 10, 1))
    return {
        "person": person, "later": later, "row": row, "region": regions["a"], "clerk": clerk,
        "nobody": make_user("nobody", regions=a),
        "reviewer": make_user("reviewer", roles=(roles.REVIEWER,), regions=a),  # reads the ledger, writes nothing
        "clerk_b": make_user("clerk_b", roles=(roles.CLERK,), regions=(regions["b"],)),
    }


SERVICES = {
    "enrol_person": lambda w, by: enrol_person(person=w["later"], plan_year=2024, by=by, on_date=date(2023, 10, 1)),
    "record_payment": lambda w, by: record_payment(enrollment=w["row"], amount=Decimal("40.00"),
                                                   paid_on=date(2023, 11, 1), by=by),
    "mark_cannot_enrol": lambda w, by: mark_cannot_enrol(enrollment=w["row"], reason=CannotEnrolReason.values[0],
                                                         evidence="入伍通知书", by=by),
    "mark_not_insured": lambda w, by: mark_not_insured(enrollment=w["row"], by=by),
    "build_ledger": lambda w, by: build_ledger(region=w["region"], plan_year=2024, by=by, on_date=date(2023, 10, 1)),
}


def snapshot():
    return (list(Enrollment.objects.order_by("pk").values_list("pk", "status", "person_paid", "subsidy_amount")),
            Enrollment.history.count())


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["nobody", "reviewer", "clerk_b"])
@pytest.mark.parametrize("service", list(SERVICES))
def test_ledger_service_refuses_and_writes_nothing(world, who, service):
    before = snapshot()
    with pytest.raises(PermissionDenied):
        SERVICES[service](world, world[who])
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("service", list(SERVICES))
def test_the_county_clerk_may(world, service):
    before = snapshot()
    SERVICES[service](world, world["clerk"])
    assert snapshot() != before
