"""Policy files: the dimensions the seeds' rules need (issue 7 §6) — a basic rule per insurance scheme, tilts limited
to hospital levels, visit types and schemes, and the categories whose inpatient deductible counts continuously."""

from decimal import Decimal

import pytest
from django.conf import settings

from claims.models import BasicBenefitRule, BenefitPolicy, CategoryTilt
from claims.models.choices import Layer
from enrollment.models import PolicyVersion
from enrollment.policyfile import PolicyFileError
from enrollment.services.policy import load_policy_document
from tests.factories import category

D = Decimal

DOCUMENT = """\
format: 1
code: dimensions-2024
name: 维度示例
effective_from: 2024-01-01
region: {code: "522700", name: 黔南州, level: prefecture, parents: [{code: "520000", name: 贵州省, level: province}]}
benefits:
  basic:
    annual_cap: 250000
    continuous_deductible_categories: [dibao, tekun]
    rules:
      - {visit_type: inpatient, hospital_level: county, deductible: 500, ratio: 70}
      - {visit_type: inpatient, hospital_level: county, scheme: employee, deductible: 500, ratio: 80}
    tilts:
      - {category: registered_poor, deductible_reduction: 50, ratio_plus: 10, hospital_levels: [county],
         visit_types: [inpatient]}
  critical:
    deductible: 15000
    segments:
      - {ratio: 60}
    tilts:
      - {category: dibao, deductible_reduction: 50, ratio_plus: 5, schemes: [resident_tier1, resident_tier2]}
"""


def load(text: str = DOCUMENT) -> PolicyVersion:
    return load_policy_document(document=text, source_name="dimensions.yaml")


@pytest.mark.django_db
def test_the_dimensions_load():
    policy = load()
    rules = {(r.visit_type, r.hospital_level, r.scheme): r.ratio
             for r in BasicBenefitRule.objects.filter(policy=policy)}
    assert rules == {("inpatient", "county", ""): D("0.70"), ("inpatient", "county", "employee"): D("0.80")}
    basic_tilt = CategoryTilt.objects.get(policy=policy, layer=Layer.BASIC)
    assert (basic_tilt.hospital_levels, basic_tilt.visit_types, basic_tilt.schemes) == (
        ["county"], ["inpatient"], [])
    critical_tilt = CategoryTilt.objects.get(policy=policy, layer=Layer.CRITICAL)
    assert (critical_tilt.hospital_levels, critical_tilt.visit_types, critical_tilt.schemes) == (
        [], [], ["resident_tier1", "resident_tier2"])
    assert basic_tilt.limits_text() == "County / level 2医院·Inpatient"  # tests run in English; the slip in Chinese
    benefits = BenefitPolicy.objects.get(policy=policy)
    assert set(benefits.continuous_deductible_categories.all()) == {category("dibao"), category("tekun")}
    # the categories are kept in the settings' history, like the no-deposit categories
    latest = benefits.history.first()
    assert {row.identitycategory for row in latest.continuous_deductible_categories.all()} == {
        category("dibao"), category("tekun")}


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("scheme: employee, deductible: 500, ratio: 80", "scheme: civil_servant, deductible: 500, ratio: 80",
     "line 12 benefits.basic.rules[2].scheme: 'civil_servant' is not one of"),
    ("scheme: employee, deductible: 500, ratio: 80", "deductible: 500, ratio: 80",
     "line 12 benefits.basic.rules[2]: there is already a rule for inpatient at county hospitals"),
    ("      - {visit_type: inpatient, hospital_level: county, deductible: 500, ratio: 70}\n",
     "      - {visit_type: inpatient, hospital_level: county, scheme: employee, deductible: 500, ratio: 70}\n",
     "line 12 benefits.basic.rules[2]: there is already a rule for inpatient at county hospitals for scheme "
     "employee"),
    ("hospital_levels: [county]", "hospital_levels: [county, moon]",
     "line 14 benefits.basic.tilts[1].hospital_levels[2]: 'moon' is not one of"),
    ("visit_types: [inpatient]", "visit_types: [inpatient, inpatient]",
     "line 15 benefits.basic.tilts[1].visit_types: a code is listed twice"),
    ("hospital_levels: [county]", "hospital_levels: county",
     "line 14 benefits.basic.tilts[1].hospital_levels: needs a list"),
    ("schemes: [resident_tier1, resident_tier2]", "schemes: [resident]",
     "benefits.critical.tilts[1].schemes[1]: 'resident' is not one of"),
    ("continuous_deductible_categories: [dibao, tekun]", "continuous_deductible_categories: [dibao, dibao]",
     "line 9 benefits.basic.continuous_deductible_categories[2]: category 'dibao' is listed twice"),
    ("continuous_deductible_categories: [dibao, tekun]", "continuous_deductible_categories: [poor]",
     "line 9 benefits.basic.continuous_deductible_categories[1]: unknown identity category 'poor'"),
])
@pytest.mark.django_db
def test_bad_dimensions_are_refused_with_line_and_field(old, new, expected):
    assert old in DOCUMENT
    with pytest.raises(PolicyFileError) as caught:
        load(DOCUMENT.replace(old, new, 1))
    assert any(expected in message for message in caught.value.messages), caught.value.messages
    assert not PolicyVersion.objects.exists()


@pytest.mark.django_db
def test_a_critical_layer_without_annual_cap_is_loaded_not_dropped():
    # An absent annual_cap means no cap; it used to make the whole benefits section vanish without a message.
    policy = load()
    assert BenefitPolicy.objects.get(policy=policy).critical_annual_cap is None


@pytest.mark.django_db
def test_the_documented_example_loads():
    """docs/policy-files.md §7.1's block, under a header, is a valid file holding what its comments say."""
    docs = (settings.BASE_DIR / "docs" / "policy-files.md").read_text(encoding="utf-8")
    section = docs[docs.index("### 7.1"):]
    block = section[section.index("```yaml\n") + len("```yaml\n"):section.index("```\n", section.index("```yaml"))]
    header = DOCUMENT[:DOCUMENT.index("benefits:\n")]
    policy = load(header + block)
    assert set(BenefitPolicy.objects.get(policy=policy).continuous_deductible_categories
               .values_list("code", flat=True)) == {"dibao", "tekun"}
    assert BasicBenefitRule.objects.get(policy=policy, scheme="employee").ratio == D("0.80")
    tilt = CategoryTilt.objects.get(policy=policy)
    assert (tilt.hospital_levels, tilt.visit_types) == (["county"], ["inpatient"])
