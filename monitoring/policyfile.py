"""The policy file's ``monitoring:`` section: thresholds of the warning lists (docs/policy-files.md §8).

```yaml
monitoring:
  high_cost:
    relapse_categories: [stable_lifted, unstable_lifted, edge_vulnerable, sudden_hardship, returned_poverty]
    relapse_threshold: {share_of_rural_income: 50}    # per cent of last year's rural per-capita income
    poverty_threshold: {amount: 26000}                # or a fixed amount in yuan
  assistance_floor:
    key_categories: [tekun, dibao]
    key_floor: 70                                     # per cent of policy-scope out-of-pocket cost
    other_categories: [dibao_edge]
    other_floor: 60
  verify_working_days: 10
```
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from enrollment.models import IdentityCategory, PolicyVersion
from enrollment.policyfile import MAX_AMOUNT, NodeReader, ParseContext, item, join, register_section
from enrollment.services.policy import register_section_writer

from .models import MonitoringPolicy, ThresholdBasis

SECTION = "monitoring"
HUNDRED = Decimal(100)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Threshold:
    basis: str
    value: Decimal


@dataclass(frozen=True)
class MonitoringSection:
    relapse_categories: tuple[str, ...]
    relapse: Threshold
    poverty: Threshold
    key_categories: tuple[str, ...]
    key_floor: Decimal
    other_categories: tuple[str, ...]
    other_floor: Decimal
    verify_working_days: int


def _threshold(reader: NodeReader, node, path: str) -> Threshold | None:
    fields = reader.mapping(node, path, optional=("amount", "share_of_rural_income"))
    if fields is None:
        return None
    if len(fields) != 1:
        reader.problem(node, path, _("give exactly one of amount or share_of_rural_income"))
        return None
    if "amount" in fields:
        value = reader.decimal(fields["amount"], join(path, "amount"), minimum=ZERO, maximum=MAX_AMOUNT)
        return None if value is None else Threshold(ThresholdBasis.AMOUNT.value, value)
    value = reader.decimal(fields["share_of_rural_income"], join(path, "share_of_rural_income"),
                           minimum=ZERO, maximum=Decimal(1000))
    return None if value is None else Threshold(ThresholdBasis.RURAL_INCOME_SHARE.value, value / HUNDRED)


def _categories(reader: NodeReader, node, path: str, context: ParseContext) -> tuple[str, ...] | None:
    entries = reader.sequence(node, path)
    if entries is None:
        return None
    codes = [reader.category(entry, item(path, i), context.known_categories) for i, entry in enumerate(entries)]
    if None in codes:
        return None
    if len(set(codes)) != len(codes):
        reader.problem(node, path, _("a category is listed twice"))
        return None
    return tuple(codes)


def _percent(reader: NodeReader, node, path: str) -> Decimal | None:
    value = reader.decimal(node, path, minimum=ZERO, maximum=HUNDRED)
    return None if value is None else value / HUNDRED


def parse_monitoring(reader: NodeReader, node, path: str, context: ParseContext) -> MonitoringSection | None:
    fields = reader.mapping(node, path, required=("high_cost", "assistance_floor", "verify_working_days"))
    if fields is None or len(fields) != 3:
        return None
    high = reader.mapping(fields["high_cost"], join(path, "high_cost"),
                          required=("relapse_categories", "relapse_threshold", "poverty_threshold"))
    floor = reader.mapping(fields["assistance_floor"], join(path, "assistance_floor"),
                           required=("key_categories", "key_floor", "other_categories", "other_floor"))
    days = reader.integer(fields["verify_working_days"], join(path, "verify_working_days"), minimum=1, maximum=365)
    if high is None or floor is None or len(high) != 3 or len(floor) != 4:
        return None
    hp, fp = join(path, "high_cost"), join(path, "assistance_floor")
    values = {
        "relapse_categories": _categories(reader, high["relapse_categories"], join(hp, "relapse_categories"),
                                          context),
        "relapse": _threshold(reader, high["relapse_threshold"], join(hp, "relapse_threshold")),
        "poverty": _threshold(reader, high["poverty_threshold"], join(hp, "poverty_threshold")),
        "key_categories": _categories(reader, floor["key_categories"], join(fp, "key_categories"), context),
        "key_floor": _percent(reader, floor["key_floor"], join(fp, "key_floor")),
        "other_categories": _categories(reader, floor["other_categories"], join(fp, "other_categories"), context),
        "other_floor": _percent(reader, floor["other_floor"], join(fp, "other_floor")),
        "verify_working_days": days,
    }
    if None in values.values():
        return None
    overlap = set(values["key_categories"]) & set(values["other_categories"])
    if overlap:
        reader.problem(floor["other_categories"], join(fp, "other_categories"),
                       _("already a key group: %(codes)s") % {"codes": ", ".join(sorted(overlap))})
        return None
    return MonitoringSection(**values)


def _clear(policy: PolicyVersion, ctx) -> None:
    for row in MonitoringPolicy.objects.filter(policy=policy):
        ctx.stamp(row).delete()


def _write(policy: PolicyVersion, section: MonitoringSection | None, ctx) -> None:
    if section is None:
        return
    row = ctx.stamp(MonitoringPolicy(
        policy=policy, relapse_basis=section.relapse.basis, relapse_value=section.relapse.value,
        poverty_basis=section.poverty.basis, poverty_value=section.poverty.value, key_floor=section.key_floor,
        other_floor=section.other_floor, verify_working_days=section.verify_working_days))
    row.save()
    by_code = {c.code: c for c in IdentityCategory.objects.all()}
    row.relapse_categories.set([by_code[c] for c in section.relapse_categories])
    row.key_categories.set([by_code[c] for c in section.key_categories])
    row.other_categories.set([by_code[c] for c in section.other_categories])


def register_monitoring_section() -> None:
    """Add ``monitoring:`` to the policy-file format and its writer to the loader (from MonitoringConfig.ready)."""
    register_section(SECTION, parse_monitoring, default=lambda: None)
    register_section_writer(SECTION, clear=_clear, write=_write)
