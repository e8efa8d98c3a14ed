"""Demo data (演示数据) and the synthetic data set of the benchmarks.

`seed_demo` builds a believable Qiannan county: regions, households of 1–6 people with Chinese names and valid
18-digit ID numbers, identities, two plan years of the enrolment ledger with subsidies, ledger problems, and one
login for every role. The same generator fills a benchmark database with a million people, so it works set-wise:
households are composed in memory a chunk at a time and written with one INSERT per table and chunk; memory stays
flat whatever the size.

Everything is drawn from one `random.Random(seed)`, so a seed gives the same people on every machine.
"""

from __future__ import annotations

import random
import secrets
import unicodedata
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from faker.providers.person.zh_CN import Provider as ZhPersonNames

from . import roles
from .idnumbers import make_id_number
from .models import (
    Enrollment,
    Household,
    Identity,
    IdentityCategory,
    LedgerProblem,
    Person,
    Region,
    RegionMembership,
    RegionYear,
)
from .models.choices import Scheme
from .models.ledger import CannotEnrolReason, EnrollmentStatus, ProblemKind, ProblemStatus
from .models.regions import RegionLevel
from .selectors import EnrolmentTerms, contribution_standards, enrolment_terms
from .services import ledger
from .services.ledger import _assess as assess_enrolment

DEFAULT_REGION = "522700"
DEFAULT_PERSONS = 2000
CHUNK_SIZE = 5000
DEFAULT_PASSWORD_FILE = Path(settings.BASE_DIR) / "var" / "demo-logins.txt"
ADMIN_URL = "http://127.0.0.1:8000/admin/"

# Below this size the demo rows also get their "created" history row, so the admin's history pages of the
# demo look like those of real data. Above it the history would double the write volume of a benchmark data
# set and say nothing: generated rows have no author and no past.
HISTORY_LIMIT = 20_000

# The counties whose clerks the demo prints first: one of each cost-sharing class, so every split shows.
PREFERRED_COUNTIES = ["522701", "522725", "522732"]

# Individual contribution of the resident scheme (national standard), used only for plan years for which the
# database holds no RegionYear figure; the demo records it as a RegionYear row so the admin shows where the
# ledger's amounts come from.
FALLBACK_CONTRIBUTION = {2022: "350", 2023: "380", 2024: "400", 2025: "400", 2026: "400", 2027: "400"}

# Real townships of the three counties the demo logins work in; other counties get generated names.
KNOWN_TOWNSHIPS = {
    "522701": ["广惠街道", "文峰街道", "小围寨街道", "沙包堡街道", "绿茵湖街道", "墨冲镇", "平浪镇", "毛尖镇",
               "匀东镇", "归兰水族乡"],
    "522725": ["雍阳街道", "永和镇", "玉山镇", "天文镇", "猴场镇", "草塘镇", "中坪镇", "建中镇", "平定营镇",
               "银盏镇"],
    "522732": ["三合街道", "大河镇", "普安镇", "周覃镇", "中和镇", "九阡镇", "都江镇"],
}
_PLACE_FIRST = "新大小上下高平石龙马白青岩松桥水中东西南沙茶摆拉甲洛翁者腊板王杨黄营"
_PLACE_SECOND = "坪寨河坡坝冲山田场江阳口桥湾溪洞塘林关堡岭"
# First registrations elsewhere: Guiyang, Kaili, Chongqing, Nanning — and 522401, the code of the former
# Bijie prefecture, abolished since: ID numbers keep the place of first registration (SPEC §2).
MOVED_IN_PLACES = ["520102", "520103", "522601", "522401", "500101", "450102"]

# Qiannan is home to Buyi, Miao and Shui people: their common surnames are drawn more often than Faker's
# nationwide frequencies would.
LOCAL_SURNAMES = "韦蒙潘莫罗吴杨陆石王陈龙"
_GIVEN_MIDDLE = "建国德文明志永光正家佳子思雨金秀春海小朝庭兴绍昌"
BANKS = ["贵州农村信用社", "中国农业银行", "中国邮政储蓄银行", "中国工商银行", "中国建设银行"]
PHONE_PREFIXES = ["133", "135", "136", "137", "138", "139", "150", "151", "152", "158", "159", "173", "177",
                  "180", "182", "183", "185", "187", "189", "191", "198"]

HOUSEHOLD_SIZES = (1, 2, 3, 4, 5, 6)
HOUSEHOLD_SIZE_WEIGHTS = (14, 22, 24, 20, 12, 8)

BIRTH_MIN = date(1920, 1, 1)

# Household-level identity patterns: (weight, [(category code, how the period is drawn)]).
# ~33 % of households hold an identity; because poorer households are larger, about 35 % of people do.
IDENTITY_PATTERNS = [
    (20, [("registered_poor", "ended_2020"), ("stable_lifted", "from_2021")]),
    (20, [("registered_poor", "open_2014")]),
    (12, [("stable_lifted", "from_2021")]),
    (16, [("dibao", "recent")]),
    (4, [("dibao", "recent"), ("unstable_lifted", "recent")]),  # two valid identities: 就高 decides
    (8, [("dibao_edge", "recent")]),
    (6, [("unstable_lifted", "recent")]),
    (5, [("edge_vulnerable", "recent")]),
    (2, [("sudden_hardship", "recent")]),
    (3, [("returned_poverty", "recent"), ("stable_lifted", "from_2021")]),
    (2, [("dibao", "expired")]),
    (2, [("edge_vulnerable", "expired")]),
]
IDENTITY_HOUSEHOLD_SHARE = 0.33
SOURCE_DOCUMENTS = {
    "civil_affairs": "{county}民政局{year}年第{batch}批认定名单",
    "rural_revitalization": "{county}乡村振兴局{year}年监测对象认定名单（第{batch}批）",
    "poverty_office": "{county}扶贫开发办公室建档立卡数据（{year}年度）",
    "medical_insurance": "{county}医疗保障局{year}年认定文件",
}

