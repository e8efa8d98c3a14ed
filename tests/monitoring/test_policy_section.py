"""The policy file's ``monitoring:`` section: shipped figures, validation with line and path, replace."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation

from enrollment.policyfile import PolicyFileError
from enrollment.services.policy import load_policy_document
from monitoring.models import MonitoringPolicy

pytestmark = pytest.mark.django_db

HEADER = """\
code: test-2030
name: 测试
effective_from: 2030-01-01
region: {code: "522700", name: 黔南州, level: prefecture}
"""

SECTION = """\
monitoring:
  high_cost:
    relapse_categories: [stable_lifted, unstable_lifted]
    relapse_threshold: {share_of_rural_income: 50}
    poverty_threshold: {amount: 26000}
  assistance_floor:
    key_categories: [tekun, dibao]
    key_floor: 70
    other_categories: [dibao_edge]
    other_floor: 60
  verify_working_days: 10
"""


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def load(text: str, **kwargs):
    return load_policy_document(document=text, source_name="test-2030.yaml", **kwargs)


def test_every_shipped_file_has_its_monitoring_thresholds():
    call_command("load_policy", "--all", stdout=StringIO(), stderr=StringIO())
    rows = {row.policy.code: row for row in MonitoringPolicy.objects.select_related("policy")}
    assert set(rows) == {"chongqing-2021", "chongqing-2022", "qiannan-2019", "jinan-2022", "guangdong-2021"}
    chongqing = rows["chongqing-2022"]  # seed 001 Q7: key groups ≥ 70 %, others ≥ 60 %
    assert (chongqing.key_floor, chongqing.other_floor) == (Decimal("0.7000"), Decimal("0.6000"))
    assert {c.code for c in chongqing.key_categories.all()} == {"tekun", "dibao", "returned_poverty"}
    guangdong = rows["guangdong-2021"]
    assert (guangdong.relapse_basis, guangdong.relapse_value) == ("rural_income_share", Decimal("0.5000"))
    assert (guangdong.poverty_basis, guangdong.poverty_value) == ("rural_income_share", Decimal("1.0000"))
    assert (rows["qiannan-2019"].relapse_basis, rows["qiannan-2019"].relapse_value) == ("amount", Decimal("10000"))


def test_a_full_section_loads_and_replace_rebuilds_it():
    policy = load(HEADER + SECTION)
    row = policy.monitoring
    assert (row.relapse_basis, row.relapse_value, row.poverty_basis, row.poverty_value) == (
        "rural_income_share", Decimal("0.5"), "amount", Decimal("26000"))
    assert row.verify_working_days == 10
    assert {c.code for c in row.other_categories.all()} == {"dibao_edge"}
    load(HEADER + SECTION.replace("verify_working_days: 10", "verify_working_days: 5"), replace=True)
    assert MonitoringPolicy.objects.get().verify_working_days == 5
    load(HEADER, replace=True)
    assert not MonitoringPolicy.objects.exists()


@pytest.mark.parametrize(("change", "line", "path", "message"), [
    (("{amount: 26000}", "{amount: 26000, share_of_rural_income: 10}"), 9, "monitoring.high_cost.poverty_threshold",
     "exactly one of"),
    (("key_floor: 70", "key_floor: 170"), 12, "monitoring.assistance_floor.key_floor", ""),
    (("[dibao_edge]", "[dibao]"), 13, "monitoring.assistance_floor.other_categories", "already a key group"),
    (("[tekun, dibao]", "[tekun, nobody]"), 11, "monitoring.assistance_floor.key_categories[2]", ""),
    (("  verify_working_days: 10\n", ""), 6, "monitoring.verify_working_days", "is required"),
])
def test_bad_sections_are_refused_whole_with_line_and_path(change, line, path, message):
    with pytest.raises(PolicyFileError) as raised:
        load(HEADER + SECTION.replace(*change))
    issue = raised.value.issues[0]
    assert (issue.line, issue.path) == (line, path), issue
    assert message in issue.message
    assert not MonitoringPolicy.objects.exists()
