"""The ``benefits:`` section of policy files (政策文件 待遇段落): the three layers as data (SPEC §4.2).

Field by field in ``docs/policy-benefits.md``. Parsed with the enrolment app's :class:`NodeReader`, so problems are
reported with the file's line and the field's path like every other section; written by the loader of
``enrollment.services.policy`` in its transaction. Both are registered from ``ClaimsConfig.ready`` (enrollment
never imports claims).

Ratios, shares and reductions are written as **percentages** (``ratio: 75`` is 75 %, ``ratio_plus: 5`` is +5 points)
with at most two decimals, so every value in the file is exact and fits the 4-decimal fraction columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from enrollment.models import IdentityCategory, PolicyVersion
from enrollment.models.choices import FundingSource, Scheme
from enrollment.policyfile import MAX_AMOUNT, NodeReader, ParseContext, item, join, register_section
from enrollment.services.policy import register_section_writer

from .models import (
    AssistanceBenefitRule,
    BasicBenefitRule,
    BenefitPolicy,
    CategoryTilt,
    CriticalSegment,
    SpecialDisease,
)
from .models.choices import DeductibleBasis, HospitalLevel, Layer, VisitType

__all__ = [
    "AssistanceSpec",
    "BasicRuleSpec",
    "BenefitsSection",
    "SegmentSpec",
    "SpecialDiseaseSpec",
    "TiltSpec",
    "parse_benefits",
    "register_benefits_section",
]

SECTION = "benefits"
HUNDRED = Decimal(100)
ZERO = Decimal(0)
_INCOME_BASES = {
    DeductibleBasis.INCOME_ALL.value: DeductibleBasis.INCOME_ALL.label,
    DeductibleBasis.INCOME_RURAL.value: DeductibleBasis.INCOME_RURAL.label,
    DeductibleBasis.INCOME_URBAN.value: DeductibleBasis.INCOME_URBAN.label,
}
_DEFAULT_COVERS = (VisitType.INPATIENT.value, VisitType.CHRONIC.value)


@dataclass(frozen=True)
class BasicRuleSpec:
    visit_type: str
    hospital_level: str
    deductible: Decimal
    ratio: Decimal  # fractions from here on: 0.75, not 75
    unreferred_ratio: Decimal | None = None
    scheme: str = ""  # "": every scheme without a rule of its own


@dataclass(frozen=True)
class TiltSpec:
    category: str
    deductible_reduction: Decimal = ZERO
    ratio_plus: Decimal = ZERO
    ratio_floor: Decimal | None = None
    cap_removed: bool = False
    # limits (empty: none): the tilt applies only to these hospital levels, visit types and schemes
    hospital_levels: tuple[str, ...] = ()
    visit_types: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()


#: A tilt's optional limits: file key → the choices its codes come from.
_TILT_LIMITS = {"hospital_levels": HospitalLevel, "visit_types": VisitType, "schemes": Scheme}


@dataclass(frozen=True)
class SegmentSpec:
    upper_bound: Decimal | None
    ratio: Decimal


@dataclass(frozen=True)
class AssistanceSpec:
    category: str
    ratio: Decimal
    annual_limit: Decimal
    deductible: Decimal = ZERO
    covers: tuple[str, ...] = _DEFAULT_COVERS
    funding_source: str = FundingSource.MEDICAL_ASSISTANCE.value


@dataclass(frozen=True)
class SpecialDiseaseSpec:
    code: str
    name: str
    icd10: tuple[str, ...]
    quota: Decimal | None = None


@dataclass(frozen=True)
class BenefitsSection:
    """The parsed ``benefits:`` section: one BenefitPolicy row and the rule rows hanging off the version."""

    basic_annual_cap: Decimal
    basic_funding: str
    tilts_need_referral: bool
    basic_rules: tuple[BasicRuleSpec, ...]
    basic_tilts: tuple[TiltSpec, ...]
    continuous_deductible_categories: tuple[str, ...]
    critical_deductible_basis: str
    critical_deductible: Decimal
    critical_annual_cap: Decimal | None
    critical_funding: str
    segments: tuple[SegmentSpec, ...]
    critical_tilts: tuple[TiltSpec, ...]
    assistance: tuple[AssistanceSpec, ...]
    out_of_catalog_limit: Decimal | None
    special_diseases: tuple[SpecialDiseaseSpec, ...]
    no_deposit_categories: tuple[str, ...]
    settings: dict[str, Any]  # SLA days and the advance ratio: BenefitPolicy field → value


class _Parser:
    """One ``benefits:`` section; every reader returns None after recording its problem, and parsing goes on."""

    def __init__(self, reader: NodeReader, context: ParseContext):
        self.reader = reader
        self.context = context
        self.ok = True

    def _keep(self, value):
        if value is None:
            self.ok = False
        return value

    def amount(self, node, path: str) -> Decimal | None:
        return self._keep(self.reader.decimal(node, path, minimum=ZERO, maximum=MAX_AMOUNT))

    def percent(self, node, path: str) -> Decimal | None:
        value = self._keep(self.reader.percent(node, path))
        return None if value is None else value / HUNDRED

    def boolean(self, node, path: str) -> bool | None:
        return self._keep(self.reader.boolean(node, path))

    def funding(self, node, path: str) -> str | None:
        return self._keep(self.reader.choice(node, path, dict(FundingSource.choices)))

    def category(self, node, path: str) -> str | None:
        return self._keep(self.reader.category(node, path, self.context.known_categories))

    def mapping(self, node, path: str, **kwargs) -> dict | None:
        return self._keep(self.reader.mapping(node, path, **kwargs))

    def sequence(self, node, path: str) -> list:
        return self._keep(self.reader.sequence(node, path)) or []

    def problem(self, node, path: str, message: str) -> None:
        self.reader.problem(node, path, message)
        self.ok = False

    # -- pieces

    def tilts(self, node, path: str) -> tuple[TiltSpec, ...]:
        specs: list[TiltSpec] = []
        for index, entry in enumerate(self.sequence(node, path)):
            entry_path = item(path, index)
            fields = self.mapping(entry, entry_path, required=("category",), optional=(
                "deductible_reduction", "ratio_plus", "ratio_floor", "cap_removed", *_TILT_LIMITS))
            if not fields or "category" not in fields:
                continue
            code = self.category(fields["category"], join(entry_path, "category"))
            values = {
                name: self.percent(fields[name], join(entry_path, name))
                for name in ("deductible_reduction", "ratio_plus", "ratio_floor") if name in fields
            }
            if "cap_removed" in fields:
                values["cap_removed"] = self.boolean(fields["cap_removed"], join(entry_path, "cap_removed"))
            for name, choices in _TILT_LIMITS.items():
                if name in fields:
                    values[name] = self.choice_list(fields[name], join(entry_path, name), choices)
            if code is None or None in values.values():
                continue
            if any(spec.category == code for spec in specs):
                self.problem(fields["category"], join(entry_path, "category"),
                             _("category %(code)r already has a tilt on this layer") % {"code": code})
                continue
            specs.append(TiltSpec(category=code, **values))
        return tuple(specs)

    def choice_list(self, node, path: str, choices) -> tuple[str, ...] | None:
        """A list of choice codes, each once; None (problem recorded) when anything is wrong."""
        codes = [
            self._keep(self.reader.choice(entry, item(path, index), dict(choices.choices)))
            for index, entry in enumerate(self.sequence(node, path))
        ]
        if None in codes:
            return None
        if len(set(codes)) != len(codes):
            self.problem(node, path, _("a code is listed twice"))
            return None
        return tuple(codes)

    def basic(self, node, path: str) -> dict | None:
        fields = self.mapping(node, path, required=("annual_cap",), optional=(
            "funding_source", "tilts_need_referral", "rules", "tilts", "continuous_deductible_categories"))
        if fields is None:
            return None
        result = {
            "basic_annual_cap": self.amount(fields["annual_cap"], join(path, "annual_cap"))
            if "annual_cap" in fields else None,
            "basic_funding": self.funding(fields["funding_source"], join(path, "funding_source"))
            if "funding_source" in fields else FundingSource.BASIC_FUND.value,
            "tilts_need_referral": self.boolean(fields["tilts_need_referral"], join(path, "tilts_need_referral"))
            if "tilts_need_referral" in fields else True,
            "basic_tilts": self.tilts(fields["tilts"], join(path, "tilts")) if "tilts" in fields else (),
            "continuous_deductible_categories": self.category_list(
                fields["continuous_deductible_categories"], join(path, "continuous_deductible_categories"))
            if "continuous_deductible_categories" in fields else (),
        }
        rules: list[BasicRuleSpec] = []
        list_path = join(path, "rules")
        for index, entry in enumerate(self.sequence(fields["rules"], list_path) if "rules" in fields else []):
            entry_path = item(list_path, index)
            rule = self.mapping(entry, entry_path, required=("visit_type", "hospital_level", "deductible", "ratio"),
                                optional=("unreferred_ratio", "scheme"))
            if rule is None or len({"visit_type", "hospital_level", "deductible", "ratio"} - set(rule)):
                self.ok = False
                continue
            visit = self._keep(self.reader.choice(
                rule["visit_type"], join(entry_path, "visit_type"), dict(VisitType.choices)))
            level = self._keep(self.reader.choice(
                rule["hospital_level"], join(entry_path, "hospital_level"), dict(HospitalLevel.choices)))
            deductible = self.amount(rule["deductible"], join(entry_path, "deductible"))
            ratio = self.percent(rule["ratio"], join(entry_path, "ratio"))
            unreferred = self.percent(rule["unreferred_ratio"], join(entry_path, "unreferred_ratio")) \
                if "unreferred_ratio" in rule else None
            scheme = self._keep(self.reader.choice(rule["scheme"], join(entry_path, "scheme"), dict(Scheme.choices))) \
                if "scheme" in rule else ""
            if None in (visit, level, deductible, ratio, scheme) or ("unreferred_ratio" in rule and unreferred is None):
                continue
            if any((r.visit_type, r.hospital_level, r.scheme) == (visit, level, scheme) for r in rules):
                if scheme:
                    message = _("there is already a rule for %(visit)s at %(level)s hospitals for scheme %(scheme)s")
                else:
                    message = _("there is already a rule for %(visit)s at %(level)s hospitals")
                self.problem(entry, entry_path, message % {"visit": visit, "level": level, "scheme": scheme})
                continue
            rules.append(BasicRuleSpec(visit, level, deductible, ratio, unreferred, scheme))
        result["basic_rules"] = tuple(rules)
        return result

    def critical(self, node, path: str) -> dict | None:
        fields = self.mapping(node, path, required=("segments",), optional=(
            "deductible", "deductible_share", "annual_cap", "funding_source", "tilts"))
        if fields is None:
            return None
        result: dict[str, Any] = {
            "critical_annual_cap": self.amount(fields["annual_cap"], join(path, "annual_cap"))
            if "annual_cap" in fields else None,
            "critical_funding": self.funding(fields["funding_source"], join(path, "funding_source"))
            if "funding_source" in fields else FundingSource.CRITICAL_ILLNESS.value,
            "critical_tilts": self.tilts(fields["tilts"], join(path, "tilts")) if "tilts" in fields else (),
        }
        if ("deductible" in fields) == ("deductible_share" in fields):
            self.problem(node, join(path, "deductible"), _(
                "give either a deductible in yuan or a deductible_share of per-capita income, not both"))
        elif "deductible" in fields:
            result["critical_deductible_basis"] = DeductibleBasis.AMOUNT.value
            result["critical_deductible"] = self.amount(fields["deductible"], join(path, "deductible"))
        else:
            share_path = join(path, "deductible_share")
            share = self.mapping(fields["deductible_share"], share_path, required=("of", "percent"))
            if share is not None and {"of", "percent"} <= set(share):
                result["critical_deductible_basis"] = self._keep(
                    self.reader.choice(share["of"], join(share_path, "of"), _INCOME_BASES))
                result["critical_deductible"] = self.percent(share["percent"], join(share_path, "percent"))
            else:
                self.ok = False
        segments: list[SegmentSpec] = []
        list_path = join(path, "segments")
        entries = self.sequence(fields["segments"], list_path) if "segments" in fields else []
        if "segments" in fields and not entries:
            self.problem(fields["segments"], list_path, _("needs at least one segment"))
        previous = ZERO
        for index, entry in enumerate(entries):
            entry_path = item(list_path, index)
            segment = self.mapping(entry, entry_path, required=("ratio",), optional=("up_to",))
            if segment is None or "ratio" not in segment:
                self.ok = False
                continue
            ratio = self.percent(segment["ratio"], join(entry_path, "ratio"))
            bound = self.amount(segment["up_to"], join(entry_path, "up_to")) if "up_to" in segment else None
            is_last = index == len(entries) - 1
            if "up_to" in segment and is_last:
                self.problem(segment["up_to"], join(entry_path, "up_to"), _(
                    "the last segment is open-ended: leave up_to out (use annual_cap to limit the pay)"))
                continue
            if "up_to" not in segment and not is_last:
                self.problem(entry, join(entry_path, "up_to"), _("only the last segment may leave up_to out"))
                continue
            if bound is not None and bound <= previous:
                self.problem(segment["up_to"], join(entry_path, "up_to"), _(
                    "segment bounds must increase (the previous one is %(previous)s)") % {"previous": previous})
                continue
            if ratio is None or ("up_to" in segment and bound is None):
                continue
            previous = bound if bound is not None else previous
            segments.append(SegmentSpec(bound, ratio))
        result["segments"] = tuple(segments)
        return result

    def assistance(self, node, path: str) -> tuple[AssistanceSpec, ...]:
        specs: list[AssistanceSpec] = []
        for index, entry in enumerate(self.sequence(node, path)):
            entry_path = item(path, index)
            fields = self.mapping(entry, entry_path, required=("category", "ratio", "annual_limit"),
                                  optional=("deductible", "covers", "funding_source"))
            if fields is None or {"category", "ratio", "annual_limit"} - set(fields):
                self.ok = False
                continue
            code = self.category(fields["category"], join(entry_path, "category"))
            values: dict[str, Any] = {
                "ratio": self.percent(fields["ratio"], join(entry_path, "ratio")),
                "annual_limit": self.amount(fields["annual_limit"], join(entry_path, "annual_limit")),
            }
            if "deductible" in fields:
                values["deductible"] = self.amount(fields["deductible"], join(entry_path, "deductible"))
            if "funding_source" in fields:
                values["funding_source"] = self.funding(fields["funding_source"], join(entry_path, "funding_source"))
            if "covers" in fields:
                covers_path = join(entry_path, "covers")
                covers = [
                    self._keep(self.reader.choice(visit, item(covers_path, i), dict(VisitType.choices)))
                    for i, visit in enumerate(self.sequence(fields["covers"], covers_path))
                ]
                if len(set(covers)) != len(covers):
                    self.problem(fields["covers"], covers_path, _("a visit type is listed twice"))
                values["covers"] = tuple(covers)
            if code is None or None in values.values() or None in values.get("covers", ()):
                continue
            if any(spec.category == code for spec in specs):
                self.problem(fields["category"], join(entry_path, "category"),
                             _("category %(code)r already has an assistance rule") % {"code": code})
                continue
            specs.append(AssistanceSpec(category=code, **values))
        return tuple(specs)

    def special_diseases(self, node, path: str) -> tuple[SpecialDiseaseSpec, ...]:
        specs: list[SpecialDiseaseSpec] = []
        for index, entry in enumerate(self.sequence(node, path)):
            entry_path = item(path, index)
            fields = self.mapping(entry, entry_path, required=("code", "name", "icd10"), optional=("quota",))
            if fields is None or {"code", "name", "icd10"} - set(fields):
                self.ok = False
                continue
            code = self._keep(self.reader.text(fields["code"], join(entry_path, "code"), max_length=32,
                                               required=True))
            name = self._keep(self.reader.text(fields["name"], join(entry_path, "name"), max_length=100,
                                               required=True))
            icd_path = join(entry_path, "icd10")
            prefixes = [
                self._keep(self.reader.text(prefix, item(icd_path, i), max_length=16, required=True))
                for i, prefix in enumerate(self.sequence(fields["icd10"], icd_path))
            ]
            if "icd10" in fields and not prefixes:
                self.problem(fields["icd10"], icd_path, _("needs at least one ICD-10 code prefix"))
            if len(",".join(p for p in prefixes if p)) > 300:
                self.problem(fields["icd10"], icd_path, _("too many codes (at most 300 characters in all)"))
            quota = self.amount(fields["quota"], join(entry_path, "quota")) if "quota" in fields else None
            if None in (code, name, *prefixes) or ("quota" in fields and quota is None):
                continue
            if any(spec.code == code for spec in specs):
                self.problem(fields["code"], join(entry_path, "code"),
                             _("disease %(code)r is listed twice") % {"code": code})
                continue
            specs.append(SpecialDiseaseSpec(code, name, tuple(p.upper() for p in prefixes), quota))
        return tuple(specs)

    def category_list(self, node, path: str) -> tuple[str, ...]:
        codes: list[str] = []
        for index, entry in enumerate(self.sequence(node, path)):
            code = self.category(entry, item(path, index))
            if code is None:
                continue
            if code in codes:
                self.problem(entry, item(path, index), _("category %(code)r is listed twice") % {"code": code})
                continue
            codes.append(code)
        return tuple(codes)

    def working_days(self, node, path: str) -> dict[str, Any]:
        fields = self.mapping(node, path, optional=(
            "advance_ratio", "advance_working_days", "final_working_days", "manual_working_days"))
        values: dict[str, Any] = {}
        for name in ("advance_working_days", "final_working_days", "manual_working_days"):
            if fields and name in fields:
                values[name] = self._keep(self.reader.integer(fields[name], join(path, name), minimum=1, maximum=365))
        if fields and "advance_ratio" in fields:
            values["advance_ratio"] = self.percent(fields["advance_ratio"], join(path, "advance_ratio"))
        return values


def parse_benefits(reader: NodeReader, node, path: str, context: ParseContext) -> BenefitsSection | None:
    """The ``benefits:`` section, or None (after recording every problem) when anything is wrong."""
    parser = _Parser(reader, context)
    fields = parser.mapping(node, path, required=("basic",), optional=(
        "critical", "assistance", "out_of_catalog_limit", "special_diseases", "no_deposit_categories",
        "settlement_deadlines"))
    if fields is None:
        return None
    basic = parser.basic(fields["basic"], join(path, "basic")) if "basic" in fields else None
    critical = parser.critical(fields["critical"], join(path, "critical")) if "critical" in fields else {
        "critical_deductible_basis": DeductibleBasis.AMOUNT.value, "critical_deductible": ZERO,
        "critical_annual_cap": None, "critical_funding": FundingSource.CRITICAL_ILLNESS.value,
        "segments": (), "critical_tilts": ()}
    assistance = parser.assistance(fields["assistance"], join(path, "assistance")) if "assistance" in fields else ()
    limit = parser.percent(fields["out_of_catalog_limit"], join(path, "out_of_catalog_limit")) \
        if "out_of_catalog_limit" in fields else None
    diseases = parser.special_diseases(fields["special_diseases"], join(path, "special_diseases")) \
        if "special_diseases" in fields else ()
    no_deposit = parser.category_list(fields["no_deposit_categories"], join(path, "no_deposit_categories")) \
        if "no_deposit_categories" in fields else ()
    settings = parser.working_days(fields["settlement_deadlines"], join(path, "settlement_deadlines")) \
        if "settlement_deadlines" in fields else {}
    # An absent critical annual_cap is None by design (no cap); any other None is a value that failed to parse.
    required_critical = {name: value for name, value in (critical or {}).items() if name != "critical_annual_cap"}
    if not parser.ok or basic is None or critical is None or None in basic.values() \
            or None in required_critical.values():
        return None
    if not _plausible(reader, path, basic, critical, assistance):
        return None
    return BenefitsSection(
        **basic, **critical, assistance=assistance, out_of_catalog_limit=limit, special_diseases=diseases,
        no_deposit_categories=no_deposit, settings=settings)


def _plausible(reader: NodeReader, path: str, basic: dict, critical: dict, assistance) -> bool:
    """Caps above deductibles, each problem at the cap's line (the parsed values are all valid by now)."""
    ok = True
    basic_path = join(path, "basic")
    for index, rule in enumerate(basic["basic_rules"]):
        ok &= reader.above(join(item(join(basic_path, "rules"), index), "deductible"), rule.deductible,
                           join(basic_path, "annual_cap"), basic["basic_annual_cap"])
    if critical["critical_deductible_basis"] == DeductibleBasis.AMOUNT.value:
        critical_path = join(path, "critical")
        ok &= reader.above(join(critical_path, "deductible"), critical["critical_deductible"],
                           join(critical_path, "annual_cap"), critical["critical_annual_cap"])
    for index, spec in enumerate(assistance):
        entry_path = item(join(path, "assistance"), index)
        ok &= reader.above(join(entry_path, "deductible"), spec.deductible, join(entry_path, "annual_limit"),
                           spec.annual_limit)
    return ok


