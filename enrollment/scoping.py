"""Region scoping: staff see and change only their regions and everything under them.

This is the one place the rule lives. Admin pages, autocomplete, exports, imports and custom views all call
`scope_queryset` (directly or through `RegionScopedAdminMixin`), so a new screen cannot forget it.

A model opts in by naming the path from itself to its `Region` in `region_scope`, e.g. `"region"` or
`"person__region"`. Reference data that every office needs to read (regions, their statistics, policy
versions) sets `region_scope_reads_ancestors = True`: a county clerk reads the province's policy in force.
"""

from collections.abc import Callable

from django.db.models import Q, QuerySet

from .models import Region

_CACHE_ATTR = "_region_paths_cache"
_HOSPITAL_ATTR = "_hospital_id_cache"

# A user linked to a hospital (定点医疗机构用户) sees that hospital's rows only, whatever regions they hold. The link
# lives in claims, which enrollment must not import; claims registers how to find it (claims.apps).
_hospital_resolver: Callable[[object], int | None] | None = None


def register_hospital_resolver(resolver: Callable[[object], int | None]) -> None:
    global _hospital_resolver
    _hospital_resolver = resolver


def user_hospital_id(user) -> int | None:
    """The id of the hospital the user is linked to, or None (bureau staff). Cached on the user for the request."""
    if _hospital_resolver is None or not getattr(user, "is_authenticated", False) or sees_everything(user):
        return None
    if not hasattr(user, _HOSPITAL_ATTR):
        setattr(user, _HOSPITAL_ATTR, _hospital_resolver(user))
    return getattr(user, _HOSPITAL_ATTR)


def sees_everything(user) -> bool:
    return bool(user.is_superuser)


def user_region_paths(user) -> list[str] | None:
    """Materialised paths of the user's regions; None means unrestricted. Cached on the user for the request."""
    if sees_everything(user):
        return None
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        if not user.is_authenticated or user_hospital_id(user) is not None:
            cached = []
        else:
            cached = list(
                Region.objects.filter(pk__in=user.region_memberships.values("region_id")).values_list("path", flat=True)
            )
        setattr(user, _CACHE_ATTR, cached)
    return cached


def visible_regions(user, *, with_ancestors: bool = False) -> QuerySet:
    """The regions a user works in (their subtree); optionally also the regions above them (read-only data)."""
    paths = user_region_paths(user)
    if paths is None:
        return Region.objects.all()
    if not paths:
        return Region.objects.none()
    q = Q()
    for path in paths:
        q |= Q(path__startswith=path)
        if with_ancestors:
            q |= Q(code__in=[code for code in path.strip("/").split("/") if code])
    return Region.objects.filter(q)


def region_filter(user, lookup: str, *, with_ancestors: bool = False) -> Q:
    """A Q restricting `lookup` (a path to a Region foreign key, "" for Region itself) to the user's regions.

    The region ids are spelled out as a literal list (a few hundred at most) rather than a subquery on
    `Region.path`: PostgreSQL cannot estimate a `path LIKE` subquery and then plans a million-row list as if it
    matched one row (seconds instead of milliseconds; bench/README.md has the plans).
    """
    if user_region_paths(user) is None:
        return Q()
    ids = visible_region_ids(user, with_ancestors=with_ancestors)
    return Q(**{f"{lookup}__in": ids}) if lookup else Q(pk__in=ids)


def visible_region_ids(user, *, with_ancestors: bool = False) -> list[int]:
    """Ids of `visible_regions`, cached on the user for the request."""
    attr = f"_region_ids_cache_{int(with_ancestors)}"
    cached = getattr(user, attr, None)
    if cached is None:
        cached = list(visible_regions(user, with_ancestors=with_ancestors).values_list("pk", flat=True))
        setattr(user, attr, cached)
    return cached


def subtree_ids(region_path: str) -> list[int]:
    """Ids of a region and everything under it, as a literal list for the same planner reason as above."""
    return list(Region.objects.filter(path__startswith=region_path).values_list("pk", flat=True))


def scope_queryset(queryset: QuerySet, user, *, for_change: bool = False) -> QuerySet:
    """Limit any queryset of a region-scoped model to what `user` may see (or change, with `for_change`)."""
    model = queryset.model
    lookup = getattr(model, "region_scope", None)
    if lookup is None:
        raise TypeError(f"{model.__name__} does not declare region_scope")
    hospital_id = user_hospital_id(user)
    if hospital_id is not None:
        # `hospital_scope` names the path to the hospital ("" for Hospital itself); a model without one holds
        # nothing of a hospital's own, so its user sees none of it.
        hospital_lookup = getattr(model, "hospital_scope", None)
        if hospital_lookup is None:
            return queryset.none()
        return queryset.filter(**{hospital_lookup or "pk": hospital_id})
    with_ancestors = getattr(model, "region_scope_reads_ancestors", False) and not for_change
    return queryset.filter(region_filter(user, lookup, with_ancestors=with_ancestors))


def user_can_reach_region(user, region: Region | None) -> bool:
    if region is None:
        return False
    if user_hospital_id(user) is not None:
        return False  # a hospital user acts on their hospital's rows only, never on a region's
    paths = user_region_paths(user)
    if paths is None:
        return True
    return any(region.path.startswith(path) for path in paths)


def at_province_level(user) -> bool:
    """Whether the user works at province level (a top-level region), where shared reference data is changed."""
    paths = user_region_paths(user)
    if paths is None:
        return True
    return any(path.count("/") == 2 for path in paths)  # "/520000/": a region without a parent


def reachable_users(queryset: QuerySet, user) -> QuerySet:
    """Limit a queryset of users to the accounts `user` may manage: every one of their regions lies within the
    manager's regions. An account with no region, or with one region elsewhere or higher up, is out of reach, as is
    any superuser (for anyone but a superuser)."""
    from django.db.models import Exists, OuterRef

    from .models import RegionMembership

    if sees_everything(user):
        return queryset
    region_ids = visible_region_ids(user)
    memberships = RegionMembership.objects.filter(user_id=OuterRef("pk"))
    return (queryset.filter(is_superuser=False)
            .filter(Exists(memberships))
            .exclude(Exists(memberships.exclude(region_id__in=region_ids))))


def reachable_usernames(user) -> QuerySet | None:
    """Usernames of the accounts `user` may manage (a subquery), or None for no restriction."""
    from django.contrib.auth import get_user_model

    if sees_everything(user):
        return None
    return reachable_users(get_user_model().objects.all(), user).values("username")
