"""Settling a claim (一站式结算) against the database: rule resolution, year-to-date, payment lines (SPEC §4.2).

The arithmetic is ``claims.rules.settlement`` (pure, no ORM). This module decides *which* rules apply to a claim,
reads what the person's year already holds, and books the result as immutable payment lines.

Rule resolution, on the claim's date of service (discharge date for inpatient care, visit date otherwise):

- **Policy version**: the version in force on that date for the claim's region (the person's region recorded on the
  claim) or its nearest ancestor. No version, or a version without benefit settings, is refused.
- **Eligibility**: a person without an enrolment in force on the date (ledger row of that plan year, status 已参保,
  coverage_start or 1 January ≤ date ≤ coverage_end or 31 December) gets **no layer at all**: no basic insurance,
  no critical illness insurance, no assistance, no out-of-catalog control and no quota — the patient pays the whole
  bill. With an enrolment, a category confers benefits only when the person holds an identity of it valid on the
  date.
- **基本医保 (basic)**: the version's rule for the visit type × hospital level (none: the layer pays nothing). The
  untilted rule is always a candidate; each valid category with a basic tilt adds one. A claim missing a required
  referral (Referral.MISSING) is paid at the rule's unreferred ratio and, when the version says tilts need a proper
  referral (the default), without any tilt.
- **大病保险 (critical illness)**: the version's deductible (a fixed amount, or a share of *last year's* per-capita
  disposable income of the claim's region or its nearest ancestor with the figure — Guangdong: 50 %), its segments
  and cap; the general rule plus one tilted candidate per valid category with a critical tilt. Referral does not
  affect this layer. No segments: the layer pays nothing.
- **医疗救助 (assistance)**: one candidate per valid category whose assistance rule covers the visit type.
- **就高**: per layer, in layer order, the candidate paying the most for this claim (``best_*_rule``); ties keep the
  untilted rule, then the category that sorts first.
- **Out-of-catalog control** applies to poverty targets (扶贫对象): a person holding, on the date, a valid identity of
  a category that this version assists (an assistance rule, whatever visit types it covers) or subsidises (a
  contribution subsidy rule of a kind other than none). Plain lifted people without either are not targets.
- **Special-treatment disease quota** (按病种定额): a claim flagged as a special-treatment disease whose diagnosis
  matches one of the version's diseases with a quota; when several match, the most specific code prefix wins.

Concurrency: ``settle_claim`` locks the person's row before it reads the year-to-date sums, so two settlements of
one person are serialised and an annual cap or limit cannot be exceeded (PostgreSQL: ``SELECT … FOR NO KEY
UPDATE``, which still lets other transactions insert rows referring to the person; SQLite: the whole transaction is
serialised by ``transaction_mode=IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from enrollment.models import Enrollment, Identity, IdentityCategory, Person, PolicyVersion, Region
from enrollment.models.choices import FundingSource, Scheme

from ..models import CategoryTilt, Claim, PaymentLine, Settlement, SpecialDisease
from ..models.choices import DeductibleBasis, Layer, Referral, VisitType
from ..models.claims import ClaimStatus
from ..rules.settlement import (
    AssistanceRule,
    BasicLayerRule,
    ClaimInput,
    CriticalIllnessRule,
    SettlementResult,
    TiltScope,
    YearToDate,
    best_assistance_rule,
    best_basic_rule,
    best_critical_rule,
    round_fen,
    settle,
)
from ..selectors import (
    BenefitRules,
    Eligibility,
    benefit_rules,
    eligibility,
    income_statistic,
    policies_for_service,
    year_to_date,
)

__all__ = [
    "CORRECTABLE_FIELDS",
    "SettlementPreview",
    "correct_claim",
    "preview_settlement",
    "reverse_settlement",
    "settle_claim",
]

ONE = Decimal(1)
ZERO = Decimal("0.00")

#: Claim fields a correction may change. Person, region and number identify the claim: a bill booked to the wrong
#: person is reversed and registered again.
CORRECTABLE_FIELDS = frozenset({
    "hospital",
    "hospital_id",
    "visit_type",
    "admitted_on",
    "discharged_on",
    "diagnosis_code",
    "diagnosis_name",
    "is_special_disease",
    "referral",
    "total_cost",
    "policy_scope_cost",
})

_MONEY_LAYERS = (Layer.BASIC, Layer.CRITICAL, Layer.ASSISTANCE, Layer.HOSPITAL, Layer.PATIENT)


@dataclass(frozen=True)
class SettlementPreview:
    """What settling a claim now would book, and why (no writes).

    `funding` maps each money layer to its funding source ("" for the patient's part). The year-to-date `ytd` is
    the one the result was computed from.
    """

    claim: Claim
    service_date: date
    policy: PolicyVersion
    result: SettlementResult
    ytd: YearToDate
    enrollment: Enrollment | None
    is_poverty_target: bool = False
    basic_category: IdentityCategory | None = None
    critical_category: IdentityCategory | None = None
    assistance_category: IdentityCategory | None = None
    identity: Identity | None = None
    special_disease: SpecialDisease | None = None
    funding: dict[str, str] = field(default_factory=dict)

    @property
    def year(self) -> int:
        return self.service_date.year

    @property
    def enrolled(self) -> bool:
        return self.enrollment is not None

    @property
    def steps(self) -> list[list[str]]:
        return [list(step) for step in self.result.steps]

    def lines(self) -> list[tuple[str, Decimal, str]]:
        """(layer, amount, funding source) to book: the five money layers always, so the lines of a settlement add
        up to the claim's total, then the two year-to-date accumulators when they hold something."""
        result = self.result
        amounts = {
            Layer.BASIC: result.basic,
            Layer.CRITICAL: result.critical,
            Layer.ASSISTANCE: result.assistance,
            Layer.HOSPITAL: result.hospital_borne,
            Layer.PATIENT: result.patient_pays,
        }
        rows = [(layer.value, amounts[layer], self.funding.get(layer.value, "")) for layer in _MONEY_LAYERS]
        accumulators = (
            (Layer.CRITICAL_BASE, result.critical_base_contribution),
            (Layer.ASSISTANCE_DEDUCTIBLE, result.assistance_deductible_consumed),
            (Layer.BASIC_DEDUCTIBLE, result.basic_deductible_contribution),
        )
        rows += [(layer.value, amount, "") for layer, amount in accumulators if amount]
        return rows


# ---------------------------------------------------------------------------------------------------------------
# Rule resolution
# ---------------------------------------------------------------------------------------------------------------


def _valid_categories(standing: Eligibility) -> list[tuple[IdentityCategory, Identity]]:
    """Each category the person validly holds once, with the identity that certifies it (latest start wins)."""
    seen: dict[int, tuple[IdentityCategory, Identity]] = {}
    for identity in standing.identities:
        seen.setdefault(identity.category_id, (identity.category, identity))
    return list(seen.values())


def _tilt_label(category: IdentityCategory) -> str:
    return f"{category.name}倾斜"


def _choice_zh(choices, code: str) -> str:
    """A choice's label in Chinese whatever the request's language: steps are stored and printed on the slip."""
    with translation.override("zh-hans"):
        return str(dict(choices.choices)[code])


def _tilt_scope(tilt: CategoryTilt) -> TiltScope | None:
    """The engine's view of the tilt's limits (None without limits), kept on the row: a batch reuses the rows of a
    policy version for thousands of claims."""
    scope = getattr(tilt, "_engine_scope", False)
    if scope is False:
        scope = None
        if tilt.visit_types or tilt.hospital_levels or tilt.schemes:
            with translation.override("zh-hans"):
                description = tilt.limits_text()
            scope = TiltScope(
                visit_types=frozenset(tilt.visit_types), hospital_levels=frozenset(tilt.hospital_levels),
                schemes=frozenset(tilt.schemes), description=description)
        tilt._engine_scope = scope
    return scope


def _province_code(region: Region) -> str:
    """The province of a region: the first two digits of its administrative code (GB/T 2260)."""
    return region.code[:2]


def _continuity(claim: Claim, rules: BenefitRules, held) -> tuple[bool, str]:
    """起付线连续计算 (粤医保发〔2021〕33号 二（三）12) for an inpatient claim: (applies, why not on the slip). Only
    for a person holding a category the version lists, referred (转诊) to a hospital in the claim region's province.
    """
    if not any(category.pk in rules.continuous_deductible_category_ids for category, _ in held):
        return False, ""
    if claim.referral != Referral.REFERRED:
        return False, "未按规定转诊"
    if _province_code(claim.hospital.region) != _province_code(claim.region):
        return False, "省外就医"
    return True, ""


#: Reads a per-capita disposable income figure: (region, year, DeductibleBasis) → amount or None. The batch path
#: passes a memoised ``income_statistic`` so that many claims of one region and year read the figure once.
IncomeLookup = Callable[[Region, int, str], Decimal | None]


def _critical_deductible(rules: BenefitRules, claim: Claim, service_date: date,
                         income_lookup: IncomeLookup | None = None) -> Decimal:
    settings = rules.settings
    if settings.critical_deductible_basis == DeductibleBasis.AMOUNT:
        return round_fen(settings.critical_deductible)
    statistic_year = service_date.year - 1
    income = (income_lookup or income_statistic)(claim.region, statistic_year, settings.critical_deductible_basis)
    if income is None:
        raise ValidationError(
            _(
                "The critical illness deductible of policy %(policy)s is a share of %(year)s per-capita disposable "
                "income (%(basis)s), but neither region %(region)s nor any region above it has that figure."
            ),
            code="income_statistic_missing",
            params={
                "policy": rules.policy,
                "year": statistic_year,
                "basis": settings.get_critical_deductible_basis_display(),
                "region": claim.region,
            },
        )
    return round_fen(income * settings.critical_deductible)


def _special_disease(rules: BenefitRules, claim: Claim) -> SpecialDisease | None:
    if not claim.is_special_disease:
        return None
    code = (claim.diagnosis_code or "").upper().replace(".", "")

    def specificity(disease: SpecialDisease) -> int:
        prefixes = [p.strip().upper().replace(".", "") for p in disease.icd10_prefixes.split(",") if p.strip()]
        return max((len(prefix) for prefix in prefixes if code.startswith(prefix)), default=0)

    matching = [d for d in rules.special_diseases if d.quota is not None and d.matches(claim.diagnosis_code)]
    if not matching:
        return None
    return min(matching, key=lambda disease: (-specificity(disease), disease.code))


def _pick(options: list[tuple[object, object]], chosen: object) -> object:
    """The metadata paired with the candidate the engine chose (by identity: equal rules may differ in meaning)."""
    for rule, meta in options:
        if rule is chosen:
            return meta
    return None


def _engine_rules_error(policy: PolicyVersion, error: Exception) -> ValidationError:
    return ValidationError(
        _("The benefit rules of policy %(policy)s cannot be applied: %(error)s"),
        code="benefit_rules_invalid",
        params={"policy": policy, "error": error},
    )


def _require_policy(claim: Claim, service_date: date, policy: PolicyVersion | None) -> PolicyVersion:
    if policy is None:
        raise ValidationError(
            _("No policy version is in force for region %(region)s on %(date)s; claim %(claim)s cannot be settled."),
            code="no_policy",
            params={"region": claim.region, "date": service_date.isoformat(), "claim": claim.number},
        )
    return policy


def _require_benefit_settings(claim: Claim, rules: BenefitRules) -> BenefitRules:
    if rules.settings is None:
        raise ValidationError(
            _("Policy version %(policy)s has no benefit settings; claim %(claim)s cannot be settled."),
            code="no_benefit_settings",
            params={"policy": rules.policy, "claim": claim.number},
        )
    return rules


def _resolve(claim: Claim, *, exclude_own_lines: bool) -> SettlementPreview:
    service_date = claim.service_date
    policy = _require_policy(
        claim, service_date, policies_for_service([(claim.region, service_date)])[(claim.region.pk, service_date)])
    rules = _require_benefit_settings(claim, benefit_rules(policy, with_special_diseases=claim.is_special_disease))
    standing = eligibility(claim.person_id, service_date)
    ytd = year_to_date(
        claim.person_id, service_date.year, exclude_claim_id=claim.pk if exclude_own_lines and claim.pk else None)
    return _resolve_checked(claim, policy=policy, rules=rules, standing=standing, ytd=ytd)


def _resolve_checked(
    claim: Claim, *, policy: PolicyVersion, rules: BenefitRules, standing: Eligibility, ytd: YearToDate,
    income_lookup: IncomeLookup | None = None,
) -> SettlementPreview:
    """Resolve and settle `claim` from rows already read (the policy in force and its benefit settings checked);
    shared by ``settle_claim`` and the batch path (``claims.services.batch_settlement``)."""
    try:
        return _resolve_layers(
            claim, policy=policy, rules=rules, standing=standing, ytd=ytd, income_lookup=income_lookup)
    except (TypeError, ValueError) as error:
        raise _engine_rules_error(policy, error) from error


def _resolve_layers(
    claim: Claim, *, policy: PolicyVersion, rules: BenefitRules, standing: Eligibility, ytd: YearToDate,
    income_lookup: IncomeLookup | None = None,
) -> SettlementPreview:
    settings = rules.settings
    service_date = standing.on
    common = {"claim": claim, "service_date": service_date, "policy": policy, "ytd": ytd}
    if not standing.enrolled:
        bill = ClaimInput(total_cost=claim.total_cost, policy_scope_cost=claim.policy_scope_cost)
        result = settle(bill, basic=None, critical=None, assistance=None, out_of_catalog_limit=None, ytd=ytd)
        note = ("参保资格", f"{service_date.isoformat()} 无有效参保记录，各项待遇不予支付，费用由个人承担")
        # Costs borne while uninsured do not count towards the year's critical illness base either.
        result = replace(result, critical_base_contribution=ZERO, steps=(note, *result.steps))
        return SettlementPreview(result=result, enrollment=None, **common)

    held = _valid_categories(standing)
    referred = claim.referral != Referral.MISSING
    tilts_allowed = referred or not settings.tilt_requires_referral
    scheme = standing.enrollment.scheme

    # Tilted candidates are built even when the referral rule withholds them: the engine then works the claim out
    # without them and names them on the slip (黔南 二（七）), for every layer alike.
    basic_options: list[tuple[BasicLayerRule, IdentityCategory | None]] = []
    row = rules.basic_rule(claim.visit_type, claim.hospital.level, scheme)
    if row is not None:
        # When tilts survive a missing referral, the unreferred ratio becomes the base the tilt is added to.
        base_ratio = row.ratio
        if not referred and tilts_allowed and row.unreferred_ratio is not None:
            base_ratio = row.unreferred_ratio
        unreferred_label = "未按规定转诊" if not referred and tilts_allowed else ""
        scheme_label = _choice_zh(Scheme, row.scheme) if row.scheme else ""
        basic_options.append((BasicLayerRule(
            deductible=row.deductible, ratio=base_ratio, annual_cap=settings.basic_annual_cap,
            unreferred_ratio=row.unreferred_ratio, label=" ".join(filter(None, (scheme_label, unreferred_label))),
        ), None))
        for category, _identity in held:
            tilt = rules.tilt(Layer.BASIC, category.pk)
            if tilt is None:
                continue
            target = base_ratio + tilt.ratio_plus
            if tilt.ratio_floor is not None:
                target = max(target, tilt.ratio_floor)
            basic_options.append((BasicLayerRule(
                deductible=row.deductible, ratio=base_ratio, annual_cap=settings.basic_annual_cap,
                unreferred_ratio=row.unreferred_ratio,
                deductible_delta=-round_fen(row.deductible * tilt.deductible_reduction),
                ratio_delta_pp=min(ONE, target) - base_ratio, cap_removed=tilt.cap_removed,
                label=" ".join(filter(None, (scheme_label, _tilt_label(category), unreferred_label))),
                scope=_tilt_scope(tilt),
            ), category))

    critical_options: list[tuple[CriticalIllnessRule, IdentityCategory | None]] = []
    if rules.segments:
        deductible = _critical_deductible(rules, claim, service_date, income_lookup)
        segments = tuple((segment.upper_bound, segment.ratio) for segment in rules.segments)
        general = {"deductible": deductible, "segments": segments, "annual_cap": settings.critical_annual_cap}
        critical_options.append((CriticalIllnessRule(**general), None))
        for category, _identity in held:
            tilt = rules.tilt(Layer.CRITICAL, category.pk)
            if tilt is None:
                continue
            critical_options.append((CriticalIllnessRule(
                **general, deductible_reduction=tilt.deductible_reduction, ratio_plus_pp=tilt.ratio_plus,
                ratio_floor=tilt.ratio_floor, cap_removed=tilt.cap_removed, label=_tilt_label(category),
                scope=_tilt_scope(tilt),
            ), category))

    assistance_options: list[tuple[AssistanceRule, tuple]] = []
    for category, _identity in held:
        assisted = rules.assistance.get(category.pk)
        if assisted is None or not assisted.covers(claim.visit_type):
            continue
        assistance_options.append((AssistanceRule(
            ratio=assisted.ratio, annual_limit=assisted.annual_limit, deductible=assisted.deductible,
            label=category.name,
        ), (category, assisted)))

    is_poverty_target = any(
        category.pk in rules.assistance or category.pk in rules.subsidised_category_ids for category, _ in held)
    disease = _special_disease(rules, claim)
    inpatient = claim.visit_type == VisitType.INPATIENT
    continuous, continuity_withheld = _continuity(claim, rules, held) if inpatient else (False, "")
    bill = ClaimInput(
        total_cost=claim.total_cost,
        policy_scope_cost=claim.policy_scope_cost,
        is_poverty_target=is_poverty_target,
        special_disease_quota=disease.quota if disease else None,
        properly_referred=tilts_allowed,
        visit_type=claim.visit_type,
        hospital_level=claim.hospital.level,
        scheme=scheme,
        accrues_deductible=inpatient,
        deductible_continuous=continuous,
        continuity_withheld=continuity_withheld,
    )
    basic = best_basic_rule(bill, [rule for rule, _ in basic_options], ytd=ytd)
    critical = best_critical_rule(bill, [rule for rule, _ in critical_options], basic=basic, ytd=ytd)
    assistance = best_assistance_rule(
        bill, [rule for rule, _ in assistance_options], basic=basic, critical=critical, ytd=ytd)
    result = settle(
        bill, basic=basic, critical=critical, assistance=assistance,
        out_of_catalog_limit=settings.out_of_catalog_limit, ytd=ytd,
        basic_candidates=[rule for rule, _ in basic_options],
        critical_candidates=[rule for rule, _ in critical_options],
    )

    basic_category = _pick(basic_options, basic)
    critical_category = _pick(critical_options, critical)
    assistance_choice = _pick(assistance_options, assistance)
    assistance_category, assistance_row = assistance_choice or (None, None)
    identities = {category.pk: identity for category, identity in held}
    applied = assistance_category or critical_category or basic_category
    return SettlementPreview(
        result=result,
        enrollment=standing.enrollment,
        is_poverty_target=is_poverty_target,
        basic_category=basic_category,
        critical_category=critical_category,
        assistance_category=assistance_category,
        identity=identities[applied.pk] if applied else None,
        special_disease=disease,
        funding={
            Layer.BASIC.value: settings.funding_basic,
            Layer.CRITICAL.value: settings.funding_critical,
            Layer.ASSISTANCE.value: assistance_row.funding_source if assistance_row else "",
            Layer.HOSPITAL.value: FundingSource.HOSPITAL.value,
            Layer.PATIENT.value: "",
        },
        **common,
    )


# ---------------------------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------------------------


def preview_settlement(*, claim: Claim) -> SettlementPreview:
    """What `claim` (as given, saved or not) would settle to now. Writes nothing and takes no lock.

    The claim's own payment lines are left out of the year-to-date, so previewing a settled claim shows what a
    correction would book.
    """
    return _resolve(claim, exclude_own_lines=True)


def _lock_person(person_id: int) -> None:
    """Serialise every settlement of one person (see the module docstring)."""
    no_key = connection.features.has_select_for_no_key_update
    list(Person.objects.select_for_update(no_key=no_key).filter(pk=person_id).order_by().values_list("pk", flat=True))


def _refuse_unsettleable(claim: Claim, *, has_live_settlement: bool) -> None:
    """Refuse a claim that is settled already (by its status or a live settlement) or rejected."""
    if claim.status == ClaimStatus.SETTLED or has_live_settlement:
        raise ValidationError(
            _("Claim %(claim)s is already settled; correct or reverse its settlement instead."),
            code="already_settled", params={"claim": claim.number})
    if claim.status == ClaimStatus.REJECTED:
        raise ValidationError(
            _("Claim %(claim)s was rejected and cannot be settled."), code="rejected", params={"claim": claim.number})


def _booking(claim: Claim, preview: SettlementPreview, *, by) -> tuple[dict, list[dict]]:
    """What to book for `preview`, as column values (attnames): the settlement row, and its payment lines without
    the settlement's id, which the writer adds once the settlement has one. Plain values rather than model
    instances, so that a batch can write thousands of them without building any (``batch_settlement``)."""
    result = preview.result
    settlement = {
        "claim_id": claim.pk,
        "policy_id": preview.policy.pk,
        "year": preview.year,
        "basic": result.basic,
        "critical": result.critical,
        "assistance": result.assistance,
        "hospital_borne": result.hospital_borne,
        "patient_pays": result.patient_pays,
        "basic_category_id": preview.basic_category.pk if preview.basic_category else None,
        "critical_category_id": preview.critical_category.pk if preview.critical_category else None,
        "assistance_category_id": preview.assistance_category.pk if preview.assistance_category else None,
        "identity_id": preview.identity.pk if preview.identity else None,
        "steps": preview.steps,
        "created_by_id": by.pk if by is not None else None,
    }
    lines = [
        {"claim_id": claim.pk, "person_id": claim.person_id, "year": preview.year, "layer": layer, "amount": amount,
         "funding_source": funding}
        for layer, amount, funding in preview.lines()
    ]
    return settlement, lines


def _settle_locked(claim: Claim, *, by) -> Settlement:
    """Settle `claim` as stored; the caller holds the person's lock inside a transaction."""
    fresh = Claim.objects.select_related("hospital__region", "region").get(pk=claim.pk)
    _refuse_unsettleable(fresh, has_live_settlement=fresh.status == ClaimStatus.SETTLED
                         or fresh.settlements.filter(reversed_at__isnull=True).exists())
    preview = _resolve(fresh, exclude_own_lines=False)
    settlement_values, line_values = _booking(fresh, preview, by=by)
    settlement = Settlement.objects.create(**settlement_values)
    PaymentLine.objects.bulk_create([PaymentLine(settlement=settlement, **line) for line in line_values])
    fresh.status = ClaimStatus.SETTLED
    fresh._history_user = by
    fresh.save(update_fields=["status"])
    claim.status = fresh.status
    return settlement


def settle_claim(*, claim: Claim, by) -> Settlement:
    """Settle a registered claim through the three layers and book its payment lines, in one transaction.

    The claim is settled as stored in the database. Refused (ValidationError) when the claim is already settled or
    rejected, when no policy version is in force on its date of service, or when that version has no benefit
    settings.
    """
    with transaction.atomic():
        _lock_person(claim.person_id)
        return _settle_locked(claim, by=by)


def _reverse_locked(settlement: Settlement, *, by, reason: str) -> Settlement:
    if not (reason or "").strip():
        raise ValidationError(_("Give the reason for the reversal."), code="reason_required")
    settlement = Settlement.objects.select_related("claim").get(pk=settlement.pk)
    if settlement.reversed_at is not None:
        raise ValidationError(
            _("This settlement of claim %(claim)s was already reversed."),
            code="already_reversed", params={"claim": settlement.claim.number})
    originals = list(settlement.lines.filter(is_reversal=False))
    PaymentLine.objects.bulk_create([
        PaymentLine(
            settlement=settlement, claim_id=line.claim_id, person_id=line.person_id, year=line.year, layer=line.layer,
            amount=-line.amount, funding_source=line.funding_source, is_reversal=True,
        )
        for line in originals
    ])
    settlement.reversed_at = timezone.now()
    settlement.reversed_by = by
    settlement.reversal_reason = reason.strip()
    settlement.save(update_fields=["reversed_at", "reversed_by", "reversal_reason"])
    claim = settlement.claim
    claim.status = ClaimStatus.REGISTERED
    claim._history_user = by
    claim._change_reason = settlement.reversal_reason
    claim.save(update_fields=["status"])
    return settlement


def reverse_settlement(*, settlement: Settlement, by, reason: str) -> Settlement:
    """Reverse a settlement: a negative line for every line it booked, the settlement marked reversed, the claim
    back to registered. Year-to-date sums drop it at once. Returns the reversed settlement."""
    with transaction.atomic():
        _lock_person(settlement.claim.person_id)
        reversed_settlement = _reverse_locked(settlement, by=by, reason=reason)
    settlement.reversed_at = reversed_settlement.reversed_at
    settlement.reversed_by = reversed_settlement.reversed_by
    settlement.reversal_reason = reversed_settlement.reversal_reason
    return reversed_settlement


def correct_claim(*, claim: Claim, by, reason: str, **changes) -> Settlement:
    """Correct a settled claim: reverse its current settlement, apply `changes` (kept in the claim's history with
    `reason`) and settle it again, in one transaction. Returns the new settlement."""
    unknown = sorted(set(changes) - CORRECTABLE_FIELDS)
    if unknown:
        raise ValidationError(
            _("These claim fields cannot be corrected: %(fields)s."), code="field_not_correctable",
            params={"fields": ", ".join(unknown)})
    with transaction.atomic():
        _lock_person(claim.person_id)
        current = Settlement.objects.filter(claim_id=claim.pk, reversed_at__isnull=True).first()
        if current is None:
            raise ValidationError(
                _("Claim %(claim)s has no settlement to correct; settle it instead."),
                code="not_settled", params={"claim": claim.number})
        _reverse_locked(current, by=by, reason=reason)
        fresh = Claim.objects.get(pk=claim.pk)
        for name, value in changes.items():
            setattr(fresh, name, value)
        fresh.full_clean()
        fresh._history_user = by
        fresh._change_reason = reason.strip()
        fresh.save()
        settlement = _settle_locked(fresh, by=by)
    for name in changes:
        setattr(claim, name, getattr(fresh, name))
    claim.status = fresh.status
    return settlement


def refuse_payment_line_delete(sender, instance, **kwargs):
    """pre_delete receiver: also stops ``QuerySet.delete()``, which never calls ``PaymentLine.delete``."""
    raise ValidationError(
        _("Payment lines cannot be deleted; reverse the settlement instead."), code="payment_line_immutable")
