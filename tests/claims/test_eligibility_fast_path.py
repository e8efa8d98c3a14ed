"""The hospital look-up's one-statement path (claims.standing_sql) answers exactly as the ORM path does."""

from __future__ import annotations

from datetime import date

import pytest

from claims.eligibility import eligibility
from claims.services import settle_claim
from enrollment.models import Person
from enrollment.models.ledger import EnrollmentStatus
from tests.factories import make_identity, make_person

from .factories import make_assistance_rule, make_claim, make_enrollment, make_hospital, spec_example_policy

DATES = [date(2023, 12, 31), date(2024, 1, 1), date(2024, 3, 15), date(2024, 6, 30), date(2024, 7, 1),
         date(2024, 12, 31), date(2025, 2, 1)]


@pytest.fixture
def people(regions, clerk_a):
    policy = spec_example_policy(regions["prefecture"], date(2024, 1, 1))
    make_assistance_rule(policy, "tekun", ratio="1.00", annual_limit="50000.00")
    hospital = make_hospital(regions["a"])
    plain = make_person(regions["a"], name="无身份")
    make_enrollment(plain, 2024)
    many = make_person(regions["a"], name="多身份")
    make_identity(many, "tekun", date(2020, 1, 1), date(2024, 3, 31))
    make_identity(many, "dibao", date(2024, 3, 1))
    make_identity(many, "unstable_lifted", date(2024, 7, 1), date(2024, 12, 31))
    make_enrollment(many, 2024, coverage_start=date(2024, 3, 1), coverage_end=date(2024, 11, 30))
    make_enrollment(many, 2025)
    lapsed = make_person(regions["b"], name="未参保")
    make_identity(lapsed, "dibao", date(2021, 1, 1))
    make_enrollment(lapsed, 2024, status=EnrollmentStatus.NOT_INSURED)
    paid = make_person(regions["a"], name="已报销")
    make_identity(paid, "dibao", date(2020, 1, 1))
    make_enrollment(paid, 2024)
    for n, day in enumerate((date(2024, 2, 1), date(2024, 5, 1))):
        settle_claim(claim=make_claim(paid, hospital, number=f"FAST-{n}", admitted_on=day,
                                     total_cost="8000.00", policy_scope_cost="7000.00"), by=clerk_a)
    return [plain, many, lapsed, paid]


def _view(result):
    if result is None:
        return None
    return (result.person.pk, result.person.id_number, result.enrollment.pk if result.enrollment else None,
            [c.code for c in result.categories], result.policy.pk if result.policy else None,
            [c.code for c in result.no_deposit_categories], result.basic, result.critical, result.assistance,
            getattr(result.critical_cap_removed_by, "code", None), getattr(result.assistance_category, "code", None),
            [(t.layer, t.category_id) for t in result.tilts], result.layers, result.insured)


def test_the_fast_path_equals_the_orm_path(people, django_assert_num_queries):
    for person in people:
        for day in DATES:
            orm = eligibility(id_number=person.id_number, on_date=day, people=Person.objects.all())
            fast = eligibility(id_number=person.id_number, on_date=day)
            assert _view(fast) == _view(orm), (person.name, day)
    unknown = make_person(people[0].region, name="删除").id_number
    Person.objects.filter(id_number=unknown).delete()
    assert eligibility(id_number=unknown, on_date=DATES[2]) is None


def test_the_fast_path_is_one_statement_once_the_policy_is_cached(people, django_assert_num_queries):
    person = people[1]
    eligibility(id_number=person.id_number, on_date=date(2024, 7, 2))
    with django_assert_num_queries(1):
        result = eligibility(id_number=person.id_number, on_date=date(2024, 7, 2))
    assert [c.code for c in result.categories] == ["dibao", "unstable_lifted"]
