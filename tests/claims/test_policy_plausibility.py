"""Policy files: one unit for ratios (percent), plausible amounts, and a loader that bad documents cannot crash."""

import time
from datetime import date
from decimal import Decimal

import pytest
from django.utils import translation

from claims.models import BasicBenefitRule, BenefitPolicy
from enrollment.models import PolicyVersion
from enrollment.policyfile import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_DOCUMENT_CHARACTERS,
    PolicyFileError,
    parse_policy_document,
)

from .test_policy_benefits_file import EXAMPLE, load, problems

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def test_percent_is_the_one_unit_and_stored_as_a_fraction():
    load()
    rule = BasicBenefitRule.objects.get(visit_type="inpatient")
    assert (rule.ratio, rule.unreferred_ratio) == (Decimal("0.75"), Decimal("0.65"))
    assert BenefitPolicy.objects.get().advance_ratio == Decimal("0.70")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("deductible: 500, ratio: 75,", "deductible: 500, ratio: 0.75,",
     "line 10 benefits.basic.rules[1].ratio: 0.75 would be read as 0.75 %; if 75 % is meant, write 75 (ratios are "
     "written in percent)"),
    ("- {ratio: 70}", "- {ratio: 0.7}",
     "line 19 benefits.critical.segments[2].ratio: 0.7 would be read as 0.7 %; if 70 % is meant, write 70"),
    ("ratio_plus: 5}", "ratio_plus: 0.05}",
     "line 13 benefits.basic.tilts[1].ratio_plus: 0.05 would be read as 0.05 %; if 5 % is meant, write 5"),
    ("advance_ratio: 70", "advance_ratio: 0.7", "advance_ratio: 0.7 would be read as 0.7 %; if 70 % is meant"),
    ("out_of_catalog_limit: 10", "out_of_catalog_limit: 0.1", "0.1 would be read as 0.1 %; if 10 % is meant"),
])
def test_a_ratio_written_as_a_fraction_is_refused_naming_both_readings(old, new, expected):
    assert old in EXAMPLE
    messages = problems(EXAMPLE.replace(old, new, 1))
    assert any(expected in message for message in messages), messages
    assert not PolicyVersion.objects.exists()


def test_a_subsidy_percent_written_as_a_fraction_is_refused():
    text = EXAMPLE + "enrollment:\n  subsidies:\n    - {category: dibao, kind: percent, value: 0.5}\n"
    messages = problems(text)
    assert any("enrollment.subsidies[1].value: 0.5 would be read as 0.5 %; if 50 % is meant, write 50" in m
               for m in messages), messages


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("annual_cap: 250000", "annual_cap: 400",
     "line 8 benefits.basic.annual_cap: must be above benefits.basic.rules[1].deductible (500)"),
    ("annual_cap: 400000", "annual_cap: 15000",
     "line 16 benefits.critical.annual_cap: must be above benefits.critical.deductible (15000)"),
    ("{category: dibao, ratio: 70, annual_limit: 30000}", "{category: dibao, ratio: 70, annual_limit: 300, "
     "deductible: 300}", "benefits.assistance[1].annual_limit: must be above benefits.assistance[1].deductible"),
    ("effective_from: 2024-01-01", "effective_from: 2024-01-01\neffective_to: 2023-12-31",
     "effective_to: ends before the version starts"),
    ("deductible: 500, ratio: 75,", "deductible: -500, ratio: 75,", "deductible: needs a number between 0 and"),
    ("ratio: 75,", "ratio: 100.5,", "ratio: needs a number between 0 and 100"),
])
def test_implausible_amounts_and_dates_are_refused(old, new, expected):
    assert old in EXAMPLE
    messages = problems(EXAMPLE.replace(old, new, 1))
    assert any(expected in message for message in messages), messages


def _parse(text: str) -> list[str]:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy_document(text, source_name="bad.yaml")
    return caught.value.messages


def test_an_alias_bomb_is_refused_quickly():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    started = time.monotonic()
    messages = _parse("\n".join(lines) + "\ncode: x\n")
    assert time.monotonic() - started < 2
    assert messages == ["bad.yaml line 6: the aliases (*name) would expand the file to more than 100000 values"]


def test_too_many_aliases_are_refused():
    text = "x: &x 1\nl: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n"
    assert _parse(text) == [f"bad.yaml line 2: too many aliases (*name); at most {MAX_ALIASES}"]


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_deep_nesting_is_refused_not_a_recursion_error(opening):
    closing = "]" if opening == "[" else "}"
    text = "code: " + opening * 5000 + "1" + closing * 5000 + "\n"
    assert _parse(text) == [f"bad.yaml line 1: nested too deeply (more than {MAX_DEPTH} levels)"]


