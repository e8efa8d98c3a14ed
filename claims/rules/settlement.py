"""Three-layer settlement arithmetic — 一站式结算 (SPEC §4.2), as pure functions.

No ORM and no Django: the caller resolves policy rows for the claim's visit type, hospital level and the person's
categories into the plain rule values below, passes year-to-date sums, and stores what comes back.

Order of work for one claim (each layer rounded half-up to the fen):

1. special-treatment fixed quota (按病种定额): the part of the total above the quota is borne by the hospital,
   taken first from the out-of-catalog cost, then from the policy-scope cost;
2. out-of-catalog control (目录外费用控制) for poverty targets, on what remains after step 1;
3. basic medical insurance (基本医保), critical-illness insurance (大病保险) and medical assistance (医疗救助), each on
   the policy-scope cost the person still bears after the layers before it;
4. the patient pays the rest (个人自付).

Invariant, to the fen: ``basic + critical + assistance + hospital_borne + patient_pays == total_cost``.

Tilts (倾斜) and the referral rule (黔南医保发〔2019〕36号 二（七）): a tilt of any layer applies only to a claim
that was properly referred (or needed no referral) and whose visit type, hospital level and insurance scheme its
``TiltScope`` covers; otherwise the layer is worked out without it and the slip says which tilt was withheld and why.

起付线连续计算 (粤医保发〔2021〕33号 二（三）12): the year's inpatient deductible level is a running figure like the
critical-illness base; a claim flagged ``deductible_continuous`` is charged only what its deductible exceeds that level.

就高原则 (most favourable rule, never the sum): ``best_basic_rule`` / ``best_critical_rule`` /
``best_assistance_rule`` pick, per layer, the candidate paying the most for this claim; ``settle_best`` does that
for all three layers in order and settles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple, TypeVar

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
ONE = Decimal(1)

Step = tuple[str, str]
"""One line of the printable slip (结算单): (layer name, calculation shown in full)."""

Segment = tuple[Decimal | None, Decimal]
"""A critical-illness band: (upper bound of the amount above the deductible, or None for open-ended; ratio)."""


# ---------------------------------------------------------------------------------------------------------------
# Money helpers
# ---------------------------------------------------------------------------------------------------------------


def round_fen(value: Decimal) -> Decimal:
    """Round to the fen (分), half-up, as every layer does."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def _money(name: str, value: object, *, signed: bool = False) -> None:
    """Reject floats and sub-fen amounts: the invariant only holds exactly for fen-exact Decimals."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"{name} must be a finite Decimal, got {value!r}")
    if not signed and value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    if value != value.quantize(FEN):
        raise ValueError(f"{name} must be a whole number of fen, got {value}")


def _fraction(name: str, value: object, *, lower: Decimal = ZERO) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"{name} must be a finite Decimal, got {value!r}")
    if not lower <= value <= ONE:
        raise ValueError(f"{name} must lie between {lower} and 1, got {value}")


def _clamp_ratio(value: Decimal) -> Decimal:
    return min(ONE, max(ZERO, value))


def _yuan(value: Decimal) -> str:
    """Show fen-exact amounts with two decimals and unrounded intermediates in full (6689.375)."""
    if value == value.quantize(FEN):
        return f"{value.quantize(FEN):f}"
    return f"{value.normalize():f}"


def _pct(ratio: Decimal) -> str:
    return f"{(ratio * 100).normalize():f}%"


def _rounded(raw: Decimal) -> str:
    """'= raw' when exact, '= raw → rounded' when rounding changed it, as on the slip."""
    rounded = round_fen(raw)
    return f"= {_yuan(raw)}" if raw == rounded else f"= {_yuan(raw)} → {_yuan(rounded)}"


def _with_label(label: str, text: str) -> str:
    return f"[{label}] {text}" if label else text


# ---------------------------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TiltScope:
    """Where a category tilt applies (SPEC §4.2; 渝乡振发〔2022〕15号 问题三: "区县级医院基本医保住院"). Each set holds
    the codes the tilt is limited to; an empty set means no limit. ``description`` names the limits on the slip."""

    visit_types: frozenset[str] = frozenset()
    hospital_levels: frozenset[str] = frozenset()
    schemes: frozenset[str] = frozenset()
    description: str = ""

    def covers(self, claim: ClaimInput) -> bool:
        return all(
            not allowed or value in allowed
            for allowed, value in (
                (self.visit_types, claim.visit_type),
                (self.hospital_levels, claim.hospital_level),
                (self.schemes, claim.scheme),
            )
        )


REFERRAL_MISSING = "未按规定转诊，不享受倾斜"


def tilt_withheld(rule: BasicLayerRule | CriticalIllnessRule, claim: ClaimInput) -> str | None:
    """Why ``rule``'s tilt does not apply to ``claim`` (slip wording), or None when it applies or there is none."""
    if not rule.has_tilt:
        return None
    if not claim.properly_referred:
        return REFERRAL_MISSING
    if rule.scope is not None and not rule.scope.covers(claim):
        return f"倾斜限{rule.scope.description}，本次不适用"
    return None


