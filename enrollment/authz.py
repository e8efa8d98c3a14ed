"""Authorisation inside services: the acting user's permission *and* reach, checked where the money is written.

The admin, the queues and the custom views check permissions to decide what to show; that is not enough. A shell,
a Celery task, a management command or a view written next year calls the services directly, so every money or
decision service asks this module itself before it writes anything:

    require_permission(by, "claims.settle_claim", region=claim.region)
    require_permission(by, "claims.add_hospitalbatch", hospital=hospital)

Permissions are Django's, so they come from the role table (``enrollment.roles``, synced to groups); reach is
region scoping (``enrollment.scoping``): the record's region must lie in the user's regions or below them. A
hospital user (one linked to a hospital) reaches the records of their own hospital only, whatever regions they
may also hold. Refusals are ``PermissionDenied`` with a message for the user (translated, Chinese in production).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from .models import Region
from .scoping import user_can_reach_region, user_hospital_id, user_region_paths, visible_region_ids

__all__ = [
    "hospital_of",
    "permission_refusal",
    "require_held_permission",
    "require_permission",
    "require_regions",
]


def hospital_of(user) -> int | None:
    """The id of the hospital a hospital user works for; None for bureau staff.

    Through the hospital resolver claims registers with enrollment.scoping (enrollment does not import claims), cached
    on the user like the user's regions, so a service's check costs no query after the first.
    """
    return user_hospital_id(user) if getattr(user, "pk", None) else None


def _as_tuple(perms: str | Iterable[str]) -> tuple[str, ...]:
    return (perms,) if isinstance(perms, str) else tuple(perms)


def _lacks_permission(user, perms: tuple[str, ...]) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return _("Only a signed-in, active user may do this.")
    if not any(user.has_perm(perm) for perm in perms):
        return _("You do not have the permission for this action.")
    return None


def permission_refusal(user, perms: str | Iterable[str], *, region: Region | None = None, hospital=None) -> str | None:
    """Why ``user`` may not act (any of ``perms``) on a record of ``region`` / ``hospital``; None when they may.

    Give the record's region, or its hospital (whose region is then the region). A record without either is
    refused: a money service always knows where its record lives.
    """
    refusal = _lacks_permission(user, _as_tuple(perms))
    if refusal:
        return refusal
    own_hospital = hospital_of(user)
    if own_hospital is not None:
        if hospital is None or hospital.pk != own_hospital:
            return _("This record belongs to another hospital.")
        return None
    if region is None and hospital is not None:
        region = hospital.region
    if not user_can_reach_region(user, region):
        return _("This record belongs to a region you do not work for.")
    return None


def require_permission(user, perms: str | Iterable[str], *, region: Region | None = None, hospital=None) -> None:
    """Raise ``PermissionDenied`` unless ``user`` holds one of ``perms`` and reaches ``region`` / ``hospital``."""
    refusal = permission_refusal(user, perms, region=region, hospital=hospital)
    if refusal:
        raise PermissionDenied(refusal)


def require_held_permission(user, perms: str | Iterable[str]) -> None:
    """Only the permission, for a service that checks the region once it knows it (then ``require_permission``)."""
    refusal = _lacks_permission(user, _as_tuple(perms))
    if refusal:
        raise PermissionDenied(refusal)


def require_regions(user, perms: str | Iterable[str], region_ids: Iterable[int]) -> None:
    """``require_permission`` for many records at once: every region id must be reachable (one query at most).

    Hospital users are refused: set-based work over regions is bureau work.
    """
    refusal = _lacks_permission(user, _as_tuple(perms))
    if refusal:
        raise PermissionDenied(refusal)
    if hospital_of(user) is not None:
        raise PermissionDenied(_("Hospital users may only act on records of their own hospital."))
    wanted = set(region_ids)
    if user_region_paths(user) is None or not wanted:
        return
    if wanted - set(visible_region_ids(user)):
        raise PermissionDenied(_("Some of these records belong to a region you do not work for; nothing was done."))