CANNOT_REASONS_WORKING_AGE = [
    (CannotEnrolReason.EMPLOYEE_SCHEME, "单位职工医保参保证明"),
    (CannotEnrolReason.INSURED_ELSEWHERE, "异地参保缴费凭证"),
    (CannotEnrolReason.ABROAD, "出国（境）定居证明"),
    (CannotEnrolReason.IMPRISONED, "服刑人员身份证明"),
]
CANNOT_REASONS_YOUNG = [
    (CannotEnrolReason.SCHOOL, "高校学籍证明（在校参保）"),
    (CannotEnrolReason.MILITARY, "入伍通知书"),
]


# --------------------------------------------------------------------------------------------------------------
# Regions and policies


def load_seed_policies(*, stdout=None) -> None:
    """Load the shipped policy files (regions, statistics, policy versions); the loader is idempotent."""
    call_command("load_policy", "--all", stdout=stdout)


def demo_counties(region: Region) -> list[Region]:
    """The counties people are generated in: the region itself if it is a county, else the counties under it."""
    counties = list(Region.objects.filter(path__startswith=region.path, level=RegionLevel.COUNTY).order_by("code"))
    return counties or [region]


def _ancestor_codes(region: Region) -> list[str]:
    """Codes from the region itself up to the root."""
    return [code for code in region.path.strip("/").split("/") if code][::-1]


# --------------------------------------------------------------------------------------------------------------
# Logins


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    region_code: str
    region_name: str
    password: str


@dataclass(frozen=True)
class _PlannedUser:
    username: str
    role: str
    region: Region


def _plan_users(region: Region) -> list[_PlannedUser]:
    """One login for every role; clerks in up to three counties so isolation between counties can be shown."""
    counties = demo_counties(region)
    preferred = [c for code in PREFERRED_COUNTIES for c in counties if c.code == code]
    clerk_counties = (preferred + [c for c in counties if c not in preferred])[:3]
    if len(clerk_counties) == 1 and clerk_counties[0].parent_id:
        # One county filled: a clerk of a neighbouring county, who must see none of its people.
        siblings = Region.objects.filter(parent_id=clerk_counties[0].parent_id, level=RegionLevel.COUNTY)
        clerk_counties += [c for c in siblings.order_by("code") if c.pk != clerk_counties[0].pk][:1]
    main = clerk_counties[0]
    by_code = {r.code: r for r in Region.objects.filter(code__in=_ancestor_codes(main))}
    ancestors = [by_code[c] for c in _ancestor_codes(main) if c in by_code]
    prefecture = next((r for r in ancestors if r.level == RegionLevel.PREFECTURE), ancestors[-1])
    province = ancestors[-1]
    planned = [_PlannedUser(f"clerk_{c.code}", roles.CLERK, c) for c in clerk_counties]
    planned += [
        _PlannedUser(f"reviewer_{main.code}", roles.REVIEWER, main),
        _PlannedUser(f"approver_{main.code}", roles.APPROVER, main),
        _PlannedUser(f"head_{prefecture.code}", roles.HEAD, prefecture),
        _PlannedUser(f"liaison_{main.code}", roles.LIAISON, main),
        # The prefecture's account administrator: a role like any other, not a superuser (the demo needs none;
        # `manage.py createsuperuser` makes one for operations).
        _PlannedUser(f"admin_{prefecture.code}", roles.ADMIN, prefecture),
    ]
    if province.pk != prefecture.pk:
        # Shared reference data (the calendar, identity categories, the night's schedule) is changed at province
        # level: a province head shows it.
        planned.append(_PlannedUser(f"head_{province.code}", roles.HEAD, province))
    # Roles added by later apps (e.g. the hospital user of claims) get a login in the main county too; what
    # else they need (a hospital to work for) is their app's to add.
    planned_roles = {p.role for p in planned}
    constant_names = {value: name.lower() for name, value in vars(roles).items()
                      if name.isupper() and isinstance(value, str)}
    for role in roles.ROLE_PERMISSIONS:
        if role not in planned_roles:
            planned.append(_PlannedUser(f"{constant_names.get(role, 'staff')}_{main.code}", role, main))
    return planned


UNKNOWN_PASSWORD = "-"  # noqa: S105 - a placeholder shown for a password we do not know


