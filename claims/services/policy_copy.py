"""Copy a policy version's benefit rules (待遇) to its successor when enrollment opens one as a copy."""

from __future__ import annotations

from claims.models import (
    AssistanceBenefitRule,
    BasicBenefitRule,
    BenefitPolicy,
    CategoryTilt,
    CriticalSegment,
    SpecialDisease,
)
from enrollment.services.policy_versions import copy_rows, version_copied

RULE_MODELS = (BasicBenefitRule, CriticalSegment, CategoryTilt, AssistanceBenefitRule, SpecialDisease)


def copy_benefits(sender, *, original, copy, by, **kwargs) -> None:
    benefits = BenefitPolicy.objects.filter(policy=original).first()
    if benefits is not None:
        categories = list(benefits.no_deposit_categories.all())
        benefits.pk = None
        benefits.id = None
        benefits.policy = copy
        benefits._history_user = by
        benefits.save()
        benefits.no_deposit_categories.set(categories)
    for model in RULE_MODELS:
        copy_rows(model, original=original, copy=copy, by=by)


def connect_policy_copy() -> None:
    version_copied.connect(copy_benefits, dispatch_uid="claims.copy_benefits")
