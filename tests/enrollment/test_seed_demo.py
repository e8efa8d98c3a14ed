"""seed_demo: the demo county of `make run` and the benchmarks' synthetic generator."""

import io
from collections import Counter
from datetime import date

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db.models import F

from enrollment import demo, roles
from enrollment.idnumbers import convert_15_to_18, parse_id_number
from enrollment.models import Enrollment, Household, Identity, LedgerProblem, Person, Region, RegionMembership
from enrollment.models.ledger import EnrollmentStatus, ProblemStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(password_file, *args) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--password-file", str(password_file), *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def password_file(tmp_path):
    return tmp_path / "demo-logins.txt"


@pytest.fixture
def seeded(password_file):
    return seed(password_file, "--persons", "200", "--seed", "7")


def test_people_have_valid_unique_id_numbers_consistent_with_sex_and_birth(seeded):
    people = list(Person.objects.values("id_number", "id_converted_from", "sex", "birth_date", "name"))
    assert len(people) == 200
    assert len({p["id_number"] for p in people}) == 200
    for person in people:
        parsed = parse_id_number(person["id_number"])  # raises on any invalid number
        assert parsed.number == person["id_number"]
        assert parsed.sex == person["sex"]
        assert parsed.birth_date == person["birth_date"]
        assert 2 <= len(person["name"]) <= 4
        if person["id_converted_from"]:
            assert convert_15_to_18(person["id_converted_from"]) == person["id_number"]


def test_households_have_one_head_and_relations_fit_sex_and_age(seeded):
    heads = Counter(Person.objects.filter(relation_to_head="户主").values_list("household_id", flat=True))
    assert set(heads) == set(Household.objects.values_list("pk", flat=True))
    assert set(heads.values()) == {1}
    sizes = Counter(Person.objects.values_list("household_id", flat=True))
    assert max(sizes.values()) <= 6
    by_household = {}
    for person in Person.objects.order_by("household_id", "pk"):
        by_household.setdefault(person.household_id, []).append(person)
    for members in by_household.values():
        head = next(p for p in members if p.relation_to_head == "户主")
        assert len({p.name for p in members}) == len(members)
        for person in members:
            assert person.region_id == head.region_id and person.village == head.village
            if person.relation_to_head == "配偶":
                assert person.sex != head.sex
            if person.relation_to_head in ("父亲", "子", "孙子", "兄弟"):
                assert person.sex == "M"
            if person.relation_to_head in ("母亲", "女", "孙女", "姐妹"):
                assert person.sex == "F"
            if person.relation_to_head in ("父亲", "母亲"):
                assert person.birth_date < head.birth_date
            if person.relation_to_head in ("子", "女", "孙子", "孙女"):
                assert person.birth_date > head.birth_date
    household = Household.objects.first()
    assert household.annual_income > 0 and household.income_year and household.income_source
    assert household.assets_value > 0 and household.assets_year and household.assets_source


def test_every_role_has_a_user_working_in_a_region(seeded):
    for role in roles.ROLE_PERMISSIONS:
        users = User.objects.filter(groups__name=role, is_staff=True, is_active=True)
        assert users.exists(), role
        assert RegionMembership.objects.filter(user__in=users).exists(), role
    clerk_regions = set(RegionMembership.objects.filter(user__groups__name=roles.CLERK)
                        .values_list("region__code", flat=True))
    assert {"522701", "522725"} <= clerk_regions  # a second county shows isolation
    # No demo login is a superuser: the administrator manages the prefecture's accounts, a province head changes
    # the shared reference data (the night's schedule among it).
    assert not User.objects.filter(is_superuser=True).exists()
    assert RegionMembership.objects.filter(user__username="admin_522700", region__code="522700",
                                           user__groups__name=roles.ADMIN).exists()
    assert RegionMembership.objects.filter(user__username="head_522700", region__code="522700").exists()
    assert RegionMembership.objects.filter(user__username="head_520000", region__code="520000",
                                           user__groups__name=roles.HEAD).exists()


def test_identities_and_ledger_are_consistent_with_people(seeded):
    holders = Person.objects.filter(identities__isnull=False).distinct().count()
    assert 0.2 <= holders / 200 <= 0.6
    assert not Identity.objects.filter(valid_to__lt=F("valid_from")).exists()
    assert Identity.objects.filter(valid_to__isnull=False, valid_to__lt=date.today()).exists()  # some expired

    years = set(Enrollment.objects.values_list("plan_year", flat=True))
    assert years == {date.today().year - 1, date.today().year}
    assert not Enrollment.objects.exclude(region_id=F("person__region_id")).exists()
    assert not LedgerProblem.objects.exclude(region_id=F("person__region_id")).exists()
    assert not Household.objects.exclude(members__region_id=F("region_id")).filter(members__isnull=False).exists()
    statuses = Counter(Enrollment.objects.values_list("status", flat=True))
    assert statuses[EnrollmentStatus.INSURED] / sum(statuses.values()) > 0.85
    # Qiannan's policy: registered_poor get 100 yuan, shared by government level; never more than is due.
    subsidised = Enrollment.objects.filter(subsidy_amount__gt=0)
    assert subsidised.exists()
    assert not subsidised.filter(subsidy_amount__gt=F("contribution_due")).exists()
    assert not Enrollment.objects.filter(status=EnrollmentStatus.INSURED).exclude(
        person_paid=F("contribution_due") - F("subsidy_amount")).exists()
    assert not Enrollment.objects.filter(status=EnrollmentStatus.CANNOT_ENROL, cannot_reason="").exists()