@dataclass(frozen=True, slots=True)
class BasicLayerRule:
    """Basic medical insurance (基本医保) for one visit type, hospital level and category.

    ``deductible_delta`` (signed amount), ``ratio_delta_pp`` (signed fraction, 0.05 = +5 pp) and ``cap_removed``
    are a category tilt such as Chongqing's 2021 "两升两降", limited to ``scope`` when given. A claim missing a
    required referral gets no tilt and is paid at ``unreferred_ratio`` when the policy sets one (SPEC §4.2;
    黔南医保发〔2019〕36号 (七)).
    """

    deductible: Decimal
    ratio: Decimal
    annual_cap: Decimal
    unreferred_ratio: Decimal | None = None
    deductible_delta: Decimal = ZERO
    ratio_delta_pp: Decimal = ZERO
    label: str = ""
    scope: TiltScope | None = None
    cap_removed: bool = False

    def __post_init__(self) -> None:
        _money("deductible", self.deductible)
        _fraction("ratio", self.ratio)
        _money("annual_cap", self.annual_cap)
        if self.unreferred_ratio is not None:
            _fraction("unreferred_ratio", self.unreferred_ratio)
        _money("deductible_delta", self.deductible_delta, signed=True)
        _fraction("ratio_delta_pp", self.ratio_delta_pp, lower=-ONE)

    @property
    def has_tilt(self) -> bool:
        return bool(self.deductible_delta or self.ratio_delta_pp or self.cap_removed)

    def terms(self, *, properly_referred: bool, tilt_applies: bool = True) -> tuple[Decimal, Decimal]:
        """(deductible, ratio) in force for a claim, tilt included only for properly referred care in its scope."""
        if not properly_referred:
            ratio = self.ratio if self.unreferred_ratio is None else self.unreferred_ratio
            return self.deductible, ratio
        if not tilt_applies:
            return self.deductible, self.ratio
        return max(ZERO, self.deductible + self.deductible_delta), _clamp_ratio(self.ratio + self.ratio_delta_pp)


