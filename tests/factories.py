"""Small factories for tests: plain functions with sensible defaults, every value overridable."""

import itertools
from datetime import date
from decimal import Decimal

from django.contrib.auth.models import Group, User

from enrollment.idnumbers import make_id_number
from enrollment.models import (
    Household,
    Identity,
    IdentityCategory,
    Person,
    PolicyVersion,
    Region,
    RegionMembership,
    RegionYear,
)
from enrollment.models.regions import RegionLevel

_seq = itertools.count(1)


def make_region(code: str, name: str | None = None, *, parent: Region | None = None, level: str | None = None,
                **extra) -> Region:
    if level is None:
        level = RegionLevel.COUNTY if parent and parent.parent_id else (
            RegionLevel.PREFECTURE if parent else RegionLevel.PROVINCE)
    region, _ = Region.objects.update_or_create(
        code=code, defaults={"name": name or f"地区{code}", "parent": parent, "level": level, **extra})
    return region


def region_tree() -> dict[str, Region]:
    """Province 520000 → prefecture 522700 → counties 522701 (A) and 522702 (B)."""
    province = make_region("520000", "贵州省")
    prefecture = make_region("522700", "黔南州", parent=province)
    county_a = make_region("522701", "都匀市", parent=prefecture, cost_share_class=3)
    county_b = make_region("522702", "福泉市", parent=prefecture, cost_share_class=3)
    return {"province": province, "prefecture": prefecture, "a": county_a, "b": county_b}


def make_user(username: str | None = None, *, roles: tuple[str, ...] = (), regions: tuple[Region, ...] = (),
              password: str = "pw-Secret-123", **extra) -> User:
    user = User.objects.create_user(
        username=username or f"user{next(_seq)}", password=password, is_staff=True, **extra)
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    for region in regions:
        RegionMembership.objects.create(user=user, region=region)
    return user


def new_id_number(place: str = "522701", birth: date = date(1960, 5, 17), *, male: bool = True) -> str:
    n = next(_seq) % 500
    return make_id_number(place, birth, 2 * n + (1 if male else 0))


def make_household(region: Region, **extra) -> Household:
    return Household.objects.create(number=extra.pop("number", f"H{next(_seq):08d}"), region=region, **extra)


def make_person(region: Region, *, name: str = "张三", id_number: str | None = None, household=None,
                birth: date = date(1960, 5, 17), **extra) -> Person:
    return Person.objects.create(
        id_number=id_number or new_id_number(region.code, birth), name=name, region=region, household=household,
        **extra)


def category(code: str) -> IdentityCategory:
    return IdentityCategory.objects.get(code=code)


def make_identity(person: Person, code: str, valid_from: date, valid_to: date | None = None, **extra) -> Identity:
    cat = category(code)
    return Identity.objects.create(
        person=person, category=cat, valid_from=valid_from, valid_to=valid_to,
        certified_by=extra.pop("certified_by", cat.certified_by), **extra)


def make_region_year(region: Region, year: int, *, tier1: str | None = None, tier2: str | None = None,
                     **extra) -> RegionYear:
    return RegionYear.objects.create(
        region=region, year=year,
        contribution_tier1=Decimal(tier1) if tier1 else None,
        contribution_tier2=Decimal(tier2) if tier2 else None, **extra)


def make_policy(region: Region, effective_from: date, effective_to: date | None = None, **extra) -> PolicyVersion:
    return PolicyVersion.objects.create(
        region=region, code=extra.pop("code", f"policy-{next(_seq)}"), name=extra.pop("name", "测试政策"),
        effective_from=effective_from, effective_to=effective_to, **extra)
