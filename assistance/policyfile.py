"""The ``assistance:`` section of policy files (政策文件 救助段落): the apply-to-receive test and special aid as data.

Field by field in ``docs/policy-files.md`` ("assistance"). Parsed with enrollment's :class:`NodeReader`, so
problems carry the file's line and the field's path; written by enrollment's loader in its transaction. Both are
registered from ``AssistanceConfig.ready`` (neither enrollment nor claims imports assistance).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from enrollment.models import PolicyVersion
from enrollment.policyfile import MAX_AMOUNT, NodeReader, ParseContext, item, join, register_section
from enrollment.services.policy import register_section_writer

from .models import AssistancePolicy
from .models.choices import AidFunding, AssetKind, CostBasis, LookBack

SECTION = "assistance"
HUNDRED = Decimal(100)
_STEPS = {"initial_review": "review_working_days", "approval": "approval_working_days",
          "payment": "payment_working_days"}


@dataclass(frozen=True)
class AssistanceSection:
    look_back: str
    look_back_months: int
    income_share: Decimal  # a fraction: 0.60
    asset_cap: Decimal | None
    counted_asset_kinds: tuple[str, ...]
    cost_basis: str
    identity_months: int
    working_days: dict
    special_aid_funding: tuple[str, ...]


def _code_list(reader: NodeReader, node, path: str, choices: dict) -> tuple[list[str], bool]:
    codes: list[str] = []
    ok = True
    entries = reader.sequence(node, path)
    if entries is None:
        return codes, False
    for index, entry in enumerate(entries):
        code = reader.choice(entry, item(path, index), choices)
        if code is None:
            ok = False
        elif code in codes:
            reader.problem(entry, item(path, index), _("%(code)r is listed twice") % {"code": code})
            ok = False
        else:
            codes.append(code)
    return codes, ok


def parse_assistance(reader: NodeReader, node, path: str, context: ParseContext) -> AssistanceSection | None:
    fields = reader.mapping(node, path, required=("income_share", "identity_months"), optional=(
        "look_back", "look_back_months", "asset_cap", "counted_assets", "costs_counted", "working_days",
        "special_aid_funding"))
    if fields is None:
        return None
    ok = not ({"income_share", "identity_months"} - set(fields))
    look_back = LookBack.MONTHS.value
    if "look_back" in fields:
        look_back = reader.choice(fields["look_back"], join(path, "look_back"), dict(LookBack.choices))
        ok &= look_back is not None
    months = 12
    if "look_back_months" in fields:
        if look_back == LookBack.CALENDAR_YEAR:
            reader.problem(fields["look_back_months"], join(path, "look_back_months"),
                           _("only with look_back: months"))
            ok = False
        else:
            months = reader.integer(fields["look_back_months"], join(path, "look_back_months"), minimum=1, maximum=60)
            ok &= months is not None
    share = None
    if "income_share" in fields:
        share = reader.decimal(fields["income_share"], join(path, "income_share"), minimum=Decimal(0),
                               maximum=HUNDRED)
        ok &= share is not None
    cap = None
    if "asset_cap" in fields:
        cap = reader.decimal(fields["asset_cap"], join(path, "asset_cap"), minimum=Decimal(0), maximum=MAX_AMOUNT)
        ok &= cap is not None
    kinds: list[str] = []
    if "counted_assets" in fields:
        kinds, kinds_ok = _code_list(reader, fields["counted_assets"], join(path, "counted_assets"),
                                     dict(AssetKind.choices))
        ok &= kinds_ok
    elif cap is not None:
        kinds = list(AssetKind.values)
    basis = CostBasis.AFTER_INSURANCE.value
    if "costs_counted" in fields:
        basis = reader.choice(fields["costs_counted"], join(path, "costs_counted"), dict(CostBasis.choices))
        ok &= basis is not None
    identity_months = None
    if "identity_months" in fields:
        identity_months = reader.integer(fields["identity_months"], join(path, "identity_months"),
                                         minimum=1, maximum=120)
        ok &= identity_months is not None
    days: dict = {}
    if "working_days" in fields:
        days_path = join(path, "working_days")
        steps = reader.mapping(fields["working_days"], days_path, optional=tuple(_STEPS))
        if steps is None:
            ok = False
        else:
            for step, node_ in steps.items():
                value = reader.integer(node_, join(days_path, step), minimum=1, maximum=365)
                if value is None:
                    ok = False
                else:
                    days[_STEPS[step]] = value
    funding: list[str] = []
    if "special_aid_funding" in fields:
        funding, funding_ok = _code_list(reader, fields["special_aid_funding"], join(path, "special_aid_funding"),
                                         dict(AidFunding.choices))
        ok &= funding_ok
    else:
        funding = list(AidFunding.values)
    if not ok:
        return None
    return AssistanceSection(
        look_back=look_back, look_back_months=months, income_share=share / HUNDRED, asset_cap=cap,
        counted_asset_kinds=tuple(kinds), cost_basis=basis, identity_months=identity_months, working_days=days,
        special_aid_funding=tuple(funding))


def _clear(policy: PolicyVersion, ctx) -> None:
    for row in AssistancePolicy.objects.filter(policy=policy):
        row._history_user = ctx.by
        row._change_reason = ctx.reason
        row.delete()


def _write(policy: PolicyVersion, section: AssistanceSection | None, ctx) -> None:
    if section is None:
        return
    row = AssistancePolicy(
        policy=policy, look_back=section.look_back, look_back_months=section.look_back_months,
        income_share=section.income_share, asset_cap=section.asset_cap,
        counted_asset_kinds=list(section.counted_asset_kinds), cost_basis=section.cost_basis,
        identity_months=section.identity_months, special_aid_funding=list(section.special_aid_funding),
        **section.working_days)
    row._history_user = ctx.by
    row._change_reason = ctx.reason
    row.save()


def register_assistance_section() -> None:
    """Add ``assistance:`` to the policy-file format and its writer to the loader (from AssistanceConfig.ready)."""
    register_section(SECTION, parse_assistance, default=lambda: None)
    register_section_writer(SECTION, clear=_clear, write=_write)