@dataclass(frozen=True, slots=True)
class CriticalIllnessRule:
    """Critical-illness insurance (大病保险): annual, cumulative, paid by segments above a deductible.

    Segment bounds are measured on the amount **above the deductible**, not on the raw cumulative base: with the
    SPEC example "60 % up to 100 000, then 70 %" and a deductible of 7 500, the 70 % band starts at a cumulative base
    of 107 500. That reading keeps the bands the same width whatever the category's deductible reduction.

    Category tilts: ``deductible_reduction`` (0.5 = −50 %), ``ratio_plus_pp`` (0.05 = +5 pp, every band),
    ``ratio_floor`` (every band at least this), ``cap_removed``. ``annual_cap`` None means no cap.
    """

    deductible: Decimal
    segments: tuple[Segment, ...]
    annual_cap: Decimal | None = None
    deductible_reduction: Decimal = ZERO
    ratio_plus_pp: Decimal = ZERO
    ratio_floor: Decimal | None = None
    cap_removed: bool = False
    label: str = ""
    scope: TiltScope | None = None

    def __post_init__(self) -> None:
        _money("deductible", self.deductible)
        if self.annual_cap is not None:
            _money("annual_cap", self.annual_cap)
        _fraction("deductible_reduction", self.deductible_reduction)
        _fraction("ratio_plus_pp", self.ratio_plus_pp)
        if self.ratio_floor is not None:
            _fraction("ratio_floor", self.ratio_floor)
        _check_segments(self.segments)

    @property
    def has_tilt(self) -> bool:
        return bool(self.deductible_reduction or self.ratio_plus_pp or self.ratio_floor is not None
                    or self.cap_removed)

    def untilted(self) -> CriticalIllnessRule:
        """The general rule this tilt was built on: what a claim gets when the tilt is withheld."""
        return CriticalIllnessRule(
            deductible=self.deductible, segments=self.segments, annual_cap=self.annual_cap, label=self.label)

    def effective(self) -> CriticalIllnessRule:
        """The same rule with its category tilt applied and the tilt fields cleared."""
        floor = self.ratio_floor if self.ratio_floor is not None else ZERO
        return CriticalIllnessRule(
            deductible=round_fen(self.deductible * (ONE - self.deductible_reduction)),
            segments=tuple(
                (bound, _clamp_ratio(max(ratio + self.ratio_plus_pp, floor))) for bound, ratio in self.segments
            ),
            annual_cap=None if self.cap_removed else self.annual_cap,
            label=self.label,
        )

    def payable(self, cumulative_base: Decimal) -> Decimal:
        """f(x): unrounded amount payable for the year on a cumulative base x, tilt and cap included."""
        return _payable(self.effective(), cumulative_base)


def _payable(effective: CriticalIllnessRule, cumulative_base: Decimal) -> Decimal:
    """``payable`` of a rule whose tilt is already applied (``effective()``), which the layer computes once."""
    paid = _band_total(effective.segments, ZERO, cumulative_base - effective.deductible)
    return paid if effective.annual_cap is None else min(effective.annual_cap, paid)


def _check_segments(segments: tuple[Segment, ...]) -> None:
    if not segments:
        raise ValueError("a critical-illness rule needs at least one segment")
    previous = ZERO
    for index, (bound, ratio) in enumerate(segments):
        _fraction(f"segments[{index}] ratio", ratio)
        is_last = index == len(segments) - 1
        if bound is None:
            if not is_last:
                raise ValueError("only the last segment may be open-ended")
            continue
        if is_last:
            raise ValueError("the last segment must be open-ended (upper bound None); use annual_cap to limit pay")
        _money(f"segments[{index}] upper bound", bound)
        if bound <= previous:
            raise ValueError("segment upper bounds must increase strictly and be positive")
        previous = bound


def _band_total(segments: tuple[Segment, ...], start: Decimal, end: Decimal) -> Decimal:
    return sum((length * ratio for length, ratio in _band_pieces(segments, start, end)), ZERO)


def _band_pieces(segments: tuple[Segment, ...], start: Decimal, end: Decimal) -> list[tuple[Decimal, Decimal]]:
    """Split [start, end) of the amount above the deductible into (length, ratio) pieces, one per band touched."""
    pieces = []
    lower = ZERO
    for bound, ratio in segments:
        upper = end if bound is None else min(bound, end)
        length = upper - max(lower, start)
        if length > 0:
            pieces.append((length, ratio))
        if bound is None or bound >= end:
            break
        lower = bound
    return pieces


@dataclass(frozen=True, slots=True)
class AssistanceRule:
    """Medical assistance (医疗救助) for the person's category.

    ``annual_limit`` is shared by outpatient and inpatient care; ``deductible`` is a yearly amount, consumed across
    claims. Which visit types are covered is decided by the caller (pass None for a claim that is not covered).
    """

    ratio: Decimal
    annual_limit: Decimal
    deductible: Decimal = ZERO
    label: str = ""

    def __post_init__(self) -> None:
        _fraction("ratio", self.ratio)
        _money("annual_limit", self.annual_limit)
        _money("deductible", self.deductible)