def read_password_file(path: Path) -> dict[str, str]:
    """username → password from the logins file (tab-separated: username, role, region, password)."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) >= 4:
            out[parts[0]] = parts[3]
    return out


def _write_password_file(path: Path, logins: list[DemoLogin]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Demo logins written by `manage.py seed_demo` (username, role, region, password). Not for production."]
    lines += [f"{x.username}\t{x.role}\t{x.region_code} {x.region_name}\t{x.password}" for x in logins
              if x.password != UNKNOWN_PASSWORD]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)


def ensure_demo_users(*, region: Region, password_file: Path) -> list[DemoLogin]:
    """Create (or complete) the demo logins; a password is generated once and kept in `password_file`.

    A user that exists keeps their password, so every later run prints the same logins; one the file does not
    know (created by hand, say with createsuperuser) is listed without it rather than having it changed.
    """
    known = read_password_file(password_file)
    groups = {g.name: g for g in Group.objects.filter(name__in=roles.ROLE_PERMISSIONS)}
    logins = []
    for plan in _plan_users(region):
        user = User.objects.filter(username=plan.username).first()
        password = known.get(plan.username)
        if user is None:
            # A password already on file belongs to a run that was rolled back: reuse it, the file stays true.
            password = password or secrets.token_urlsafe(9)
            user = User(username=plan.username)
            user.set_password(password)
        elif password is None:
            password = UNKNOWN_PASSWORD
        user.is_staff = True
        user.is_active = True
        user.is_superuser = False  # every demo login shows its role's rights, nothing more
        user.save()
        if plan.role in groups:
            user.groups.add(groups[plan.role])
        RegionMembership.objects.get_or_create(user=user, region=plan.region)
        logins.append(DemoLogin(plan.username, plan.role, plan.region.code, plan.region.name, password))
    others = {k: v for k, v in known.items() if k not in {x.username for x in logins}}
    logins += _logins_from_db(others)
    _write_password_file(password_file, logins)
    return logins


def _logins_from_db(passwords: dict[str, str]) -> list[DemoLogin]:
    users = User.objects.filter(username__in=passwords).prefetch_related("groups", "region_memberships__region")
    out = []
    for user in sorted(users, key=lambda u: list(passwords).index(u.username)):
        membership = next(iter(user.region_memberships.all()), None)
        group = next(iter(user.groups.all()), None)
        out.append(DemoLogin(
            user.username, group.name if group else "", membership.region.code if membership else "",
            membership.region.name if membership else "", passwords[user.username]))
    return out


def existing_logins(password_file: Path) -> list[DemoLogin]:
    """The logins of the file whose users still exist, in the file's order."""
    return _logins_from_db(read_password_file(password_file))


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


# What a newcomer can try with each demo login: the demo of every app gives these roles work in their queues
# (claims seeds the cases and batches named here). Words only, so enrollment imports nothing above it.
ROLE_TRIES = {
    roles.CLERK: gettext_lazy(
        "register a manual reimbursement (新增零星报销), settle claims, work the ledger problems (对账销号), "
        "import a roster"),
    roles.REVIEWER: gettext_lazy(
        "initial review (初审) of the waiting cases, one of them overdue; audit a hospital batch"),
    roles.APPROVER: gettext_lazy(
        "re-review (复核) and pay cases; pay a batch's advance (one is overdue) and a final payment"),
    roles.HEAD: gettext_lazy(
        "exempt a doubtful case from the clock, or lift an exemption; edit or close policy versions; at province "
        "level also the working-day calendar and the night's schedule (周期性任务: when the warning lists run)"),
    roles.LIAISON: gettext_lazy("upload an identity file from 民政 or 乡村振兴"),
    roles.ADMIN: gettext_lazy(
        "accounts of the prefecture: users, their regions and roles, a hospital user's hospital, unlocking a "
        "locked login (解除登录锁定), the login log — no business data"),
    roles.HOSPITAL: gettext_lazy("eligibility look-up (资格确认) for a patient's ID number"),
    roles.RURAL_DEPT: gettext_lazy("open a special aid case (一事一议) and give 乡村振兴's approval"),
    roles.HEALTH_DEPT: gettext_lazy("give 卫健's approval of a special aid case (一事一议)"),
}