def test_a_huge_file_is_refused():
    text = "notes: " + "长" * MAX_DOCUMENT_CHARACTERS + "\n"
    assert _parse(text) == [
        f"bad.yaml: the file is too large ({len(text)} characters; at most {MAX_DOCUMENT_CHARACTERS})"]


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b"])
def test_a_control_character_is_named_with_line_and_column(char):
    text = EXAMPLE.replace("name: 示例政策", f"name: 示例{char}政策")
    assert _parse(text) == [
        f"bad.yaml line 3: column 9 holds the invisible control character U+{ord(char):04X}; remove it"]


def test_the_shipped_files_are_all_plausible():
    from enrollment.management.commands.load_policy import shipped_policy_files

    for path in shipped_policy_files():
        parse_policy_document(path.read_bytes(), source_name=path.name)


# --- the same rules on the admin's policy version page ------------------------------------------------------------

def _inline_form(rf, user, inline_class, data=None, instance=None):
    from django.contrib import admin as django_admin

    from tests.factories import make_policy, make_region

    region = make_region("522701", name="都匀市")
    policy = instance.policy if instance is not None else make_policy(region, date(2024, 1, 1))
    request = rf.get("/")
    request.user = user
    inline = inline_class(PolicyVersion, django_admin.site)
    form_class = inline.get_formset(request, policy).form
    if data is None:
        return form_class(instance=instance)
    return form_class(data=data, instance=instance or inline.model(policy=policy))


@pytest.fixture
def superuser():
    from django.contrib.auth.models import User

    return User.objects.create_superuser("root", "root@example.org", "x")


def test_admin_ratios_are_typed_and_shown_in_percent(rf, superuser):
    from claims.admin.benefits import BasicBenefitRuleInline

    data = {"visit_type": "inpatient", "hospital_level": "county", "deductible": "500", "ratio": "75",
            "unreferred_ratio": ""}
    form = _inline_form(rf, superuser, BasicBenefitRuleInline, data)
    assert form.is_valid(), form.errors
    rule = form.save()
    assert rule.ratio == Decimal("0.75") and rule.unreferred_ratio is None
    shown = _inline_form(rf, superuser, BasicBenefitRuleInline, instance=rule)
    assert 'value="75"' in str(shown["ratio"])

    form = _inline_form(rf, superuser, BasicBenefitRuleInline, {**data, "ratio": "0.75"})
    assert not form.is_valid()
    assert form.errors["ratio"] == ["0.75 would be read as 0.75 %; if 75 % is meant, write 75 (ratios are written "
                                    "in percent)"]
    form = _inline_form(rf, superuser, BasicBenefitRuleInline, {**data, "ratio": "120"})
    assert not form.is_valid() and "from 0 to 100" in form.errors["ratio"][0]


def test_admin_caps_must_be_above_deductibles(rf, superuser):
    from claims.admin.benefits import AssistanceBenefitRuleInline, BenefitPolicyInline
    from tests.factories import category

    form = _inline_form(rf, superuser, AssistanceBenefitRuleInline, {
        "category": category("dibao").pk, "ratio": "70", "deductible": "3000", "annual_limit": "3000",
        "funding_source": "medical_assistance"})
    assert not form.is_valid()
    assert form.errors["annual_limit"][0].startswith("Must be above “Annual deductible” (3000)")

    form = _inline_form(rf, superuser, BenefitPolicyInline, {
        "basic_annual_cap": "250000", "funding_basic": "basic_fund", "tilt_requires_referral": "on",
        "critical_deductible_basis": "amount", "critical_deductible": "15000", "critical_annual_cap": "10000",
        "funding_critical": "critical_illness", "out_of_catalog_limit": "10", "advance_ratio": "0.7",
        "advance_working_days": "10", "final_working_days": "15", "manual_working_days": "25"})
    assert not form.is_valid()
    assert "critical_annual_cap" in form.errors
    assert form.errors["advance_ratio"] == ["0.7 would be read as 0.7 %; if 70 % is meant, write 70 (ratios are "
                                            "written in percent)"]


def test_admin_percent_subsidy_below_one_is_refused(rf, superuser):
    from enrollment.admin.policy import SubsidyRuleInline
    from tests.factories import category

    form = _inline_form(rf, superuser, SubsidyRuleInline, {
        "category": category("dibao").pk, "kind": "percent", "value": "0.5", "funding_source": "medical_assistance",
        "note": ""})
    assert not form.is_valid()
    assert form.errors["value"] == ["0.5 would be read as 0.5 %; if 50 % is meant, write 50 (ratios are written in "
                                    "percent)"]