# ---------------------------------------------------------------------------------------------------------------
# Claim, year-to-date, result
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimInput:
    """One claim's amounts and flags. Out-of-catalog cost (目录外费用) is the total minus the policy scope.

    ``properly_referred`` is False only when a referral (转诊) was required and is missing (and the policy makes
    tilts depend on it). ``visit_type``, ``hospital_level`` and ``scheme`` are the codes a ``TiltScope`` is matched
    against. ``accrues_deductible``: the basic deductible this claim bears raises the year's inpatient deductible
    level; ``deductible_continuous``: this claim is charged only what its deductible exceeds that level
    (起付线连续计算); ``continuity_withheld`` says on the slip why a person the rule is for does not get it.
    """

    total_cost: Decimal
    policy_scope_cost: Decimal
    is_poverty_target: bool = False
    special_disease_quota: Decimal | None = None
    properly_referred: bool = True
    visit_type: str = ""
    hospital_level: str = ""
    scheme: str = ""
    accrues_deductible: bool = False
    deductible_continuous: bool = False
    continuity_withheld: str = ""

    def __post_init__(self) -> None:
        _money("total_cost", self.total_cost)
        _money("policy_scope_cost", self.policy_scope_cost)
        if self.policy_scope_cost > self.total_cost:
            raise ValueError(f"policy_scope_cost {self.policy_scope_cost} exceeds total_cost {self.total_cost}")
        if self.special_disease_quota is not None:
            _money("special_disease_quota", self.special_disease_quota)

    @property
    def out_of_catalog_cost(self) -> Decimal:
        return self.total_cost - self.policy_scope_cost


@dataclass(frozen=True, slots=True)
class YearToDate:
    """What the person's plan year already holds before this claim (from payment lines)."""

    basic_paid: Decimal = ZERO
    critical_base_cumulative: Decimal = ZERO
    critical_paid: Decimal = ZERO
    assistance_paid: Decimal = ZERO
    assistance_deductible_used: Decimal = ZERO
    basic_deductible_level: Decimal = ZERO

    def __post_init__(self) -> None:
        for item in fields(self):
            _money(item.name, getattr(self, item.name))

    def plus(self, result: SettlementResult) -> YearToDate:
        """The year-to-date after ``result`` is booked."""
        return YearToDate(
            basic_paid=self.basic_paid + result.basic,
            critical_base_cumulative=self.critical_base_cumulative + result.critical_base_contribution,
            critical_paid=self.critical_paid + result.critical,
            assistance_paid=self.assistance_paid + result.assistance,
            assistance_deductible_used=self.assistance_deductible_used + result.assistance_deductible_consumed,
            basic_deductible_level=self.basic_deductible_level + result.basic_deductible_contribution,
        )


@dataclass(frozen=True, slots=True)
class SettlementResult:
    """The split of one claim. Construction checks the invariant, so a result that exists is balanced."""

    total_cost: Decimal
    basic: Decimal
    critical: Decimal
    assistance: Decimal
    hospital_borne_quota: Decimal
    hospital_borne_out_of_catalog: Decimal
    patient_pays: Decimal
    critical_base_contribution: Decimal
    assistance_deductible_consumed: Decimal
    steps: tuple[Step, ...] = ()
    basic_deductible_contribution: Decimal = ZERO

    def __post_init__(self) -> None:
        for item in fields(self):
            if item.name != "steps":
                _money(item.name, getattr(self, item.name))
        parts = self.basic + self.critical + self.assistance + self.hospital_borne + self.patient_pays
        if parts != self.total_cost:
            raise ArithmeticError(f"settlement does not balance: parts {parts} != total {self.total_cost}")

    @property
    def hospital_borne(self) -> Decimal:
        """医院承担: the quota excess plus the out-of-catalog excess."""
        return self.hospital_borne_quota + self.hospital_borne_out_of_catalog


# ---------------------------------------------------------------------------------------------------------------
# Steps before the layers
# ---------------------------------------------------------------------------------------------------------------


class _Remaining(NamedTuple):
    """The claim after the quota: what the layers and the out-of-catalog control work on."""

    total: Decimal
    policy_scope: Decimal
    out_of_catalog: Decimal
    hospital_borne: Decimal
    step: Step | None


