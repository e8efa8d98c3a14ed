"""The new benefit dimensions on the policy version page: a tilt's limits as checkboxes, a basic rule's scheme, the
continuous-deductible categories — edited, kept in history, and the page's query count does not grow with tilts."""

from datetime import date
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from claims.models import BasicBenefitRule, BenefitPolicy, CategoryTilt
from claims.models.choices import Layer
from enrollment import roles
from tests.enrollment._admin_world import _admin_over_plain_http  # noqa: F401 - autouse: plain-HTTP test client
from tests.factories import category, make_user

from .factories import make_tilt, spec_example_policy


class _FormValues(HTMLParser):
    """What a browser would submit for the page's main form, unchanged."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            checkable = attrs.get("type") in ("checkbox", "radio")
            if checkable and "checked" not in attrs:
                return
            self.data.setdefault(name, []).append(attrs.get("value") or ("on" if checkable else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select].append(attrs.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def page_values(html: str) -> dict[str, list[str]]:
    parser = _FormValues()
    parser.feed(html)
    return parser.data


@pytest.fixture
def head(regions):
    return make_user("head_p", roles=(roles.HEAD,), regions=(regions["prefecture"],))


@pytest.fixture
def policy(regions):
    policy = spec_example_policy(regions["prefecture"], date(2025, 1, 1))
    make_tilt(policy, "registered_poor", layer=Layer.BASIC, deductible_reduction="0.5", ratio_plus="0.10")
    return policy


def change_url(policy):
    return reverse("admin:enrollment_policyversion_change", args=[policy.pk])


def test_head_limits_a_tilt_and_names_the_continuous_categories(client, head, policy):
    client.force_login(head)
    page = client.get(change_url(policy)).content.decode()
    data = page_values(page)
    tilts = CategoryTilt.objects.filter(policy=policy).order_by("layer", "category__sort_order")
    index = list(tilts).index(CategoryTilt.objects.get(policy=policy, layer=Layer.BASIC))
    # every limit is offered as checkboxes, none ticked: no limit
    for name in ("hospital_levels", "visit_types", "schemes"):
        assert f'name="tilts-{index}-{name}"' in page and f"tilts-{index}-{name}" not in data
    assert 'name="basic_rules-0-scheme"' in page
    data[f"tilts-{index}-hospital_levels"] = ["county"]
    data[f"tilts-{index}-visit_types"] = ["inpatient"]
    data["benefits-0-continuous_deductible_categories"] = [str(category("dibao").pk)]
    data["basic_rules-0-scheme"] = ["employee"]

    response = client.post(change_url(policy), data)

    assert response.status_code == 302, response.context and [
        form.errors for formset in response.context["inline_admin_formsets"] for form in formset.formset]
    tilt = CategoryTilt.objects.get(policy=policy, layer=Layer.BASIC)
    assert (tilt.hospital_levels, tilt.visit_types, tilt.schemes) == (["county"], ["inpatient"], [])
    assert tilt.history.first().hospital_levels == ["county"]
    assert BasicBenefitRule.objects.get(policy=policy).scheme == "employee"
    assert list(BenefitPolicy.objects.get(policy=policy).continuous_deductible_categories.all()) == [
        category("dibao")]


def test_an_unknown_limit_code_is_refused_on_the_form(client, head, policy):
    client.force_login(head)
    data = page_values(client.get(change_url(policy)).content.decode())
    index = list(CategoryTilt.objects.filter(policy=policy).order_by("layer", "category__sort_order")).index(
        CategoryTilt.objects.get(policy=policy, layer=Layer.BASIC))
    data[f"tilts-{index}-hospital_levels"] = ["moon"]

    response = client.post(change_url(policy), data)

    assert response.status_code == 200
    errors = [form.errors for formset in response.context["inline_admin_formsets"] for form in formset.formset
              if form.errors]
    assert [list(error) for error in errors] == [["hospital_levels"]]
    assert CategoryTilt.objects.get(policy=policy, layer=Layer.BASIC).hospital_levels == []


def test_policy_page_query_count_does_not_grow_with_tilts(client, head, policy, django_assert_max_num_queries):
    client.force_login(head)
    with django_assert_max_num_queries(60) as few:
        assert client.get(change_url(policy)).status_code == 200
    for code in ("tekun", "orphan", "unsupported_child", "returned_poverty", "dibao_edge"):
        tilt = make_tilt(policy, code, layer=Layer.BASIC, ratio_plus="0.05")
        tilt.hospital_levels, tilt.schemes = ["county", "city"], ["employee"]
        tilt.save()
    with django_assert_max_num_queries(60) as many:
        assert client.get(change_url(policy)).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
