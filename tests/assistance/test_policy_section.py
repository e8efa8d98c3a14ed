"""The policy file's ``assistance:`` section: shipped figures, validation with line and path, replace."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation

from assistance.models import AssistancePolicy
from enrollment.policyfile import PolicyFileError
from enrollment.services.policy import load_policy_document

pytestmark = pytest.mark.django_db

HEADER = """\
code: test-2030
name: 测试
effective_from: 2030-01-01
region: {code: "522700", name: 黔南州, level: prefecture}
"""


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def load(text: str, **kwargs):
    return load_policy_document(document=text, source_name="test-2030.yaml", **kwargs)


def test_every_shipped_file_has_its_assistance_settings():
    call_command("load_policy", "--all", stdout=StringIO(), stderr=StringIO())
    settings = {row.policy.code: row for row in AssistancePolicy.objects.select_related("policy")}
    assert set(settings) == {"chongqing-2021", "chongqing-2022", "qiannan-2019", "jinan-2022", "guangdong-2021"}
    guangdong = settings["guangdong-2021"]
    assert guangdong.income_share == Decimal("0.6000")  # seed 004 二（二）8
    assert guangdong.look_back == "months" and guangdong.look_back_months == 12
    assert guangdong.asset_cap == Decimal("300000.00")
    assert guangdong.cost_basis == "after_insurance"
    assert settings["jinan-2022"].look_back == "calendar_year"
    assert settings["chongqing-2022"].special_aid_funding == ["social_assistance", "donation", "mutual_aid", "other"]
    assert (guangdong.review_working_days, guangdong.approval_working_days, guangdong.payment_working_days) == (
        10, 5, 5)


def test_a_full_section_loads_and_replace_rebuilds_it():
    text = HEADER + """\
assistance:
  income_share: 55.5
  look_back: calendar_year
  asset_cap: 100000
  counted_assets: [deposits, vehicle]
  costs_counted: after_assistance
  identity_months: 6
  working_days: {initial_review: 7, approval: 2, payment: 3}
  special_aid_funding: [donation]
"""
    policy = load(text)
    row = policy.assistance_settings
    assert row.income_share == Decimal("0.555") and row.look_back == "calendar_year"
    assert row.counted_asset_kinds == ["deposits", "vehicle"] and row.cost_basis == "after_assistance"
    assert (row.review_working_days, row.approval_working_days, row.payment_working_days) == (7, 2, 3)
    assert row.special_aid_funding == ["donation"] and row.identity_months == 6
    load(HEADER, replace=True)  # the file drops the section: the settings go, with history
    assert not AssistancePolicy.objects.filter(policy=policy).exists()
    assert AssistancePolicy.history.filter(policy_id=policy.pk, history_type="-").count() == 1


@pytest.mark.parametrize(("section", "line", "path", "message"), [
    ("  income_share: 160\n  identity_months: 12\n", 6, "assistance.income_share",
     "needs a number between 0 and 100"),
    ("  income_share: 60\n", 6, "assistance.identity_months", "is required"),
    ("  income_share: 60\n  identity_months: 12\n  look_back: fortnight\n", 8, "assistance.look_back",
     "'fortnight' is not one of"),
    ("  income_share: 60\n  identity_months: 12\n  look_back: calendar_year\n  look_back_months: 6\n", 9,
     "assistance.look_back_months", "only with look_back: months"),
    ("  income_share: 60\n  identity_months: 12\n  counted_assets: [deposits, boat]\n", 8,
     "assistance.counted_assets[2]", "'boat' is not one of"),
    ("  income_share: 60\n  identity_months: 12\n  working_days: {approval: 0}\n", 8,
     "assistance.working_days.approval", "needs a whole number between 1 and 365"),
    ("  income_share: 60\n  identity_months: 12\n  special_aid_funding: [donation, donation]\n", 8,
     "assistance.special_aid_funding[2]", "'donation' is listed twice"),
    ("  income_share: 60\n  identity_months: 12\n  asset_cap: 1.001\n", 8, "assistance.asset_cap",
     "has more than two decimal places"),
    ("  income_share: 60\n  identity_months: 12\n  income_limit: 3\n", 8, "assistance.income_limit",
     "unknown field 'income_limit'"),
])
def test_bad_values_are_rejected_whole_with_line_and_path(section, line, path, message):
    with pytest.raises(PolicyFileError) as error:
        load(HEADER + "assistance:\n" + section)
    text = str(error.value)
    assert f"line {line} {path}: {message}" in text, text
    assert not AssistancePolicy.objects.exists()