def _apply_quota(claim: ClaimInput) -> _Remaining:
    """按病种定额: the excess over the quota comes out of the out-of-catalog cost first, as the SPEC orders."""
    quota = claim.special_disease_quota
    if quota is None or claim.total_cost <= quota:
        return _Remaining(claim.total_cost, claim.policy_scope_cost, claim.out_of_catalog_cost, ZERO, None)
    excess = claim.total_cost - quota
    from_catalog_excluded = min(excess, claim.out_of_catalog_cost)
    from_scope = excess - from_catalog_excluded
    step = (
        "按病种定额",
        (
            f"{_yuan(claim.total_cost)} − 定额 {_yuan(quota)} = {_yuan(excess)} 由医院承担"
            f"（目录外 {_yuan(from_catalog_excluded)}，政策范围内 {_yuan(from_scope)}）"
        ),
    )
    return _Remaining(
        total=quota,
        policy_scope=claim.policy_scope_cost - from_scope,
        out_of_catalog=claim.out_of_catalog_cost - from_catalog_excluded,
        hospital_borne=excess,
        step=step,
    )


class _Layer(NamedTuple):
    amount: Decimal
    step: Step


def _out_of_catalog_excess(remaining: _Remaining, *, limit: Decimal | None, applies: bool) -> _Layer | None:
    """目录外费用控制: a poverty target's out-of-catalog share above ``limit`` is borne by the hospital."""
    if not applies or limit is None:
        return None
    _fraction("out_of_catalog_limit", limit)
    raw = remaining.out_of_catalog - limit * remaining.total
    if raw <= 0:
        detail = f"目录外 {_yuan(remaining.out_of_catalog)} 未超过 {_pct(limit)} × {_yuan(remaining.total)} → 0.00"
        return _Layer(ZERO, ("目录外费用控制", detail))
    detail = f"{_yuan(remaining.out_of_catalog)} − {_pct(limit)} × {_yuan(remaining.total)} {_rounded(raw)} 由医院承担"
    return _Layer(round_fen(raw), ("目录外费用控制", detail))


# ---------------------------------------------------------------------------------------------------------------
# The three layers
# ---------------------------------------------------------------------------------------------------------------


def _cap_note(cap: Decimal, paid: Decimal, amount: Decimal, *, name: str = "年度封顶") -> str:
    return f"；{name} {_yuan(cap)}，已付 {_yuan(paid)}，本次限 {_yuan(amount)}"


def _withheld_note(claim: ClaimInput, rules: Iterable[BasicLayerRule | CriticalIllnessRule]) -> str:
    """'（未按规定转诊，不享受倾斜：低保对象倾斜、特困人员倾斜）' for the tilts among ``rules`` this claim cannot have,
    grouped by reason; '' when there are none."""
    by_reason: dict[str, list[str]] = {}
    for rule in rules:
        reason = tilt_withheld(rule, claim)
        if reason is not None:
            labels = by_reason.setdefault(reason, [])
            if rule.label and rule.label not in labels:
                labels.append(rule.label)
    if not by_reason:
        return ""
    return "（" + "；".join(
        f"{reason}：{'、'.join(labels)}" if labels else reason for reason, labels in by_reason.items()) + "）"


def _applied_note(rule: BasicLayerRule | CriticalIllnessRule, claim: ClaimInput) -> str:
    """'（倾斜限县级/二级医院·住院，本次适用）' for a limited tilt this claim gets; '' otherwise."""
    if rule.has_tilt and rule.scope is not None and tilt_withheld(rule, claim) is None:
        return f"（倾斜限{rule.scope.description}，本次适用）"
    return ""