def format_logins(logins: Iterable[DemoLogin]) -> str:
    """A table of the logins and what each can try, aligned for CJK text in a terminal, then the admin URL."""
    header = (_("Username"), _("Role"), _("Region"), _("Password"), _("What to try"))
    rows = [(x.username, x.role, f"{x.region_name}（{x.region_code}）", x.password, ROLE_TRIES.get(x.role, ""))
            for x in logins]
    widths = [max(_width(str(r[i])) for r in [header, *rows]) for i in range(5)]
    widths[-1] = 0  # the last column is not padded: long texts would pad every other row to their width
    rule = "  ".join("-" * w for w in widths[:-1]) + "  " + "-" * _width(str(header[-1]))
    lines = ["  ".join(_pad(str(c), w) for c, w in zip(header, widths, strict=True)).rstrip(), rule]
    lines += ["  ".join(_pad(str(c), w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("")
    lines.append(_("Sign in at %(url)s") % {"url": ADMIN_URL})
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Ledger terms: what a plan year costs and how it is subsidised in a county


def ensure_contribution_standards(counties: list[Region], years: list[int]) -> None:
    """Record the national individual contribution for plan years the policy data leaves without one.

    The shipped policy files carry the figures of their own documents' years only; the demo's ledger is for
    this year and last, and the admin should show where its amounts come from, so the figure is stored as the
    prefecture's RegionYear with its source. A figure already present (loaded or typed in) is never touched.
    """
    for year in years:
        standards = contribution_standards(counties, year)
        missing = [c for c in counties if standards[c.pk].tier1 is None]
        if not missing:
            continue
        standard = Decimal(FALLBACK_CONTRIBUTION.get(year, FALLBACK_CONTRIBUTION[max(FALLBACK_CONTRIBUTION)]))
        holders = {c.parent if c.parent and c.parent.level == RegionLevel.PREFECTURE else c for c in missing}
        for region in holders:
            row, _created = RegionYear.objects.get_or_create(region=region, year=year)
            if row.contribution_tier1 is None:
                row.contribution_tier1 = standard
                row.source = _("Demo data: national individual contribution standard of the year")
                row.save()


# --------------------------------------------------------------------------------------------------------------
# People


class IdNumberAllocator:
    """Unique ID numbers without remembering them: a counter per (place, birth date, sex).

    The n-th man born on a day at a place gets the n-th odd sequence number after an offset drawn from the
    seed, the n-th woman the n-th even one, so numbers look scattered yet never repeat within a run. The
    counters sit in a flat array (a few MB for a century of birth dates), whatever the number of people.
    """

    CAPACITY = 499  # sequence numbers 001–998, odd for men and even for women

    def __init__(self, places: list[str], seed: int, today: date):
        self.places = {code: i for i, code in enumerate(places)}
        self.first = BIRTH_MIN.toordinal()
        self.days = today.toordinal() - self.first + 1
        self.counts = array("H", bytes(2 * len(places) * self.days * 2))
        self.seed = seed

    def take(self, place: str, birth: date, male: bool) -> str | None:
        """The next free number for that place, day and sex; None when all 499 are taken."""
        day = birth.toordinal() - self.first
        slot = (self.places[place] * self.days + day) * 2 + (1 if male else 0)
        n = self.counts[slot]
        if n >= self.CAPACITY:
            return None
        self.counts[slot] = n + 1
        offset = ((self.places[place] * 1_000_003 + day) * 2_654_435_761 + self.seed) % self.CAPACITY
        k = (offset + n) % self.CAPACITY + 1
        return make_id_number(place, birth, 2 * k - 1 if male else 2 * k)


@dataclass
class _Township:
    name: str
    villages: list[str]


def _place_name(rng: random.Random, taken: set[str], suffix: str) -> str:
    for _attempt in range(200):
        name = rng.choice(_PLACE_FIRST) + rng.choice(_PLACE_SECOND) + suffix
        if name not in taken:
            taken.add(name)
            return name
    raise RuntimeError("ran out of place names")  # 34 × 21 combinations; a county uses far fewer


def _townships(rng: random.Random, county: Region) -> list[_Township]:
    names = list(KNOWN_TOWNSHIPS.get(county.code, []))
    taken = set(names)
    if not names:
        names = [_place_name(rng, taken, rng.choice(["镇", "镇", "镇", "乡"])) for _i in range(rng.randint(7, 12))]
    out = []
    for name in names:
        village_names: set[str] = set()
        suffix = "社区" if name.endswith("街道") else "村"
        out.append(_Township(name, [_place_name(rng, village_names, suffix) for _i in range(rng.randint(6, 14))]))
    return out


@dataclass
class _Member:
    relation: str
    male: bool
    birth: date
    surname: str


class _Names:
    """Chinese names from Faker's zh_CN person provider word lists, drawn with our seeded generator.

    Calling Faker per name costs ~60 µs — a minute for a million people — for the same lists and weights.
    """

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.surnames = list(ZhPersonNames.last_names.keys())
        weights = list(ZhPersonNames.last_names.values())
        self.cum = [sum(weights[: i + 1]) for i in range(len(weights))]
        self.male = ZhPersonNames.first_names_male
        self.female = ZhPersonNames.first_names_female

    def surname(self) -> str:
        if self.rng.random() < 0.3:
            return self.rng.choice(LOCAL_SURNAMES)
        return self.rng.choices(self.surnames, cum_weights=self.cum)[0]

    def given(self, male: bool) -> str:
        name = self.rng.choice(self.male if male else self.female)
        if len(name) == 1 and self.rng.random() < 0.55:
            name = self.rng.choice(_GIVEN_MIDDLE) + name
        return name


def _birth(rng: random.Random, age: int, today: date) -> date:
    born = today - timedelta(days=365 * age + rng.randint(0, 364))
    # Not today: `today` is the Asia/Shanghai date, up to a day ahead of the server's own calendar, and an ID
    # number with a birth date in the future is invalid.
    return max(BIRTH_MIN, min(born, today - timedelta(days=1)))


def _compose(rng: random.Random, names: _Names, size: int, today: date) -> list[_Member]:
    """A household of `size` members whose ages and sexes fit their relation to the head (户主)."""
    if size == 1:
        head_age = rng.randint(45, 92) if rng.random() < 0.7 else rng.randint(22, 60)
    else:
        head_age = rng.randint(26, 78)
    head_male = rng.random() < 0.82
    head_surname = names.surname()
    members = [_Member("户主", head_male, _birth(rng, head_age, today), head_surname)]
    spouse_surname = names.surname()
    if size > 1 and rng.random() < 0.85:
        spouse_age = max(20, head_age + rng.randint(-6, 4) * (1 if head_male else -1))
        members.append(_Member("配偶", not head_male, _birth(rng, spouse_age, today), spouse_surname))
    family_surname = head_surname if head_male or len(members) == 1 else spouse_surname
    parents = 0
    eldest_child_age = None
    while len(members) < size:
        pick = rng.random()
        if pick < 0.18 and parents < 2 and head_age + 22 <= 98:
            parent_age = min(98, head_age + rng.randint(22, 34))
            male = parents == 0 and rng.random() < 0.5
            members.append(_Member("父亲" if male else "母亲", male, _birth(rng, parent_age, today),
                                   head_surname if male else names.surname()))
            parents += 1
        elif pick < 0.30 and eldest_child_age is not None and eldest_child_age >= 21:
            male = rng.random() < 0.52
            age = rng.randint(0, eldest_child_age - 20)
            members.append(_Member("孙子" if male else "孙女", male, _birth(rng, age, today), family_surname))
        elif pick < 0.34:
            male = rng.random() < 0.5
            age = max(18, head_age + rng.randint(-8, 8))
            members.append(_Member("兄弟" if male else "姐妹", male, _birth(rng, age, today), head_surname))
        else:
            male = rng.random() < 0.52
            age = max(0, head_age - rng.randint(20, 38))
            eldest_child_age = max(age, eldest_child_age or 0)
            members.append(_Member("子" if male else "女", male, _birth(rng, age, today), family_surname))
    return members


def _period(rng: random.Random, how: str, today: date) -> tuple[date, date | None]:
    """A validity period of an identity: open, ended or expired, as certifications really look."""
    if how == "ended_2020":
        return date(rng.randint(2014, 2019), rng.randint(1, 12), rng.randint(1, 28)), date(2020, 12, 31)
    if how == "open_2014":
        return date(rng.randint(2014, 2019), rng.randint(1, 12), rng.randint(1, 28)), None
    if how == "from_2021":
        return date(2021, 1, 1), None
    if how == "expired":
        start = date(rng.randint(2018, today.year - 2), rng.randint(1, 12), rng.randint(1, 28))
        end = start + timedelta(days=rng.randint(180, 720))
        return start, min(end, today - timedelta(days=30))
    # "recent": certified in the last few years, mostly still valid, some with a set end date in the future.
    start = today - timedelta(days=rng.randint(30, 365 * 5))
    if rng.random() < 0.2:
        return start, today + timedelta(days=rng.randint(30, 720))
    return start, None


def _phone(rng: random.Random) -> str:
    return rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"


@dataclass
class GenerationResult:
    households: int = 0
    persons: int = 0
    identities: int = 0
    enrollments: int = 0
    problems: int = 0


@dataclass
class _CountyContext:
    region: Region
    townships: list[_Township]
    terms: dict[int, EnrolmentTerms]  # plan year → terms (policy, contribution standard, subsidy rules)
    clerk: User | None


class _Row(dict):
    """A row to insert, keyed by attname (``region_id``, not ``region``), read and written like a model."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


_DEFAULTS: dict[type, dict] = {}


def _new(model, **values) -> _Row:
    """A row of `model` with every column at its model default, overridden by `values`."""
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        defaults = _DEFAULTS[model] = {
            f.attname: f.get_default() for f in model._meta.concrete_fields if not f.primary_key}
    row = _Row(defaults)
    row.update(values)
    return row


class _Writer:
    """Writes one chunk of one table at a time and sets the new primary keys on the rows.

    PostgreSQL gets COPY with keys reserved from the table's sequence: at a million people, Django's
    bulk_create spends two thirds of the run building model instances and SQL (measured: bench/README.md).
    Elsewhere, and whenever history is wanted, it is bulk_create (with history for the small demo).
    """

    def __init__(self, *, with_history: bool, chunk_size: int):
        self.with_history = with_history
        self.chunk_size = chunk_size
        self.use_copy = connection.vendor == "postgresql" and not with_history

    def write(self, model, rows: list[_Row]) -> list[_Row]:
        if not rows:
            return rows
        if self.use_copy:
            self._copy(model, rows)
            return rows
        objs = [model(**row) for row in rows]
        if self.with_history:
            from simple_history.utils import bulk_create_with_history

            objs = bulk_create_with_history(
                objs, model, batch_size=self.chunk_size, default_change_reason=_("Demo data"))
        else:
            objs = model.objects.bulk_create(objs, batch_size=self.chunk_size)
        for row, obj in zip(rows, objs, strict=True):
            row["id"] = obj.pk
        return rows

    def _copy(self, model, rows: list[_Row]) -> None:
        from psycopg import sql

        meta = model._meta
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        now = timezone.now()
        stamped = [f.attname for f in fields if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                           [meta.db_table, meta.pk.column, len(rows)])
            for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
                row["id"] = pk
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(meta.db_table),
                sql.SQL(", ").join(sql.Identifier(c) for c in [meta.pk.column, *(f.column for f in fields)]))
            attnames = [f.attname for f in fields]
            # Choices are str enums, which psycopg would dump by their name, not their value.
            enums = [f.attname for f in fields if f.choices]
            with cursor.cursor.copy(statement) as copy:
                for row in rows:
                    for name in stamped:
                        row[name] = row.get(name) or now
                    values = dict(row)
                    for name in enums:
                        if isinstance(values[name], Enum):
                            values[name] = values[name].value
                    copy.write_row([values["id"], *map(values.__getitem__, attnames)])


def generated_tables() -> list[str]:
    return [model._meta.db_table for model in (Household, Person, Identity, Enrollment, LedgerProblem)]


def demo_data_exists() -> bool:
    return Person.objects.exists() or Household.objects.exists()


def generate(*, persons: int = DEFAULT_PERSONS, seed: int = 1, region: Region, today: date | None = None,
             chunk_size: int = CHUNK_SIZE, with_history: bool | None = None,
             progress: Callable[[GenerationResult], None] | None = None) -> GenerationResult:
    """Generate `persons` people in households under `region`, with identities, ledger rows and problems.

    Runs inside the caller's transaction and returns what it created. Rows are composed a chunk at a time and
    written table by table, so memory does not grow with `persons`.

    Ledger rows are computed here with the ledger services' own assessment (contribution, 就高 subsidy, shares,
    coverage) and written in bulk: registering and paying row by row through `enrollment.services.ledger` took
    minutes for the 2 000-person demo. A small data set (up to HISTORY_LIMIT people, or `with_history=True`) gets
    history rows, and its ledger problems are found and last year's closed off by the services themselves
    (`detect_ledger_problems`, `close_problem`). A large one is written without history — generated rows have no
    author and no past worth recording — and its problems are computed alongside the rows.
    """
    today = today or timezone.localdate()
    with_history = persons <= HISTORY_LIMIT if with_history is None else with_history
    rng = random.Random(seed)
    names = _Names(rng)
    counties = demo_counties(region)
    years = [today.year - 1, today.year]
    ensure_contribution_standards(counties, years)
    terms = {year: enrolment_terms(counties, year) for year in years}
    categories = {c.code: c for c in IdentityCategory.objects.all()}
    clerks = {}
    for membership in (RegionMembership.objects.filter(region__in=counties, user__groups__name=roles.CLERK)
                       .select_related("user").order_by("user__username")):
        clerks.setdefault(membership.region_id, membership.user)
    contexts = [
        _CountyContext(c, _townships(random.Random(f"{seed}-{c.code}"), c), {y: terms[y][c.pk] for y in years},
                       clerks.get(c.pk))
        for c in counties
    ]
    # The prefecture seat is the largest county; the others vary a little.
    weights = [3.0 if c.region.code == "522701" else 1.0 + (i % 3) * 0.4 for i, c in enumerate(contexts)]
    allocator = IdNumberAllocator([c.code for c in counties] + MOVED_IN_PLACES, seed, today)
    writer = _Writer(with_history=with_history, chunk_size=chunk_size)
    if writer.use_copy:
        # Django declares foreign keys DEFERRABLE INITIALLY DEFERRED, so PostgreSQL would queue one check per
        # row and reference until commit — tens of millions at a million people. Checking at the end of each
        # COPY keeps memory flat; SET CONSTRAINTS lasts only for this transaction.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    pattern_weights = [w for w, _p in IDENTITY_PATTERNS]
    result = GenerationResult()
    household_serial = 0
    while result.persons < persons:
        target = min(chunk_size, persons - result.persons)
        chunk: list[tuple[_Row, _CountyContext, list[_Member], list | None]] = []
        chunk_people = 0
        while chunk_people < target:
            ctx = rng.choices(contexts, weights=weights)[0]
            size = min(rng.choices(HOUSEHOLD_SIZES, weights=HOUSEHOLD_SIZE_WEIGHTS)[0], target - chunk_people)
            members = _compose(rng, names, size, today)
            township = rng.choice(ctx.townships)
            village = rng.choice(township.villages)
            household_serial += 1
            pattern = None
            # Poorer households are larger, so identities cluster in them a little.
            if rng.random() < IDENTITY_HOUSEHOLD_SHARE + 0.04 * (size - 3):
                pattern = rng.choices(IDENTITY_PATTERNS, weights=pattern_weights)[0][1]
            household = _household(rng, ctx, township, village, household_serial, size, pattern, today)
            chunk.append((household, ctx, members, pattern))
            chunk_people += size
        people, held = _write_people(rng, names, allocator, writer, chunk, categories, today, result)
        fates = [(person, ctx, year, _fate(rng, person, ctx.terms[year], bool(held.get(person.id)), today))
                 for person, ctx in people for year in years]
        _ledger_in_bulk(rng, writer, fates, held, today, result, with_problems=not with_history)
        if progress:
            progress(result)
    if with_history:
        result.problems += _problems_through_services(rng, region, contexts, years, today)
    return result


def _household(rng, ctx, township, village, serial, size, pattern, today) -> _Row:
    # Identity households are poorer; figures are yuan per year, as the civil-affairs check reports them.
    per_head = rng.randint(4_000, 12_000) if pattern else rng.randint(9_000, 30_000)
    income = Decimal(per_head * size + rng.randint(0, 99) * 10)
    assets = Decimal(rng.randint(2, 60 if pattern else 300) * 5_000)
    return _new(
        Household, number=f"{ctx.region.code}{serial:09d}",
        region_id=ctx.region.pk, township=township.name, village=village,
        address=f"{ctx.region.name}{township.name}{village}{rng.randint(1, 12)}组{rng.randint(1, 120)}号",
        annual_income=income, income_year=today.year - 1,
        income_source=rng.choice(["民政家庭经济状况核对", "乡村振兴防返贫监测系统", "村委会入户调查"]),
        assets_value=assets, assets_year=today.year - 1,
        assets_source=rng.choice(["民政家庭经济状况核对", "不动产与车辆登记核查"]),
    )


def _write_people(rng, names, allocator, writer, chunk, categories, today, result):
    """Write a chunk's households, people and identities; return [(person, county)] and {person id: identities}."""
    households = writer.write(Household, [household for household, *_rest in chunk])
    people: list[_Row] = []
    contexts: list[_CountyContext] = []
    patterns: list[list | None] = []
    for household, (_h, ctx, members, pattern) in zip(households, chunk, strict=True):
        taken: set[str] = set()
        for member in members:
            person = _person(rng, names, allocator, ctx, household, member, today)
            while person.name in taken:  # two members of one household never share a name
                person.name = member.surname + names.given(member.male)
            taken.add(person.name)
            people.append(person)
            contexts.append(ctx)
            patterns.append(pattern)
    writer.write(Person, people)

    identities = []
    held: dict[int, list[tuple[str, date, date | None]]] = {}
    for person, ctx, pattern in zip(people, contexts, patterns, strict=True):
        for code, (start, end) in _identities_of(rng, person, pattern, today):
            category = categories[code]
            start = max(start, person.birth_date)
            if end is not None and end < start:
                continue
            identities.append(_new(
                Identity, person_id=person.id, category_id=category.pk, valid_from=start, valid_to=end,
                certified_by=category.certified_by,
                source_document=SOURCE_DOCUMENTS.get(category.certified_by, "{county}{year}").format(
                    county=ctx.region.name, year=start.year, batch=rng.randint(1, 6)),
                source_batch=f"{category.code.upper()[:6]}-{start.year}-{rng.randint(1, 6):02d}"))
            held.setdefault(person.id, []).append((code, start, end))
    writer.write(Identity, identities)
    result.households += len(households)
    result.persons += len(people)
    result.identities += len(identities)
    return list(zip(people, contexts, strict=True)), held


def _person(rng, names, allocator, ctx, household, member: _Member, today) -> _Row:
    place = ctx.region.code if rng.random() < 0.93 else rng.choice(MOVED_IN_PLACES)
    birth = member.birth
    number = allocator.take(place, birth, member.male)
    while number is None:  # 499 people of one sex born on one day at one place: move the birthday a day
        birth = birth - timedelta(days=1)
        number = allocator.take(place, birth, member.male)
    # First-generation cards (15 digits, issued until 1999) were converted for some older people.
    converted = number[:6] + number[8:17] if birth.year < 1984 and rng.random() < 0.02 else ""
    death = None
    age = (today - birth).days // 365
    if age >= 70 and rng.random() < 0.02:
        death = today - timedelta(days=rng.randint(1, 500))
    adult = age >= 18
    is_head = member.relation == "户主"
    return _new(
        Person, id_number=number, id_converted_from=converted,
        name=member.surname + names.given(member.male),
        sex="M" if member.male else "F", birth_date=birth,
        household_id=household.id, relation_to_head=member.relation,
        region_id=ctx.region.pk, township=household.township, village=household.village,
        phone=_phone(rng) if adult and rng.random() < 0.6 else "",
        bank_name=rng.choice(BANKS) if is_head else "",
        bank_account=f"6{rng.randrange(10**18):018d}" if is_head else "",
        death_date=death,
    )


def _identities_of(rng, person: _Row, pattern, today):
    """The household's identities for this member, plus individual ones (特困, 孤儿) where they fit."""
    out = []
    if pattern:
        for code, how in pattern:
            out.append((code, _period(rng, how, today)))
    age = (today - person.birth_date).days // 365
    if person.relation_to_head == "户主" and age >= 60 and rng.random() < 0.03:
        out.append(("tekun", _period(rng, "recent", today)))
    elif age < 16 and rng.random() < 0.002:
        out.append(("orphan" if rng.random() < 0.5 else "unsupported_child", _period(rng, "recent", today)))
    elif rng.random() < 0.003:
        out.append(("illness_poor", _period(rng, "recent", today)))
    seen = set()
    return [(c, p) for c, p in out if not (c in seen or seen.add(c))]


# --------------------------------------------------------------------------------------------------------------
# The ledger


@dataclass(frozen=True)
class _Fate:
    """What happens to a person in a plan year: registered on a day, then paid, left unpaid or could not enrol."""

    status: str
    scheme: str
    registered_on: date
    paid_on: date | None = None
    cannot_reason: str = ""
    cannot_evidence: str = ""


def _fate(rng, person: _Row, terms: EnrolmentTerms, holds_identity: bool, today: date) -> _Fate | None:
    year = terms.plan_year
    first = date(year, 1, 1)
    if terms.policy is None or person.birth_date > today:
        return None
    if person.death_date and person.death_date < first:
        if person.death_date < date(year - 1, 9, 15):
            return None
        # Registered in the collection period, died before the plan year began: 不能参保 (死亡).
        registered = date(year - 1, 9, rng.randint(1, 14))
        return _Fate(EnrollmentStatus.CANNOT_ENROL, Scheme.RESIDENT_TIER1, registered, None,
                     CannotEnrolReason.DECEASED, "死亡医学证明（推断）书")
    newborn = person.birth_date.year == year
    if newborn:
        if rng.random() < 0.4:  # not registered yet
            return None
        registered = min(person.birth_date + timedelta(days=rng.randint(3, 80)), today)
    else:
        # The yearly collection runs from September to December of the year before (集中征缴期).
        registered = date(year - 1, rng.randint(9, 12), rng.randint(1, 28))
    scheme = Scheme.RESIDENT_TIER1
    if terms.standard.tier2 is not None and rng.random() < 0.08:
        scheme = Scheme.RESIDENT_TIER2
    age = (first - person.birth_date).days // 365
    draw = rng.random()
    if draw < 0.015 and 18 <= age < 60:
        pool = CANNOT_REASONS_YOUNG if age < 25 and rng.random() < 0.6 else CANNOT_REASONS_WORKING_AGE
        reason, evidence = rng.choice(pool)
        return _Fate(EnrollmentStatus.CANNOT_ENROL, scheme, registered, None, reason, evidence)
    # Identity holders are followed up one by one (应保尽保), so fewer of them stay uninsured.
    if draw < (0.025 if holds_identity else 0.05):
        current = year == today.year
        status = EnrollmentStatus.SHOULD_ENROL if current and rng.random() < 0.5 else EnrollmentStatus.NOT_INSURED
        return _Fate(status, scheme, registered)
    paid = min(registered + timedelta(days=rng.randint(0, 10)), today)
    return _Fate(EnrollmentStatus.INSURED, scheme, registered, paid)


def _problems_through_services(rng, region, contexts, years, today) -> int:
    """Find the ledger's problems as the nightly check does; last year's were worked through and closed off by
    the county's clerk (对账销号)."""
    found = 0
    clerks = {ctx.region.pk: ctx.clerk for ctx in contexts}
    for year in years:
        current = year == today.year
        found_on = today if current else date(year, 2, 1)
        result = ledger.detect_ledger_problems(
            region=region, plan_year=year, by=None, responsible_unit=RESPONSIBLE_UNIT,
            deadline=found_on + timedelta(days=30), collection_closed_on=date(year - 1, 12, 31), on_date=found_on)
        found += result.total_created
        if current:
            continue
        rows = {e.person_id: e for e in Enrollment.objects.filter(region__path__startswith=region.path,
                                                                   plan_year=year)}
        for problem in (LedgerProblem.objects.filter(region__path__startswith=region.path, plan_year=year,
                                                     status=ProblemStatus.OPEN)
                        .select_related("person").order_by("pk")):
            # Resolved in the ledger first (对账销号 needs it): found insured elsewhere or in the employees' scheme.
            # Problems the demo cannot resolve this way stay open, as last year's leftovers do.
            row = rows.get(problem.person_id)
            if problem.kind != ProblemKind.NOT_INSURED or row is None or row.status == EnrollmentStatus.INSURED:
                continue
            note = rng.choice(CLOSING_NOTES[1:])
            reason = (CannotEnrolReason.INSURED_ELSEWHERE if "外地" in note else CannotEnrolReason.EMPLOYEE_SCHEME)
            clerk = clerks.get(problem.region_id)
            if clerk is None:
                continue  # a county without a demo clerk: nobody may close its problems (the services check)
            if row.status != EnrollmentStatus.CANNOT_ENROL:
                ledger.mark_cannot_enrol(enrollment=row, reason=reason, evidence=note, by=clerk)
            ledger.close_problem(problem=problem, by=clerk, note=note,
                                 on_date=found_on + timedelta(days=rng.randint(5, 50)))
    return found


def _ledger_in_bulk(rng, writer, fates, held, today, result, *, with_problems: bool) -> None:
    """The same ledger as the services would write, computed with their rule code and written in one go."""
    enrollments, problems = [], []
    for person, ctx, year, fate in fates:
        if fate is None:
            continue
        terms = ctx.terms[year]
        row = _new(Enrollment, person_id=person.id, plan_year=year, region_id=ctx.region.pk, scheme=fate.scheme,
                   status=fate.status, policy_id=terms.policy.pk, coverage_end=date(year, 12, 31))
        if fate.status == EnrollmentStatus.CANNOT_ENROL:
            row.cannot_reason, row.cannot_evidence = fate.cannot_reason, fate.cannot_evidence
        known_on = fate.paid_on or fate.registered_on
        assessment = assess_enrolment(terms, scheme=fate.scheme, identities=held.get(person.id, []),
                                      birth_date=person.birth_date, on_date=known_on)
        row.contribution_due = assessment.contribution_due
        row.coverage_start = assessment.coverage.coverage_start
        best = assessment.subsidy
        if best is not None:
            row.subsidy_amount = best.amount
            row.subsidy_category_id = terms.category_ids[best.rule.category]
            row.subsidy_funding_source = best.rule.funding_source
            row.subsidy_granted_on = known_on
            shares = assessment.shares
            row.subsidy_province, row.subsidy_prefecture, row.subsidy_county = (
                shares.province, shares.prefecture, shares.county)
        if fate.status == EnrollmentStatus.INSURED:
            row.person_paid = row.contribution_due - row.subsidy_amount
            row.paid_on = fate.paid_on
        elif with_problems and fate.status in (EnrollmentStatus.NOT_INSURED, EnrollmentStatus.SHOULD_ENROL):
            problems.append(_not_insured_problem(rng, person, ctx, year, today, fate.status))
        enrollments.append(row)
    writer.write(Enrollment, enrollments)
    writer.write(LedgerProblem, problems)
    result.enrollments += len(enrollments)
    result.problems += len(problems)


RESPONSIBLE_UNIT = "属地乡镇（街道）医保经办站"
CLOSING_NOTES = ["已动员参保缴费，对账销号", "核实已在外地参保，对账销号", "核实已参加职工医保，对账销号"]


def _not_insured_problem(rng, person, ctx, year, today, status):
    """A person not insured is a ledger problem (应保尽保); last year's have been closed off."""
    description = (_("Recorded as not insured for %(year)s.") if status == EnrollmentStatus.NOT_INSURED
                   else _("Should be insured for %(year)s but no payment is recorded.")) % {"year": year}
    current = year == today.year
    found_on = today if current else date(year, 2, 1)
    problem = _new(
        LedgerProblem, person_id=person.id, plan_year=year, region_id=ctx.region.pk, kind=ProblemKind.NOT_INSURED,
        description=description, responsible_unit=RESPONSIBLE_UNIT, deadline=found_on + timedelta(days=30))
    if not current:
        problem.status = ProblemStatus.CLOSED
        problem.closed_on = found_on + timedelta(days=rng.randint(5, 50))
        problem.closed_by_id = ctx.clerk.pk if ctx.clerk else None
        problem.closing_note = rng.choice(CLOSING_NOTES)
    return problem
