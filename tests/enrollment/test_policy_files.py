"""Policy files: the shipped seed files, the format's validation, the loader service and the load_policy command."""

import json
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.db.models import Q
from django.db.models.signals import pre_save
from django.utils import translation

from enrollment.management.commands.load_policy import Command as LoadPolicyCommand
from enrollment.management.commands.load_policy import shipped_policy_files
from enrollment.models import CostShareRule, PolicyVersion, Region, RegionYear, SubsidyRule
from enrollment.policyfile import PolicyFileError, parse_policy_document
from enrollment.services.policy import (
    PolicyNotEditable,
    ensure_policy_editable,
    load_policy_document,
    register_edit_guard,
    unregister_edit_guard,
)
from tests.factories import make_policy, make_region

pytestmark = pytest.mark.django_db

SHIPPED_CODES = {"chongqing-2021", "chongqing-2022", "qiannan-2019", "jinan-2022", "guangdong-2021"}


@pytest.fixture(autouse=True)
def _english():
    # Assertions read the English msgids; the Chinese catalogue is added by a later translation pass.
    with translation.override("en"):
        yield


def snapshot() -> dict:
    """Everything a policy file can write, as plain comparable values (history rows included, by count)."""
    return {
        "versions": sorted(
            (p.code, p.region.code, p.name, p.document, p.effective_from, p.effective_to, p.notes,
             p.intake_cutoff_month, p.intake_cutoff_day, p.newborn_window_months, p.full_subsidy_base,
             p.top_up_on_identity_change, tuple(sorted(c.code for c in p.green_channel_categories.all())))
            for p in PolicyVersion.objects.select_related("region")),
        "subsidies": sorted(
            (r.policy.code, r.category.code, r.plan_year or 0, r.kind, r.value, r.funding_source, r.cost_shared,
             r.note)
            for r in SubsidyRule.objects.select_related("policy", "category")),
        "shares": sorted(
            (r.policy.code, r.county_class, r.province_share, r.prefecture_share, r.county_share)
            for r in CostShareRule.objects.select_related("policy")),
        "regions": sorted(
            (r.code, r.name, r.level, r.parent.code if r.parent else None, r.cost_share_class, r.path)
            for r in Region.objects.select_related("parent")),
        "statistics": sorted(
            (y.region.code, y.year, y.income_urban, y.income_rural, y.income_all, y.contribution_tier1,
             y.contribution_tier2, y.source)
            for y in RegionYear.objects.select_related("region")),
    }


def history_counts() -> tuple[int, ...]:
    return tuple(model.history.count() for model in (PolicyVersion, SubsidyRule, CostShareRule, Region, RegionYear))