def _basic_layer(
    rule: BasicLayerRule | None, claim: ClaimInput, *, scope: Decimal, ytd: YearToDate, withheld: str
) -> tuple[_Layer, Decimal]:
    """Returns the layer and what this claim adds to the year's inpatient deductible level."""
    if rule is None:
        return _Layer(ZERO, ("基本医保", "不适用 → 0.00")), ZERO
    referred = claim.properly_referred
    tilt_applies = tilt_withheld(rule, claim) is None
    deductible, ratio = rule.terms(properly_referred=referred, tilt_applies=tilt_applies)
    referral_note = _applied_note(rule, claim) + (withheld or ("" if referred else f"（{REFERRAL_MISSING}）"))
    if claim.continuity_withheld:
        referral_note += f"（起付线连续计算不适用：{claim.continuity_withheld}）"
    level = ytd.basic_deductible_level
    charged = deductible
    continuity = ""
    if claim.deductible_continuous:
        charged = max(ZERO, deductible - level)
        continuity = f"起付线连续计算：{_yuan(deductible)} − 本年已付起付线 {_yuan(level)} → {_yuan(charged)}；"
    borne = min(scope, charged)
    # The level is the highest deductible borne this year; a continuous claim tops it up by what it bore (never
    # past its own deductible), any other claim raises it to what it bore when that is higher.
    contribution = ZERO
    if claim.accrues_deductible:
        contribution = borne if claim.deductible_continuous else max(ZERO, borne - level)
    if scope <= charged:
        detail = f"{continuity}政策范围内 {_yuan(scope)} 未超过起付线 {_yuan(charged)} → 0.00{referral_note}"
        return _Layer(ZERO, ("基本医保", _with_label(rule.label, detail))), contribution
    raw = (scope - charged) * ratio
    amount = round_fen(raw)
    detail = f"{continuity}({_yuan(scope)} − {_yuan(charged)}) × {_pct(ratio)} {_rounded(raw)}{referral_note}"
    room = max(ZERO, rule.annual_cap - ytd.basic_paid)
    if amount > room:
        if rule.cap_removed and tilt_applies and referred:
            detail += f"；倾斜不设年度封顶（{_yuan(rule.annual_cap)}）"
        else:
            amount = room
            detail += _cap_note(rule.annual_cap, ytd.basic_paid, amount)
    return _Layer(amount, ("基本医保", _with_label(rule.label, detail))), contribution


def _critical_layer(
    rule: CriticalIllnessRule | None, claim: ClaimInput, *, before: Decimal, contribution: Decimal,
    paid_ytd: Decimal, withheld: str,
) -> _Layer:
    """Annual and cumulative: this claim gets f(cumulative after) − f(cumulative before), rounded once."""
    if rule is None:
        return _Layer(ZERO, ("大病保险", "不适用 → 0.00"))
    effective = (rule if tilt_withheld(rule, claim) is None else rule.untilted()).effective()
    withheld = _applied_note(rule, claim) + withheld
    after = before + contribution
    deductible = effective.deductible
    if after <= deductible:
        detail = f"年度累计 {_yuan(after)} 未超过起付线 {_yuan(deductible)} → 0.00{withheld}"
        return _Layer(ZERO, ("大病保险", _with_label(rule.label, detail)))
    # The slip shows the band arithmetic before any cap, then the cap note, so every printed equation is true.
    uncapped = _band_total(effective.segments, before - deductible, after - deductible)
    amount = round_fen(_payable(effective, after) - _payable(effective, before))
    detail = f"{_critical_formula(effective, before, after)} {_rounded(uncapped)}{withheld}"
    if effective.annual_cap is not None:
        amount = min(amount, max(ZERO, effective.annual_cap - paid_ytd))
        if amount != round_fen(uncapped):
            detail += _cap_note(effective.annual_cap, paid_ytd, amount)
    return _Layer(amount, ("大病保险", _with_label(rule.label, detail)))


def _critical_formula(rule: CriticalIllnessRule, before: Decimal, after: Decimal) -> str:
    """'(13375.00 − 7500.00) × 65%' for one band; 'a × 60% + b × 70%' with the cumulative range when bands cross."""
    pieces = _band_pieces(rule.segments, before - rule.deductible, after - rule.deductible)
    if len(pieces) == 1:
        subtrahend = max(before, rule.deductible)
        return f"({_yuan(after)} − {_yuan(subtrahend)}) × {_pct(pieces[0][1])}"
    bands = " + ".join(f"{_yuan(length)} × {_pct(ratio)}" for length, ratio in pieces)
    return f"年度累计 {_yuan(before)} → {_yuan(after)}，起付线 {_yuan(rule.deductible)}：{bands}"


