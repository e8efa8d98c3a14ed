"""Policy lock (政策版本锁定): a policy version that has settled claims can no longer be edited — a change is a new
version — so a past settlement result never changes silently.

What is locked once any settlement (live or reversed) points at a version:

- every benefit row hanging off it: ``BenefitPolicy`` (including its no-deposit categories), ``BasicBenefitRule``,
  ``CriticalSegment``, ``CategoryTilt``, ``AssistanceBenefitRule``, ``SpecialDisease`` — adding, changing, moving
  to another version or deleting one is refused;
- the version's own period and region: ``effective_from`` and ``region`` never change, and ``effective_to`` may
  only be *set when it was empty* (closing the version so a new one can start), and not before the date of service
  of a claim it already settled.

Saving a row without changing anything is allowed (an admin "Save" on an untouched form). Fixture loading
(``raw=True``) is not an edit and is let through. Contribution subsidy rules belong to enrolment and are not
locked here.

The receivers are connected in ``ClaimsConfig.ready``, which also registers :func:`ensure_policy_unsettled` as an
edit guard of ``enrollment.services.policy.ensure_policy_editable`` (enrollment never imports claims). Signals do
not fire for ``QuerySet.update()`` or ``bulk_create``; code that writes rules in bulk goes through
``ensure_policy_editable`` first, as the policy-file loader does.
"""

from __future__ import annotations

from datetime import date

from django.db.models import Case, F, Max, When
from django.db.models.signals import m2m_changed, pre_delete, pre_save
from django.utils.translation import gettext as _

from enrollment.models import PolicyVersion
from enrollment.services.policy import PolicyNotEditable

from ..models import (
    AssistanceBenefitRule,
    BasicBenefitRule,
    BenefitPolicy,
    CategoryTilt,
    CriticalSegment,
    Settlement,
    SpecialDisease,
)
from ..models.choices import VisitType

__all__ = [
    "LOCKED_RULE_MODELS",
    "connect_policy_lock",
    "ensure_policy_unsettled",
    "ensure_version_change_allowed",
    "policy_has_settlements",
]

#: Benefit models whose rows hang off a policy version through a `policy` foreign key.
LOCKED_RULE_MODELS = (
    BenefitPolicy,
    BasicBenefitRule,
    CriticalSegment,
    CategoryTilt,
    AssistanceBenefitRule,
    SpecialDisease,
)


def _policy_id(policy) -> int | None:
    return getattr(policy, "pk", policy)


def policy_has_settlements(policy) -> bool:
    """Whether any settlement (live or reversed) was made under `policy` (a PolicyVersion or its id)."""
    policy_id = _policy_id(policy)
    return policy_id is not None and Settlement.objects.filter(policy_id=policy_id).exists()


def _locked_error(policy_id: int) -> PolicyNotEditable:
    policy = PolicyVersion.objects.filter(pk=policy_id).first()
    return PolicyNotEditable(
        _(
            "Policy version %(policy)s already has settlements, so its benefit rules can no longer be changed; "
            "please create a new version."
        ),
        code="policy_locked",
        params={"policy": policy if policy is not None else policy_id},
    )


def ensure_policy_unsettled(policy) -> None:
    """Raise PolicyNotEditable (a ValidationError) when `policy` (a PolicyVersion or its id) has settlements.

    Registered as an edit guard of ``enrollment.services.policy.ensure_policy_editable``, which the policy-file
    loader calls before it replaces a version's rules.
    """
    policy_id = _policy_id(policy)
    if policy_has_settlements(policy_id):
        raise _locked_error(policy_id)


def _service_date():
    """A claim's date of service in SQL: discharge date for inpatient care, visit date otherwise."""
    return Case(
        When(claim__visit_type=VisitType.INPATIENT, claim__discharged_on__isnull=False, then=F("claim__discharged_on")),
        default=F("claim__admitted_on"),
    )


def last_settled_service_date(policy) -> date | None:
    """The latest date of service among the live settlements of `policy`."""
    return (
        Settlement.objects.filter(policy_id=_policy_id(policy), reversed_at__isnull=True)
        .aggregate(last=Max(_service_date()))["last"]
    )