def load_all(*args) -> str:
    out = StringIO()
    call_command("load_policy", "--all", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def rule(code: str, category: str, plan_year: int | None = None) -> SubsidyRule:
    return SubsidyRule.objects.get(policy__code=code, category__code=category, plan_year=plan_year)


# ---------------------------------------------------------------------------------------------- shipped files

def test_every_shipped_file_loads():
    assert {path.name for path in shipped_policy_files()} == {f"{code}.yaml" for code in SHIPPED_CODES}
    output = load_all()
    assert set(PolicyVersion.objects.values_list("code", flat=True)) == SHIPPED_CODES
    for code in SHIPPED_CODES:
        assert f"{code}.yaml: policy version {code} " in output
        assert PolicyVersion.objects.get(code=code).source_file == f"{code}.yaml"
    assert "Loaded 5 policy file(s)." in output


def test_loading_the_shipped_files_again_with_replace_is_idempotent():
    load_all()
    before = snapshot()
    pks = dict(PolicyVersion.objects.values_list("code", "pk"))
    load_all("--replace")
    assert snapshot() == before
    # Updated in place: ledger rows and claims pointing at a version keep pointing at it.
    assert dict(PolicyVersion.objects.values_list("code", "pk")) == pks
    load_all("--replace")
    assert snapshot() == before


def test_loading_the_shipped_files_again_without_replace_is_rejected_and_changes_nothing():
    load_all()
    before, history = snapshot(), history_counts()
    err = StringIO()
    with pytest.raises(CommandError, match=r"5 problem\(s\) found; nothing was written"):
        call_command("load_policy", "--all", stdout=StringIO(), stderr=err)
    for code in SHIPPED_CODES:
        assert f"{code}.yaml line " in err.getvalue()
        assert f" code: policy version {code} already exists" in err.getvalue()
    assert snapshot() == before
    assert history_counts() == history


MA, TRANSITION = "medical_assistance", "transition"
# SPEC §3.3 seed figures: (version, category, plan year, kind, value, funding source, cost shared).
SEED_RULES = [
    ("chongqing-2022", "tekun", None, "full", None, MA, False),
    ("chongqing-2022", "dibao", None, "percent", "90", MA, False),
    ("chongqing-2022", "dibao_edge", None, "percent", "70", MA, False),
    ("chongqing-2022", "returned_poverty", None, "percent", "70", MA, False),
    ("chongqing-2022", "unstable_lifted", None, "percent", "70", MA, False),
    ("chongqing-2022", "edge_vulnerable", None, "percent", "70", MA, False),
    ("chongqing-2022", "sudden_hardship", None, "percent", "70", MA, False),
    ("chongqing-2022", "stable_lifted", 2022, "fixed", "100", TRANSITION, False),
    ("chongqing-2022", "stable_lifted", 2023, "fixed", "50", TRANSITION, False),
    ("chongqing-2022", "stable_lifted", 2024, "none", None, TRANSITION, False),
    ("chongqing-2022", "stable_lifted", 2025, "none", None, TRANSITION, False),
    ("qiannan-2019", "tekun", None, "full", None, MA, False),
    ("qiannan-2019", "registered_poor", None, "fixed", "100", MA, True),
    ("jinan-2022", "tekun", None, "fixed", "320", MA, False),
    ("jinan-2022", "dibao", None, "fixed", "288", MA, False),
    ("jinan-2022", "returned_poverty", None, "fixed", "256", MA, False),
    ("jinan-2022", "unstable_lifted", None, "fixed", "160", MA, False),
    ("jinan-2022", "edge_vulnerable", None, "fixed", "160", MA, False),
    ("jinan-2022", "sudden_hardship", None, "fixed", "160", MA, False),
    ("guangdong-2021", "tekun", None, "full", None, MA, False),
    ("guangdong-2021", "orphan", None, "full", None, MA, False),
    ("guangdong-2021", "unsupported_child", None, "full", None, MA, False),
    ("guangdong-2021", "dibao", None, "full", None, MA, False),
    ("guangdong-2021", "returned_poverty", None, "full", None, MA, False),
    ("guangdong-2021", "dibao_edge", None, "full", None, MA, False),
    ("guangdong-2021", "stable_lifted", None, "none", None, MA, False),
]
# Guangdong leaves the monitored categories' fixed amount to each pooling region: a local value, kind only.
LOCAL_FIXED = [("guangdong-2021", code) for code in ("unstable_lifted", "edge_vulnerable", "sudden_hardship")]


def test_every_seed_figure_is_a_rule_row():
    load_all()
    actual = {
        (r.policy.code, r.category.code, r.plan_year): (r.kind, r.value, r.funding_source, r.cost_shared)
        for r in SubsidyRule.objects.select_related("policy", "category")}
    expected = {
        (code, category, plan_year): (kind, Decimal(value) if value is not None else None, funding, cost_shared)
        for code, category, plan_year, kind, value, funding, cost_shared in SEED_RULES}
    # Compared as one mapping so a failure lists every wrong figure at once.
    assert {key: actual.get(key) for key in expected} == expected


def test_seed_versions_hold_no_other_rules():
    load_all()
    expected = {(c, cat, year) for c, cat, year, *_ in SEED_RULES} | {(c, cat, None) for c, cat in LOCAL_FIXED}
    actual = set(SubsidyRule.objects.values_list("policy__code", "category__code", "plan_year"))
    assert actual == expected
    for code, category in LOCAL_FIXED:
        local = rule(code, category)
        assert local.kind == "fixed" and local.value > 0 and "地方取值" in local.note


def test_seed_version_settings():
    load_all()
    chongqing = PolicyVersion.objects.get(code="chongqing-2022")
    assert (chongqing.region.code, chongqing.effective_from, chongqing.effective_to) == (
        "500000", date(2022, 1, 1), None)
    assert chongqing.full_subsidy_base == "tier1"
    assert chongqing.top_up_on_identity_change is False
    assert chongqing.document == "渝乡振发〔2022〕15号"

    old = PolicyVersion.objects.get(code="chongqing-2021")
    assert (old.region_id, old.effective_from, old.effective_to) == (
        chongqing.region_id, date(2021, 1, 1), date(2021, 12, 31))

    def in_force(day):
        return PolicyVersion.objects.get(
            Q(effective_to__isnull=True) | Q(effective_to__gte=day), region__code="500000", effective_from__lte=day)

    # A discharge on 2021-12-31 and one on 2022-01-05 settle under different versions (SPEC §1 transition).
    assert in_force(date(2021, 12, 31)).code == "chongqing-2021"
    assert in_force(date(2022, 1, 5)).code == "chongqing-2022"

    qiannan = PolicyVersion.objects.get(code="qiannan-2019")
    assert (qiannan.effective_from, qiannan.intake_cutoff_month, qiannan.intake_cutoff_day) == (
        date(2019, 1, 1), 8, 31)
    jinan = PolicyVersion.objects.get(code="jinan-2022")
    assert (jinan.effective_from, jinan.effective_to, jinan.newborn_window_months) == (
        date(2022, 1, 1), date(2022, 12, 31), 3)
    guangdong = PolicyVersion.objects.get(code="guangdong-2021")
    assert set(guangdong.green_channel_categories.values_list("code", flat=True)) == {
        "tekun", "orphan", "unsupported_child", "dibao", "returned_poverty", "dibao_edge",
        "unstable_lifted", "edge_vulnerable", "sudden_hardship", "illness_poor"}
    assert not chongqing.green_channel_categories.exists()


def test_qiannan_counties_and_cost_sharing():
    load_all()
    classes = dict(Region.objects.filter(parent__code="522700").values_list("code", "cost_share_class"))
    assert classes == {
        "522732": 1, "522728": 1,
        "522725": 2, "522730": 2, "522723": 2, "522731": 2, "522729": 2, "522727": 2, "522726": 2, "522722": 2,
        "522701": 3, "522702": 3,
    }
    assert Region.objects.get(code="522732").path == "/520000/522700/522732/"
    shares = {r.county_class: (r.province_share, r.prefecture_share, r.county_share)
              for r in CostShareRule.objects.filter(policy__code="qiannan-2019")}
    assert shares == {1: (100, 0, 0), 2: (5, 2, 3), 3: (0, 0, 100)}


def test_region_chains_and_statistics():
    load_all()
    jinan = Region.objects.get(code="341502")
    assert (jinan.path, jinan.level) == ("/340000/341500/341502/", "county")
    assert Region.objects.get(code="341500").level == "prefecture"
    for code in ("500000", "440000", "520000", "340000"):
        region = Region.objects.get(code=code)
        assert (region.parent, region.level) == (None, "province")
    tier1 = {(y.region.code, y.year): y.contribution_tier1 for y in RegionYear.objects.select_related("region")}
    assert tier1[("341502", 2022)] == Decimal(320)  # given by the Jin'an document
    assert tier1[("500000", 2022)] == Decimal(320)
    assert tier1[("522700", 2019)] == Decimal(250)
    assert tier1[("440000", 2021)] == Decimal(320)
    # Figures the documents do not give are labelled as local values.
    assert "地方取值" in RegionYear.objects.get(region__code="500000", year=2022).source


def test_shipped_files_label_every_local_value():
    for path in shipped_policy_files():
        assert "地方取值（文件未规定）" in path.read_text(encoding="utf-8"), path.name


def test_loading_over_existing_regions_keeps_them(regions):
    before = {code: Region.objects.get(code=code).pk for code in ("520000", "522700", "522701", "522702")}
    load_all()
    assert {code: Region.objects.get(code=code).pk for code in before} == before
    assert Region.objects.filter(parent=regions["prefecture"]).count() == 12


# ------------------------------------------------------------------------------------------------- validation

VALID = """\
format: 1
code: test-2030
name: 测试政策 2030
document: 测试文件〔2030〕1号
effective_from: 2030-01-01
effective_to: 2030-12-31
region:
  code: "522700"
  name: 黔南州
  level: prefecture
  parents:
    - {code: "520000", name: 贵州省, level: province}
regions:
  - {code: "522701", name: 都匀市, cost_share_class: 3}
  - {code: "522732", name: 三都县, cost_share_class: 1}
statistics:
  - year: 2030
    contribution_tier1: 400
    contribution_tier2: 600
    source: 测试
enrollment:
  intake:
    cutoff: "08-31"
    green_channel: [tekun, dibao]
    newborn_window_months: 3
  full_subsidy_base: tier1
  top_up_on_identity_change: false
  subsidies:
    - category: tekun
      kind: full
    - category: dibao
      kind: percent
      value: 90
      funding_source: medical_assistance
    - category: registered_poor
      kind: fixed
      value: 100
      plan_year: 2030
      cost_shared: true
  cost_sharing:
    - {county_class: 1, province: 100, prefecture: 0, county: 0}
    - {county_class: 3, province: 0, prefecture: 0, county: 100}
"""


def load(text: str, name: str = "test-2030.yaml", **kwargs) -> PolicyVersion:
    return load_policy_document(document=text, source_name=name, **kwargs)


def line_of(text: str, fragment: str) -> int:
    lines = text.splitlines()
    matches = [number for number, line in enumerate(lines, start=1) if fragment in line]
    assert len(matches) == 1, f"{fragment!r} should appear once, found {len(matches)}"
    return matches[0]


def test_the_valid_document_loads_every_section():
    policy = load(VALID)
    assert policy.code == "test-2030" and policy.region.code == "522700"
    assert policy.full_subsidy_base == "tier1" and policy.newborn_window_months == 3
    assert set(policy.green_channel_categories.values_list("code", flat=True)) == {"tekun", "dibao"}
    assert rule("test-2030", "registered_poor", 2030).cost_shared
    assert rule("test-2030", "tekun").funding_source == "medical_assistance"  # the documented default
    assert RegionYear.objects.get(region__code="522700", year=2030).contribution_tier2 == Decimal(600)
    assert Region.objects.get(code="522732").cost_share_class == 1


# (case id, text replaced, replacement, field path, text of the line at fault, part of the message)
MALFORMED = [
    ("required field missing", "name: 测试政策 2030\n", "", "name", "format: 1", "is required"),
    ("required field empty", "name: 测试政策 2030", "name:   # 待填", "name", "# 待填", "cannot be empty"),
    ("date format", "effective_from: 2030-01-01", "effective_from: 2030/01/01", "effective_from",
     "effective_from:", "YYYY-MM-DD"),
    ("impossible date", "effective_to: 2030-12-31", "effective_to: 2030-02-30", "effective_to",
     "effective_to:", "not a calendar date"),
    ("ends before it starts", "effective_to: 2030-12-31", "effective_to: 2029-12-31", "effective_to",
     "effective_to:", "ends before the version starts"),
    ("percent above 100", "value: 90", "value: 190", "enrollment.subsidies[2].value", "value: 190",
     "between 0 and 100"),
    ("percent negative", "value: 90", "value: -5", "enrollment.subsidies[2].value", "value: -5",
     "between 0 and 100"),
    ("value is not a number", "value: 90", "value: ninety", "enrollment.subsidies[2].value", "value: ninety",
     "needs a number"),
    ("value with fractions of a fen", "value: 100", "value: 100.005", "enrollment.subsidies[3].value",
     "value: 100.005", "more than two decimal places"),
    ("percent rule without value", "      value: 90\n", "", "enrollment.subsidies[2].value", "category: dibao",
     "needs a value"),
    ("full rule with a value", "      kind: full\n", "      kind: full\n      value: 77\n",
     "enrollment.subsidies[1].value", "value: 77", "takes no value"),
    ("unknown kind", "kind: full", "kind: ful", "enrollment.subsidies[1].kind", "kind: ful", "did you mean 'full'"),
    ("unknown category", "category: dibao\n", "category: dibao_x\n", "enrollment.subsidies[2].category",
     "category: dibao_x", "unknown identity category 'dibao_x'"),
    ("unknown green-channel category", "[tekun, dibao]", "[tekun, orphans]", "enrollment.intake.green_channel[2]",
     "green_channel:", "unknown identity category 'orphans'"),
    ("duplicate category and plan year", "    - category: registered_poor",
     "    - category: tekun  # again\n      kind: none\n    - category: registered_poor", "enrollment.subsidies[3]",
     "# again", "already has a rule for every plan year"),
    ("unknown funding source", "funding_source: medical_assistance", "funding_source: 医疗救助基金",
     "enrollment.subsidies[2].funding_source", "funding_source:", "is not one of"),
    ("cost shares all zero", "province: 100, prefecture: 0, county: 0", "province: 0, prefecture: 0, county: 0",
     "enrollment.cost_sharing[1]", "county_class: 1", "cannot all be zero"),
    ("cost share negative", "province: 100, prefecture: 0", "province: 100, prefecture: -1",
     "enrollment.cost_sharing[1].prefecture", "county_class: 1", "between 0 and"),
    ("county class twice", "county_class: 3", "county_class: 1", "enrollment.cost_sharing[2].county_class",
     "prefecture: 0, county: 100", "given twice"),
    ("misspelt field of a section", "  cost_sharing:\n", "  cost_sharing_removed:\n",
     "enrollment.cost_sharing_removed", "cost_sharing_removed:", "unknown field"),
    ("region code not six digits", 'code: "522700"', 'code: "52270"', "region.code", 'code: "52270"',
     "six digits"),
    ("county code not six digits", '"522732"', '"5227321"', "regions[2].code", "5227321", "six digits"),
    ("parents listed bottom-up", 'level: prefecture\n  parents:\n    - {code: "520000", name: 贵州省, level: province}',
     'level: province\n  parents:\n    - {code: "520000", name: 贵州省, level: prefecture}', "region.level",
     'code: "522700"', "cannot sit under"),
    ("statistics of an undeclared region", "  - year: 2030\n", '  - year: 2030\n    region: "110000"\n',
     "statistics[1].region", 'region: "110000"', "not declared in this file"),
    ("unknown top-level section", "enrollment:\n", "enrolment:\n", "enrolment", "enrolment:",
     "did you mean 'enrollment'"),
    ("unknown nested field", "      value: 90\n", "      valeu: 90\n", "enrollment.subsidies[2].valeu", "valeu:",
     "did you mean 'value'"),
    ("field given twice", "  full_subsidy_base: tier1\n", "  full_subsidy_base: tier1\n  full_subsidy_base: own\n",
     "enrollment.full_subsidy_base", "full_subsidy_base: own", "given twice"),
    ("boolean expected", "top_up_on_identity_change: false", "top_up_on_identity_change: never",
     "enrollment.top_up_on_identity_change", "top_up_on_identity_change", "true or false"),
    ("cut-off not a month and day", 'cutoff: "08-31"', 'cutoff: "08-32"', "enrollment.intake.cutoff", "cutoff:",
     "MM-DD"),
    ("plan year outside the period", "plan_year: 2030", "plan_year: 2031", "enrollment.subsidies[3].plan_year",
     "plan_year: 2031", "outside the version's period"),
    ("a list where a mapping belongs", "  intake:\n", "  intake:\n    - x\n  intake_old:\n",
     "enrollment.intake", "    - x", "needs a mapping"),
    ("bad version code", "code: test-2030", "code: test 2030", "code", "code: test 2030", "letters, digits"),
]


@pytest.mark.parametrize(("old", "new", "path", "line_text", "message"),
                         [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_document_is_rejected_whole_with_line_and_field(old, new, path, line_text, message):
    assert old in VALID
    text = VALID.replace(old, new, 1)
    before, history = snapshot(), history_counts()
    with pytest.raises(PolicyFileError) as caught:
        load(text)
    expected_prefix = f"test-2030.yaml line {line_of(text, line_text)} {path}: "
    matching = [m for m in caught.value.messages if m.startswith(expected_prefix)]
    assert matching, f"no message starts with {expected_prefix!r}: {caught.value.messages}"
    assert message in matching[0]
    assert snapshot() == before
    assert history_counts() == history


def test_cost_shared_rule_needs_cost_sharing_rules():
    text = VALID.split("  cost_sharing:\n")[0]
    with pytest.raises(PolicyFileError) as caught:
        load(text)
    assert caught.value.messages == [
        f"test-2030.yaml line {line_of(text, 'cost_shared: true')} enrollment.subsidies[3].cost_shared: "
        "a cost-shared subsidy needs a `cost_sharing:` list in this section"]


def test_every_problem_of_a_file_is_reported_at_once_in_file_order():
    text = VALID.replace("value: 90", "value: 190").replace('code: "522700"', 'code: "X"').replace(
        "enrollment:", "enrolment:")
    with pytest.raises(PolicyFileError) as caught:
        load(text)
    lines = [issue.line for issue in caught.value.issues]
    assert len(lines) == 2 and lines == sorted(lines)  # the unknown section hides the typo inside it
    assert [issue.path for issue in caught.value.issues] == ["region.code", "enrolment"]


def test_yaml_syntax_error_names_the_line():
    text = VALID.replace("green_channel: [tekun, dibao]", "green_channel: [tekun, dibao")
    with pytest.raises(PolicyFileError) as caught:
        load(text)
    (issue,) = caught.value.issues
    assert issue.line is not None and issue.line >= line_of(text, "green_channel:")
    assert "not valid YAML or JSON" in issue.message


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("# only a comment\n", "the file is empty"),
    ("- a list\n", "needs a mapping"),
])
def test_degenerate_documents(text, message):
    with pytest.raises(PolicyFileError, match=message):
        load(text)


def test_non_utf8_file_is_rejected():
    with pytest.raises(PolicyFileError, match="not UTF-8"):
        load(VALID.encode("gbk"))


def test_utf8_bytes_with_bom_load():
    assert load("\ufeff".encode() + VALID.encode()).code == "test-2030"


def _as_json(text: str) -> str:
    import yaml

    data = yaml.safe_load(text)
    data["effective_from"], data["effective_to"] = "2030-01-01", "2030-12-31"
    return json.dumps(data, ensure_ascii=False, indent="\t")


def test_json_is_accepted_even_indented_with_tabs():
    policy = load(_as_json(VALID), name="test-2030.json")
    assert rule(policy.code, "dibao").value == Decimal(90)
    assert policy.source_file == "test-2030.json"


def test_json_errors_name_the_line():
    text = _as_json(VALID).replace('"value": 90', '"value": "ninety"')
    with pytest.raises(PolicyFileError) as caught:
        load(text, name="test-2030.json")
    assert caught.value.messages == [
        f'test-2030.json line {line_of(text, "ninety")} enrollment.subsidies[2].value: needs a number']


def test_numbers_are_read_exactly():
    text = VALID.replace("value: 100\n", "value: 100.10\n").replace("contribution_tier1: 400",
                                                                     "contribution_tier1: 380.3")
    load(text)
    assert rule("test-2030", "registered_poor", 2030).value == Decimal("100.10")
    assert RegionYear.objects.get(region__code="522700", year=2030).contribution_tier1 == Decimal("380.30")


def test_anchors_and_merge_keys_are_understood():
    text = VALID.replace(
        "    - category: tekun\n      kind: full\n",
        "    - &assistance\n      category: tekun\n      kind: full\n      funding_source: medical_assistance\n"
        "    - <<: *assistance\n      category: orphan\n")
    load(text)
    assert rule("test-2030", "orphan").kind == "full"


def test_pure_parse_needs_no_database_for_categories():
    doc = parse_policy_document(VALID.replace("dibao", "anything"), source_name="x.yaml")
    assert [s.category for s in doc.enrollment.subsidies] == ["tekun", "anything", "registered_poor"]
    assert doc.line_of("enrollment.subsidies[2].value") == line_of(VALID, "value: 90")


# --------------------------------------------------------------------------------------- against the database

def test_same_code_without_replace_is_rejected():
    load(VALID)
    before = snapshot()
    with pytest.raises(PolicyFileError) as caught:
        load(VALID.replace("value: 90", "value: 95"))
    assert caught.value.messages == [
        f"test-2030.yaml line {line_of(VALID, 'code: test-2030')} code: policy version test-2030 already exists; "
        "load with --replace to update it in place"]
    assert snapshot() == before


def test_replace_updates_the_version_in_place_and_recreates_its_rules():
    user = User.objects.create_user("head")
    policy = load(VALID)
    old_rule_ids = set(policy.subsidy_rules.values_list("pk", flat=True))
    changed = (VALID.replace("value: 90", "value: 95")
               .replace("name: 测试政策 2030", "name: 测试政策 2030 修订")
               .replace("    - category: tekun\n      kind: full\n", "")
               .replace("[tekun, dibao]", "[dibao]"))
    replaced = load(changed, by=user, replace=True)
    assert replaced.pk == policy.pk
    replaced.refresh_from_db()
    assert replaced.name == "测试政策 2030 修订"
    assert rule("test-2030", "dibao").value == Decimal(95)
    assert not SubsidyRule.objects.filter(policy=policy, category__code="tekun").exists()
    assert set(replaced.green_channel_categories.values_list("code", flat=True)) == {"dibao"}
    assert old_rule_ids.isdisjoint(policy.subsidy_rules.values_list("pk", flat=True))
    deleted = SubsidyRule.history.filter(history_type="-", category__code="tekun").get()
    assert deleted.history_user == user
    assert deleted.history_change_reason == "policy file test-2030.yaml"
    assert PolicyVersion.history.filter(id=policy.pk).first().history_user == user


def test_replace_with_a_file_that_drops_a_section_clears_its_rules():
    load(VALID)
    without_enrollment = VALID.split("enrollment:\n")[0]
    policy = load(without_enrollment, replace=True)
    assert not policy.subsidy_rules.exists() and not policy.cost_share_rules.exists()
    assert (policy.full_subsidy_base, policy.newborn_window_months) == ("own", 0)
    assert not policy.green_channel_categories.exists()


def test_overlapping_versions_of_a_region_are_rejected(regions):
    make_policy(regions["prefecture"], date(2030, 7, 1), None, code="other-2030")
    make_policy(regions["a"], date(2030, 1, 1), None, code="county-2030")  # another region: no conflict
    before = snapshot()
    with pytest.raises(PolicyFileError) as caught:
        load(VALID)
    assert caught.value.messages == [
        f"test-2030.yaml line {line_of(VALID, 'effective_from:')} effective_from: the period overlaps policy "
        "version other-2030 (2030-07-01 – …) of the same region"]
    assert snapshot() == before


def test_adjacent_versions_do_not_overlap(regions):
    make_policy(regions["prefecture"], date(2029, 1, 1), date(2029, 12, 31), code="test-2029")
    make_policy(regions["prefecture"], date(2031, 1, 1), None, code="test-2031")
    assert load(VALID).code == "test-2030"


def test_a_version_cannot_move_to_another_region():
    load(VALID)
    moved = """\
code: test-2030
name: 搬到县里
effective_from: 2030-01-01
region:
  code: "522701"
  name: 都匀市
  level: county
  parents:
    - {code: "520000", name: 贵州省, level: province}
    - {code: "522700", name: 黔南州, level: prefecture}
"""
    with pytest.raises(PolicyFileError) as caught:
        load(moved, replace=True)
    assert caught.value.messages == [
        f"test-2030.yaml line {line_of(moved, '522701')} region.code: policy version test-2030 belongs to region "
        "黔南州（522700）; a version cannot move to another region"]


def test_region_under_another_parent_in_the_database_is_rejected():
    province = make_region("520000", "贵州省")
    elsewhere = make_region("522600", "黔东南州", parent=province)
    make_region("522732", "三都县", parent=elsewhere)
    before = snapshot()
    with pytest.raises(PolicyFileError) as caught:
        load(VALID)
    assert caught.value.messages == [
        f"test-2030.yaml line {line_of(VALID, '522732')} regions[2].parent: region 522732 is under 522600 in the "
        "database, "
        "but this file puts it under 522700; correct the file or move the region in the admin first"]
    assert snapshot() == before


def test_existing_regions_and_statistics_are_brought_in_line(regions):
    RegionYear.objects.create(region=regions["prefecture"], year=2030, income_rural=Decimal("15000.00"),
                              contribution_tier1=Decimal("1.00"))
    regions["a"].cost_share_class = None
    regions["a"].save()
    load(VALID)
    year = RegionYear.objects.get(region=regions["prefecture"], year=2030)
    assert (year.contribution_tier1, year.income_rural) == (Decimal(400), Decimal("15000.00"))  # not given: kept
    regions["a"].refresh_from_db()
    assert regions["a"].cost_share_class == 3


def test_edit_guard_can_refuse_a_replace_and_is_not_asked_about_new_versions():
    asked = []

    def settled_claims_guard(policy):
        asked.append(policy.code)
        raise PolicyNotEditable("Claims were already settled under this version.")

    register_edit_guard(settled_claims_guard)
    try:
        load(VALID)  # a new version: nothing to protect
        assert asked == []
        before, history = snapshot(), history_counts()
        with pytest.raises(PolicyFileError) as caught:
            load(VALID.replace("value: 90", "value: 95"), replace=True)
        assert asked == ["test-2030"]
        assert caught.value.messages == [
            f"test-2030.yaml line {line_of(VALID, 'code: test-2030')} code: "
            "Claims were already settled under this version."]
        assert snapshot() == before and history_counts() == history
        with pytest.raises(PolicyNotEditable):
            ensure_policy_editable(PolicyVersion.objects.get(code="test-2030"))
    finally:
        unregister_edit_guard(settled_claims_guard)
    ensure_policy_editable(PolicyVersion.objects.get(code="test-2030"))


def test_a_plain_validation_error_from_a_guard_counts_as_not_editable():
    def guard(policy):
        raise ValidationError("Locked by another app.")

    policy = load(VALID)
    register_edit_guard(guard)
    try:
        with pytest.raises(PolicyNotEditable, match="Locked by another app"):
            ensure_policy_editable(policy)
    finally:
        unregister_edit_guard(guard)


def test_a_write_refused_by_a_model_signal_rolls_back_the_whole_load():
    # Claims refuses, in a pre_save receiver, changes to versions that settled claims; regions and statistics
    # are written before the version, so they must roll back with it.
    def refuse(sender, instance, **kwargs):
        raise ValidationError("Policy version %(code)s already has settlements.", params={"code": instance.code})

    before, history = snapshot(), history_counts()
    pre_save.connect(refuse, sender=PolicyVersion, dispatch_uid="test_policy_files.refuse")
    try:
        with pytest.raises(PolicyFileError) as caught:
            load(VALID)
    finally:
        pre_save.disconnect(sender=PolicyVersion, dispatch_uid="test_policy_files.refuse")
    assert caught.value.messages == [
        f"test-2030.yaml line {line_of(VALID, 'code: test-2030')} code: "
        "Policy version test-2030 already has settlements."]
    assert snapshot() == before and history_counts() == history


# ------------------------------------------------------------------------------------------------------ command

def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_command_loads_named_files(tmp_path):
    out = StringIO()
    call_command("load_policy", write(tmp_path, "test-2030.yaml", VALID), stdout=out)
    assert "test-2030.yaml: policy version test-2030 (黔南州（522700）, 2030-01-01 – 2030-12-31), " \
           "3 subsidy rules, 2 cost-sharing rules" in out.getvalue()
    assert "Loaded 1 policy file(s)." in out.getvalue()


def test_command_rejects_the_whole_run_when_one_file_is_bad(tmp_path):
    good = write(tmp_path, "good.yaml", VALID)
    bad_text = VALID.replace("2030", "2031").replace("value: 90", "value: 900")
    bad = write(tmp_path, "bad.yaml", bad_text)
    before = snapshot()
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match=r"1 problem\(s\) found; nothing was written") as caught:
        call_command("load_policy", good, bad, stdout=out, stderr=err)
    assert caught.value.returncode == 1
    assert err.getvalue().strip() == (
        f"bad.yaml line {line_of(bad_text, 'value: 900')} enrollment.subsidies[2].value: "
        "needs a number between 0 and 100")
    assert out.getvalue() == ""
    assert snapshot() == before  # good.yaml was loaded first, and rolled back with the run