def _assistance_layer(
    rule: AssistanceRule | None,
    *,
    borne_after_basic: Decimal,
    critical: Decimal,
    ytd: YearToDate,
) -> tuple[_Layer, Decimal]:
    """Returns the layer and the part of the yearly assistance deductible this claim consumed."""
    if rule is None:
        return _Layer(ZERO, ("医疗救助", "不适用 → 0.00")), ZERO
    base = borne_after_basic - critical
    deductible_left = max(ZERO, rule.deductible - ytd.assistance_deductible_used)
    consumed = min(base, deductible_left)
    eligible = base - consumed
    if eligible <= 0:
        detail = f"政策范围内自付 {_yuan(base)} 未超过本年剩余救助起付线 {_yuan(deductible_left)} → 0.00"
        return _Layer(ZERO, ("医疗救助", _with_label(rule.label, detail))), consumed
    raw = eligible * rule.ratio
    amount = round_fen(raw)
    terms = [borne_after_basic] + [part for part in (critical, consumed) if part > 0]
    base_text = _yuan(terms[0]) if len(terms) == 1 else "(" + " − ".join(_yuan(t) for t in terms) + ")"
    detail = f"{base_text} × {_pct(rule.ratio)} {_rounded(raw)}"
    if consumed > 0:
        detail += f"（扣除救助起付线 {_yuan(consumed)}）"
    room = max(ZERO, rule.annual_limit - ytd.assistance_paid)
    if amount > room:
        amount = room
        detail += _cap_note(rule.annual_limit, ytd.assistance_paid, amount, name="年度救助限额（门诊住院共用）")
    return _Layer(amount, ("医疗救助", _with_label(rule.label, detail))), consumed


# ---------------------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------------------


def settle(
    claim: ClaimInput,
    *,
    basic: BasicLayerRule | None,
    critical: CriticalIllnessRule | None,
    assistance: AssistanceRule | None,
    out_of_catalog_limit: Decimal | None,
    ytd: YearToDate,
    basic_candidates: Iterable[BasicLayerRule] = (),
    critical_candidates: Iterable[CriticalIllnessRule] = (),
) -> SettlementResult:
    """Settle one claim through quota, out-of-catalog control and the three layers. A None rule pays 0.

    ``basic_candidates`` / ``critical_candidates``: the rules the layer's rule was chosen from (就高), so that the
    slip names every tilt this claim could not have and why (referral, visit type, hospital level, scheme)."""
    remaining = _apply_quota(claim)
    catalog = _out_of_catalog_excess(remaining, limit=out_of_catalog_limit, applies=claim.is_poverty_target)
    basic_layer, deductible_contribution = _basic_layer(
        basic, claim, scope=remaining.policy_scope, ytd=ytd,
        withheld=_withheld_note(claim, [*basic_candidates, *([basic] if basic else [])]),
    )
    # 大病保险's base is what the person still bears of the policy scope after 基本医保, whatever the rule is,
    # so the yearly cumulative stays right even for claims where the layer does not apply.
    borne_after_basic = remaining.policy_scope - basic_layer.amount
    critical_layer = _critical_layer(
        critical, claim, before=ytd.critical_base_cumulative, contribution=borne_after_basic,
        paid_ytd=ytd.critical_paid,
        withheld=_withheld_note(claim, [*critical_candidates, *([critical] if critical else [])]),
    )
    assistance_layer, deductible_consumed = _assistance_layer(
        assistance, borne_after_basic=borne_after_basic, critical=critical_layer.amount, ytd=ytd
    )
    hospital_catalog = catalog.amount if catalog else ZERO
    patient = (
        claim.total_cost
        - basic_layer.amount
        - critical_layer.amount
        - assistance_layer.amount
        - remaining.hospital_borne
        - hospital_catalog
    )
    patient_step = (
        "个人自付",
        " − ".join(
            _yuan(part)
            for part in (
                claim.total_cost,
                basic_layer.amount,
                critical_layer.amount,
                assistance_layer.amount,
                remaining.hospital_borne + hospital_catalog,
            )
        )
        + f" = {_yuan(patient)}",
    )
    steps = [step for step in (remaining.step, catalog and catalog.step) if step]
    steps += [basic_layer.step, critical_layer.step, assistance_layer.step, patient_step]
    return SettlementResult(
        total_cost=claim.total_cost,
        basic=basic_layer.amount,
        critical=critical_layer.amount,
        assistance=assistance_layer.amount,
        hospital_borne_quota=remaining.hospital_borne,
        hospital_borne_out_of_catalog=hospital_catalog,
        patient_pays=patient,
        critical_base_contribution=borne_after_basic,
        assistance_deductible_consumed=deductible_consumed,
        steps=tuple(steps),
        basic_deductible_contribution=deductible_contribution,
    )


