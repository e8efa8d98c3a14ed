"""The assistance admin lists count like every large admin list: exact within LIST_COUNT_BUDGET_MS, else bounded."""

import pytest
from django.urls import reverse

from enrollment import counting
from enrollment.counting import BudgetedCountPaginator

from .test_admin import filled  # noqa: F401 - the fixture: six applications, outside costs and aid cases

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["application", "specialaidcase", "outsidecost"])
def test_assistance_lists_show_an_exact_or_clearly_bounded_count(client, filled, name, monkeypatch,  # noqa: F811
                                                                 django_assert_max_num_queries):
    client.force_login(filled)
    url = reverse(f"admin:assistance_{name}_changelist")
    response = client.get(url)
    assert response.context["cl"].paginator.__class__ is BudgetedCountPaginator
    assert response.context["cl"].result_count == 6 and not response.context["cl"].paginator.is_bounded

    # The exact count ran out of its budget (as on a province's many rows): "over N", never the planner's guess.
    monkeypatch.setattr(counting, "exact_count_within", lambda queryset, budget_ms: None)
    monkeypatch.setattr(BudgetedCountPaginator, "cap", 4)
    with django_assert_max_num_queries(14):
        response = client.get(url)
    paginator = response.context["cl"].paginator
    assert paginator.is_bounded and paginator.count == 5
    assert paginator.shown_count in response.content.decode()