def ensure_version_change_allowed(version: PolicyVersion) -> None:
    """Refuse a change of a settled version's period or region, except closing an open-ended version on or after
    the last date of service it settled."""
    if version.pk is None:
        return
    old = PolicyVersion.objects.filter(pk=version.pk).values("effective_from", "effective_to", "region_id").first()
    if old is None:
        return
    new = {"effective_from": version.effective_from, "effective_to": version.effective_to,
           "region_id": version.region_id}
    if _same(PolicyVersion, old, new) or not policy_has_settlements(version.pk):
        return
    closing = (
        old["effective_from"] == _as_date(new["effective_from"])
        and old["region_id"] == new["region_id"]
        and old["effective_to"] is None
        and new["effective_to"] is not None
    )
    if not closing:
        raise _locked_error(version.pk)
    last = last_settled_service_date(version.pk)
    if last is not None and _as_date(new["effective_to"]) < last:
        raise PolicyNotEditable(
            _(
                "Policy version %(policy)s has settled claims with services up to %(date)s; it cannot end before "
                "that date."
            ),
            code="policy_close_too_early",
            params={"policy": version, "date": last.isoformat()},
        )


def _as_date(value) -> date | None:
    return PolicyVersion._meta.get_field("effective_from").to_python(value)


def _same(model, old: dict, new: dict) -> bool:
    """Field by field, after the field's own conversion (a form may hand "0.70" for Decimal('0.7000'))."""
    for name, old_value in old.items():
        model_field = model._meta.get_field(name)  # attnames ("policy_id") resolve to their field too
        convert = model_field.target_field.to_python if model_field.is_relation else model_field.to_python
        if convert(old_value) != convert(new[name]):
            return False
    return True


# ---------------------------------------------------------------------------------------------------------------
# Signal receivers
# ---------------------------------------------------------------------------------------------------------------


def _rule_pre_save(sender, instance, raw=False, **kwargs):
    if raw:
        return
    old = None
    if instance.pk is not None:
        names = [f.attname for f in sender._meta.concrete_fields if not f.primary_key]
        old = sender._default_manager.filter(pk=instance.pk).values(*names).first()
    if old is None:
        ensure_policy_unsettled(instance.policy_id)
        return
    if _same(sender, old, {name: getattr(instance, name) for name in old}):
        return
    ensure_policy_unsettled(old["policy_id"])
    if instance.policy_id != old["policy_id"]:
        ensure_policy_unsettled(instance.policy_id)


def _rule_pre_delete(sender, instance, **kwargs):
    ensure_policy_unsettled(instance.policy_id)


def _version_pre_save(sender, instance, raw=False, **kwargs):
    if not raw:
        ensure_version_change_allowed(instance)


def _version_pre_delete(sender, instance, **kwargs):
    ensure_policy_unsettled(instance.pk)


def _no_deposit_changed(sender, instance, action, reverse, pk_set, **kwargs):
    # The field's related_name is "+", so changes only ever come from the BenefitPolicy side (reverse is False).
    if action in ("pre_add", "pre_remove", "pre_clear") and (action == "pre_clear" or pk_set):
        ensure_policy_unsettled(instance.policy_id)


def connect_policy_lock() -> None:
    """Connect the receivers and the edit guard (from ``ClaimsConfig.ready``; repeated calls are no-ops)."""
    from enrollment.services.policy import register_edit_guard

    register_edit_guard(ensure_policy_unsettled)
    for model in LOCKED_RULE_MODELS:
        label = model._meta.label_lower
        pre_save.connect(_rule_pre_save, sender=model, dispatch_uid=f"claims.policy_lock.save.{label}")
        pre_delete.connect(_rule_pre_delete, sender=model, dispatch_uid=f"claims.policy_lock.delete.{label}")
    pre_save.connect(_version_pre_save, sender=PolicyVersion, dispatch_uid="claims.policy_lock.save.version")
    pre_delete.connect(_version_pre_delete, sender=PolicyVersion, dispatch_uid="claims.policy_lock.delete.version")
    m2m_changed.connect(
        _no_deposit_changed, sender=BenefitPolicy.no_deposit_categories.through,
        dispatch_uid="claims.policy_lock.no_deposit")
