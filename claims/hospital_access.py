"""Who a hospital user is, for hospital scoping and for the portal's hot path (the eligibility look-up).

`hospital_id_of` is what `enrollment.scoping` asks (registered in claims.apps) to scope every queryset of a
user linked to a hospital (定点医疗机构用户) to that hospital.

`request_access` answers "which hospital, may they look up" for a logged-in session without loading the user,
their permissions and their hospital link from the database on every request: those are the same for the whole
session (issue 10 §5). The answer is kept in Django's cache per user and dropped whenever the user, their groups,
a group's permissions or their hospital link change; a short timeout bounds what a per-process cache (the
embedded default) may keep after a change made in another process.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.core.cache import cache
from django.utils.crypto import constant_time_compare

LOOKUP_PERMISSION = "claims.lookup_eligibility"
ACCESS_TIMEOUT_SECONDS = 60
_KEY = "hospital-access:v1:{user_id}"


@dataclass(frozen=True)
class HospitalAccess:
    user_id: int
    session_hash: str
    active: bool
    may_look_up: bool
    hospital_id: int | None
    hospital_region_id: int | None
    hospital_in_county: bool


def hospital_id_of(user) -> int | None:
    from .models import HospitalStaff

    return HospitalStaff.objects.filter(user_id=user.pk).values_list("hospital_id", flat=True).first()


def _access_of(user) -> HospitalAccess:
    from .models import HospitalStaff

    staff = HospitalStaff.objects.select_related("hospital").filter(user_id=user.pk).first()
    return HospitalAccess(
        user_id=user.pk, session_hash=user.get_session_auth_hash(), active=user.is_active,
        may_look_up=user.has_perm(LOOKUP_PERMISSION),
        hospital_id=staff.hospital_id if staff else None,
        hospital_region_id=staff.hospital.region_id if staff else None,
        hospital_in_county=bool(staff and staff.hospital.in_county))


def request_access(request) -> HospitalAccess | None:
    """The logged-in user's hospital access, or None for an anonymous or stale session.

    On a cache hit no query runs beyond the session's own; the session's password hash is still compared, so a
    password change logs the session out exactly as Django's own check would.
    """
    session = request.session
    user_id = session.get(SESSION_KEY)
    if user_id is None:
        return None
    key = _KEY.format(user_id=user_id)
    access = cache.get(key)
    if access is None:
        user = request.user  # Django's full check: the user exists, is active, the session hash matches
        if not user.is_authenticated:
            return None
        access = _access_of(user)
        cache.set(key, access, ACCESS_TIMEOUT_SECONDS)
    if not access.active or not constant_time_compare(session.get(HASH_SESSION_KEY, ""), access.session_hash):
        return None
    return access


def forget_access(user_ids) -> None:
    cache.delete_many([_KEY.format(user_id=user_id) for user_id in user_ids])


def _user_changed(sender, instance, **kwargs):
    forget_access([instance.pk])


def _staff_changed(sender, instance, **kwargs):
    forget_access([instance.user_id])


def _hospital_changed(sender, instance, **kwargs):
    forget_access(instance.staff.values_list("user_id", flat=True))


def _groups_changed(sender, instance, pk_set=None, reverse=False, **kwargs):
    from django.contrib.auth.models import Group, User

    if isinstance(instance, User):
        forget_access([instance.pk])
    elif isinstance(instance, Group):
        forget_access(instance.user_set.values_list("pk", flat=True))


def _permissions_changed(sender, instance, **kwargs):
    from django.contrib.auth.models import Group, User

    if isinstance(instance, Group):
        forget_access(instance.user_set.values_list("pk", flat=True))
    elif isinstance(instance, User):
        forget_access([instance.pk])


def connect_access_invalidation() -> None:
    from django.contrib.auth.models import Group, User
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from .models import Hospital, HospitalStaff

    post_save.connect(_user_changed, sender=User, dispatch_uid="claims.access.user")
    post_delete.connect(_user_changed, sender=User, dispatch_uid="claims.access.user_deleted")
    post_save.connect(_staff_changed, sender=HospitalStaff, dispatch_uid="claims.access.staff")
    post_delete.connect(_staff_changed, sender=HospitalStaff, dispatch_uid="claims.access.staff_deleted")
    post_save.connect(_hospital_changed, sender=Hospital, dispatch_uid="claims.access.hospital")
    m2m_changed.connect(_groups_changed, sender=User.groups.through, dispatch_uid="claims.access.groups")
    m2m_changed.connect(_permissions_changed, sender=Group.permissions.through,
                        dispatch_uid="claims.access.group_permissions")
    m2m_changed.connect(_permissions_changed, sender=User.user_permissions.through,
                        dispatch_uid="claims.access.user_permissions")