def test_command_reports_unreadable_files(tmp_path):
    with pytest.raises(CommandError):
        call_command("load_policy", str(tmp_path / "missing.yaml"), stdout=StringIO(), stderr=(err := StringIO()))
    assert "missing.yaml: cannot be read" in err.getvalue()


@pytest.mark.parametrize("args", [(), ("--all", "x.yaml")])
def test_command_usage_errors(args):
    with pytest.raises(CommandError):
        call_command("load_policy", *args, stdout=StringIO(), stderr=StringIO())


def test_command_records_the_user(tmp_path):
    user = User.objects.create_user("loader")
    call_command("load_policy", write(tmp_path, "t.yaml", VALID), "--user", "loader", stdout=StringIO())
    assert PolicyVersion.history.filter(code="test-2030").first().history_user == user
    with pytest.raises(CommandError, match="No user named nobody"):
        call_command("load_policy", write(tmp_path, "t.yaml", VALID), "--user", "nobody", stdout=StringIO())


def test_command_exit_status(tmp_path, monkeypatch, capsys):
    # run_from_argv is what manage.py runs; it closes connections at the end, which would end the test's
    # transaction, so that one step is left out here.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    good = write(tmp_path, "test-2030.yaml", VALID)
    bad = write(tmp_path, "bad.yaml", "code: [\n")

    LoadPolicyCommand().run_from_argv(["manage.py", "load_policy", good])
    assert "Loaded 1 policy file(s)." in capsys.readouterr().out

    with pytest.raises(SystemExit) as exited:
        LoadPolicyCommand().run_from_argv(["manage.py", "load_policy", bad])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "bad.yaml line 2: not valid YAML or JSON" in err
    assert "nothing was written" in err
