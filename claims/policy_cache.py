"""What the eligibility look-up needs of a policy, kept per region and date in Django's cache.

The policy version in force, its benefit settings, tilts, assistance rules and no-deposit categories are the same
for every look-up of a region on a day (issue 10 §5: two of every look-up's queries were these). Any change to
those tables bumps a generation counter, so a cached answer is never used after a change in this process; with a
shared cache (CACHE_URL) in every process. The timeout bounds what a per-process cache keeps after a change made in
another process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date

from django.core.cache import cache

from enrollment.models import IdentityCategory, PolicyVersion, Region

BUNDLE_TIMEOUT_SECONDS = 300
_GENERATION_KEY = "policy-bundle:generation"


@dataclass(frozen=True)
class PolicyBundle:
    policy: PolicyVersion | None
    settings: object | None = None  # BenefitPolicy
    no_deposit_category_ids: frozenset[int] = frozenset()
    tilts: tuple = ()  # CategoryTilt, by category sort order
    assistance_rules: tuple = ()  # AssistanceBenefitRule, largest annual limit first (就高)
    categories: dict = field(default_factory=dict)  # id -> IdentityCategory named by tilts and rules


def _generation() -> int:
    generation = cache.get(_GENERATION_KEY)
    if generation is None:
        cache.add(_GENERATION_KEY, 1, None)
        generation = cache.get(_GENERATION_KEY, 1)
    return generation


# This process's copies, by the same keys: reading them back from the cache unpickles model instances on every
# look-up. A key names the generation, so a change seen through the cache makes them unreachable at once.
_LOCAL: dict[str, tuple[float, object]] = {}
_LOCAL_MAX = 2_000


def _cached(key: str, load):
    now = time.monotonic()
    held = _LOCAL.get(key)
    if held is not None and held[0] > now:
        return held[1]
    value = cache.get(key)
    if value is None:
        value = load()
        cache.set(key, value, BUNDLE_TIMEOUT_SECONDS)
    if len(_LOCAL) >= _LOCAL_MAX:
        _LOCAL.clear()
    _LOCAL[key] = (now + BUNDLE_TIMEOUT_SECONDS, value)
    return value


def policy_bundle(region_id: int, on_date: date) -> PolicyBundle:
    return _cached(f"policy-bundle:{_generation()}:{region_id}:{on_date.isoformat()}",
                   lambda: _load(region_id, on_date))


def identity_categories() -> dict[int, IdentityCategory]:
    """Every identity category by id (a few dozen rows of reference data)."""
    return _cached(f"identity-categories:{_generation()}",
                   lambda: {category.pk: category for category in IdentityCategory.objects.all()})


def _load(region_id: int, on_date: date) -> PolicyBundle:
    from .models import AssistanceBenefitRule, BenefitPolicy, CategoryTilt
    from .selectors import policy_for_service

    policy = policy_for_service(Region.objects.get(pk=region_id), on_date)
    if policy is None:
        return PolicyBundle(policy=None)
    settings = BenefitPolicy.objects.filter(policy=policy).first()
    if settings is None:
        return PolicyBundle(policy=policy)
    tilts = tuple(CategoryTilt.objects.filter(policy=policy).select_related("category")
                  .order_by("category__sort_order", "layer"))
    rules = tuple(AssistanceBenefitRule.objects.filter(policy=policy).select_related("category")
                  .order_by("-annual_limit", "-ratio", "category__sort_order"))
    categories = {row.category_id: row.category for row in (*tilts, *rules)}
    return PolicyBundle(
        policy=policy, settings=settings,
        no_deposit_category_ids=frozenset(settings.no_deposit_categories.values_list("pk", flat=True)),
        tilts=tilts, assistance_rules=rules, categories=categories)


def forget_policy_bundles(**kwargs) -> None:
    _LOCAL.clear()
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:
        cache.add(_GENERATION_KEY, 2, None)


def connect_policy_cache_invalidation() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from .models import AssistanceBenefitRule, BenefitPolicy, CategoryTilt

    for model in (PolicyVersion, BenefitPolicy, CategoryTilt, AssistanceBenefitRule, Region, IdentityCategory):
        uid = f"claims.policy_bundle.{model._meta.label_lower}"
        post_save.connect(forget_policy_bundles, sender=model, dispatch_uid=uid)
        post_delete.connect(forget_policy_bundles, sender=model, dispatch_uid=uid + ".deleted")
    m2m_changed.connect(forget_policy_bundles, sender=BenefitPolicy.no_deposit_categories.through,
                        dispatch_uid="claims.policy_bundle.no_deposit")