def test_if_empty_creates_nothing_and_prints_the_same_logins(password_file, seeded):
    counts = [m.objects.count() for m in (Person, Household, Identity, Enrollment, LedgerProblem, User)]
    passwords = demo.read_password_file(password_file)
    assert set(passwords) >= {"admin_522700", "head_520000", "clerk_522701"}
    for username, password in passwords.items():
        assert password in seeded
        assert User.objects.get(username=username).check_password(password)

    again = seed(password_file, "--if-empty")

    assert [m.objects.count() for m in (Person, Household, Identity, Enrollment, LedgerProblem, User)] == counts
    assert demo.read_password_file(password_file) == passwords
    for username, password in passwords.items():
        assert username in again and password in again
    assert demo.ADMIN_URL in again


def test_without_if_empty_a_filled_database_is_refused(password_file, seeded):
    with pytest.raises(CommandError):
        seed(password_file, "--persons", "10")
    assert Person.objects.count() == 200


def test_a_failed_run_writes_nothing_and_the_next_one_reuses_its_passwords(password_file, monkeypatch):
    """Passwords are filed before the data is written; after a rollback the file must still match the users."""
    def fail(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(demo, "generate", fail)
    with pytest.raises(RuntimeError):
        seed(password_file, "--persons", "20")
    assert not User.objects.filter(username="admin_522700").exists()
    assert not Person.objects.exists()
    first = demo.read_password_file(password_file)
    monkeypatch.undo()

    seed(password_file, "--persons", "20", "--seed", "3")

    assert demo.read_password_file(password_file) == first
    assert User.objects.get(username="clerk_522701").check_password(first["clerk_522701"])


def test_bulk_path_writes_the_same_kind_of_ledger_with_problems(password_file):
    """The path of large data sets (no history, problems computed alongside; COPY on PostgreSQL)."""
    call_command("load_policy", "--all", stdout=io.StringIO())
    region = Region.objects.get(code="522732")
    demo.ensure_demo_users(region=region, password_file=password_file)
    result = demo.generate(persons=300, seed=5, region=region, with_history=False, chunk_size=120)

    assert result.persons == Person.objects.count() == 300
    assert set(Person.objects.values_list("region__code", flat=True)) == {"522732"}
    assert result.enrollments == Enrollment.objects.count()
    assert result.identities == Identity.objects.count() > 0
    assert Person.history.count() == 0  # generated rows carry no history
    assert len(set(Person.objects.values_list("id_number", flat=True))) == 300
    problems = LedgerProblem.objects.all()
    assert problems.count() == result.problems
    assert problems.count() == Enrollment.objects.filter(
        status__in=[EnrollmentStatus.NOT_INSURED, EnrollmentStatus.SHOULD_ENROL]).count()
    assert not problems.filter(plan_year=date.today().year - 1).exclude(status=ProblemStatus.CLOSED).exists()
    # 三都县 is a class-1 county: the province bears every cost-shared yuan.
    shared = Enrollment.objects.filter(subsidy_category__code="registered_poor")
    assert shared.exists()
    assert not shared.exclude(subsidy_province=F("subsidy_amount")).exists()


def test_id_allocator_never_repeats_and_keeps_sex_parity():
    allocator = demo.IdNumberAllocator(["522701"], seed=1, today=date(2026, 1, 1))
    born = date(1970, 3, 4)
    men = [allocator.take("522701", born, True) for _i in range(allocator.CAPACITY)]
    women = [allocator.take("522701", born, False) for _i in range(allocator.CAPACITY)]
    assert allocator.take("522701", born, True) is None
    numbers = men + women
    assert len(set(numbers)) == len(numbers)
    assert all(parse_id_number(n).sex == "M" for n in men)
    assert all(parse_id_number(n).sex == "F" for n in women)


def test_logins_table_aligns_chinese_text():
    table = demo.format_logins([demo.DemoLogin("clerk_522701", "经办员", "522701", "都匀市", "pw1"),
                                demo.DemoLogin("admin", "系统管理员", "520000", "贵州省", "pw2")])
    rows = table.splitlines()[2:4]
    assert demo._width(rows[0].split("pw1")[0]) == demo._width(rows[1].split("pw2")[0])