RuleT = TypeVar("RuleT")


def best_of(candidates: Iterable[RuleT], payout: Callable[[RuleT], Decimal]) -> RuleT | None:
    """就高: the candidate with the largest payout (never a sum). Ties keep the earlier candidate; empty → None.

    A sole candidate is the best without working out its payout (most claims have one per layer: a batch of
    10 000 claims spends a third of its engine time otherwise)."""
    candidates = list(candidates)
    if len(candidates) < 2:
        return candidates[0] if candidates else None
    best: RuleT | None = None
    best_payout: Decimal | None = None
    for candidate in candidates:
        amount = payout(candidate)
        if best_payout is None or amount > best_payout:
            best, best_payout = candidate, amount
    return best


def best_basic_rule(
    claim: ClaimInput, candidates: Iterable[BasicLayerRule], *, ytd: YearToDate
) -> BasicLayerRule | None:
    """The 基本医保 variant paying the most for this claim."""
    return best_of(
        candidates,
        lambda rule: (
            settle(claim, basic=rule, critical=None, assistance=None, out_of_catalog_limit=None, ytd=ytd).basic
        ),
    )


def best_critical_rule(
    claim: ClaimInput,
    candidates: Iterable[CriticalIllnessRule],
    *,
    basic: BasicLayerRule | None,
    ytd: YearToDate,
) -> CriticalIllnessRule | None:
    """The 大病保险 variant paying the most for this claim, given the 基本医保 rule already chosen."""
    return best_of(
        candidates,
        lambda rule: (
            settle(claim, basic=basic, critical=rule, assistance=None, out_of_catalog_limit=None, ytd=ytd).critical
        ),
    )


def best_assistance_rule(
    claim: ClaimInput,
    candidates: Iterable[AssistanceRule],
    *,
    basic: BasicLayerRule | None,
    critical: CriticalIllnessRule | None,
    ytd: YearToDate,
) -> AssistanceRule | None:
    """The 医疗救助 variant paying the most for this claim, given the rules chosen for layers 1 and 2."""
    return best_of(
        candidates,
        lambda rule: (
            settle(
                claim, basic=basic, critical=critical, assistance=rule, out_of_catalog_limit=None, ytd=ytd
            ).assistance
        ),
    )


def settle_best(
    claim: ClaimInput,
    *,
    basic_options: Iterable[BasicLayerRule] = (),
    critical_options: Iterable[CriticalIllnessRule] = (),
    assistance_options: Iterable[AssistanceRule] = (),
    out_of_catalog_limit: Decimal | None,
    ytd: YearToDate,
) -> SettlementResult:
    """Pick the most favourable variant layer by layer (就高, in layer order), then settle with those."""
    basic_options, critical_options = list(basic_options), list(critical_options)
    basic = best_basic_rule(claim, basic_options, ytd=ytd)
    critical = best_critical_rule(claim, critical_options, basic=basic, ytd=ytd)
    assistance = best_assistance_rule(claim, assistance_options, basic=basic, critical=critical, ytd=ytd)
    return settle(
        claim,
        basic=basic,
        critical=critical,
        assistance=assistance,
        out_of_catalog_limit=out_of_catalog_limit,
        ytd=ytd,
        basic_candidates=basic_options,
        critical_candidates=critical_options,
    )