# ---------------------------------------------------------------------------------------------------- writing

_RULE_MODELS = (BasicBenefitRule, CriticalSegment, CategoryTilt, AssistanceBenefitRule, SpecialDisease)


def _stamped(instance, ctx):
    instance._history_user = ctx.by
    instance._change_reason = ctx.reason
    return instance


def _clear_benefits(policy: PolicyVersion, ctx) -> None:
    """Delete the version's benefit rows one by one, so each history row names who deleted it and why. The loader
    has already run ``ensure_policy_editable``, so a version with settlements never gets here."""
    for model in (*_RULE_MODELS, BenefitPolicy):
        for row in model.objects.filter(policy=policy):
            _stamped(row, ctx).delete()


def _write_benefits(policy: PolicyVersion, section: BenefitsSection | None, ctx) -> None:
    if section is None:
        return
    categories = {c.code: c for c in IdentityCategory.objects.all()}
    benefits = _stamped(BenefitPolicy(
        policy=policy,
        basic_annual_cap=section.basic_annual_cap,
        critical_deductible_basis=section.critical_deductible_basis,
        critical_deductible=section.critical_deductible,
        critical_annual_cap=section.critical_annual_cap,
        out_of_catalog_limit=section.out_of_catalog_limit,
        tilt_requires_referral=section.tilts_need_referral,
        funding_basic=section.basic_funding,
        funding_critical=section.critical_funding,
        **section.settings,
    ), ctx)
    benefits.save()
    benefits.no_deposit_categories.set([categories[code] for code in section.no_deposit_categories])
    benefits.continuous_deductible_categories.set(
        [categories[code] for code in section.continuous_deductible_categories])

    def create(model, rows):
        bulk_create_with_history(rows, model, default_user=ctx.by, default_change_reason=ctx.reason)

    create(BasicBenefitRule, [
        BasicBenefitRule(policy=policy, visit_type=r.visit_type, hospital_level=r.hospital_level, scheme=r.scheme,
                         deductible=r.deductible, ratio=r.ratio, unreferred_ratio=r.unreferred_ratio)
        for r in section.basic_rules])
    create(CriticalSegment, [
        CriticalSegment(policy=policy, upper_bound=s.upper_bound, ratio=s.ratio) for s in section.segments])
    create(CategoryTilt, [
        CategoryTilt(policy=policy, category=categories[t.category], layer=layer,
                     deductible_reduction=t.deductible_reduction, ratio_plus=t.ratio_plus,
                     ratio_floor=t.ratio_floor, cap_removed=t.cap_removed, hospital_levels=list(t.hospital_levels),
                     visit_types=list(t.visit_types), schemes=list(t.schemes))
        for layer, tilts in ((Layer.BASIC, section.basic_tilts), (Layer.CRITICAL, section.critical_tilts))
        for t in tilts])
    create(AssistanceBenefitRule, [
        AssistanceBenefitRule(
            policy=policy, category=categories[a.category], ratio=a.ratio, annual_limit=a.annual_limit,
            deductible=a.deductible, funding_source=a.funding_source,
            covers_inpatient=VisitType.INPATIENT in a.covers, covers_outpatient=VisitType.OUTPATIENT in a.covers,
            covers_chronic=VisitType.CHRONIC in a.covers)
        for a in section.assistance])
    create(SpecialDisease, [
        SpecialDisease(policy=policy, code=d.code, name=d.name, icd10_prefixes=",".join(d.icd10), quota=d.quota)
        for d in section.special_diseases])


def register_benefits_section() -> None:
    """Add ``benefits:`` to the policy-file format and its writer to the loader (from ``ClaimsConfig.ready``)."""
    register_section(SECTION, parse_benefits, default=lambda: None)
    register_section_writer(SECTION, clear=_clear_benefits, write=_write_benefits)
