"""A night: run record and join, idempotency (rerun, redelivery), handled items kept, evidence kept."""

from datetime import date
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from enrollment import roles
from monitoring.models import (
    ItemStatus,
    ListKind,
    NightRun,
    PartStatus,
    Reason,
    RunPart,
    RunStatus,
    WarningEvidence,
    WarningItem,
)
from monitoring.services import handling, night
from tests.factories import make_identity, make_person, make_user

from .factories import monitored_policy, reverse, settled

NIGHT = date(2024, 6, 28)
NEXT_NIGHT = date(2024, 7, 1)


@pytest.fixture
def world(regions):
    policy = monitored_policy(regions["prefecture"])
    lifted = make_person(regions["a"], name="脱贫户")
    make_identity(lifted, "unstable_lifted", date(2020, 1, 1))
    settled(lifted, policy=policy, total="12000.00", scope="12000.00")
    other = make_person(regions["b"], name="农村居民")
    settled(other, policy=policy, total="30000.00", scope="30000.00")
    return {"policy": policy, "lifted": lifted, "other": other, **regions}


def item_keys():
    return sorted(WarningItem.objects.values_list("kind", "reason", "subject_key", "period"))


@pytest.mark.django_db
def test_a_night_records_counts_per_county_and_list_and_closes(world):
    run = night.run_night(region=world["prefecture"], day=NIGHT)
    assert run.status == RunStatus.FINISHED and run.finished_at is not None
    parts = {(p.region.code, p.kind): p for p in run.parts.select_related("region")}
    assert len(parts) == 2 * len(night.night_kinds())
    assert parts[("522701", ListKind.HIGH_COST)].new_count == 1
    assert parts[("522702", ListKind.HIGH_COST)].new_count == 1
    assert parts[("522701", ListKind.HIGH_COST)].policy == world["policy"]
    item = WarningItem.objects.get(person=world["lifted"], kind=ListKind.HIGH_COST)
    assert (item.reason, item.status, item.first_seen_on) == (Reason.RELAPSE_PERSON, ItemStatus.PENDING, NIGHT)
    assert item.verify_due_on == date(2024, 7, 12)  # 10 working days
    assert item.history.count() == 1


@pytest.mark.django_db
def test_running_a_night_twice_yields_the_same_items(world):
    night.run_night(region=world["prefecture"], day=NIGHT)
    before = item_keys()
    second = night.run_night(region=world["prefecture"], day=NIGHT)
    assert item_keys() == before
    high = second.parts.get(region=world["a"], kind=ListKind.HIGH_COST)
    assert (high.new_count, high.unchanged_count, high.closed_count) == (0, 1, 0)
    assert WarningEvidence.objects.count() == len(before)


@pytest.mark.django_db
def test_the_database_refuses_a_duplicate_item(world):
    night.run_night(region=world["prefecture"], day=NIGHT)
    item = WarningItem.objects.filter(person__isnull=False).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        WarningItem.objects.create(kind=item.kind, reason=item.reason, subject_key=item.subject_key,
                                   period=item.period, region=item.region, person=item.person,
                                   first_seen_on=NIGHT, last_seen_on=NIGHT)


@pytest.mark.django_db
def test_a_part_killed_half_way_is_computed_again_when_redelivered(world):
    run = night.start_night(region=world["a"], day=NIGHT, kinds=[ListKind.HIGH_COST])
    part = run.parts.get()
    with mock.patch.object(night, "_history_insert", side_effect=RuntimeError("worker killed")), \
            pytest.raises(RuntimeError):
        night.compute_part(part_id=part.pk)
    part.refresh_from_db()
    assert part.status == PartStatus.PENDING and not WarningItem.objects.exists()
    night.compute_part(part_id=part.pk)  # the broker redelivers the unacknowledged task
    night.compute_part(part_id=part.pk)  # and once more: a finished part is left alone
    part.refresh_from_db()
    assert (part.status, part.new_count, part.attempts) == (PartStatus.DONE, 1, 1)
    assert WarningItem.objects.filter(kind=ListKind.HIGH_COST).count() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED


@pytest.mark.django_db
def test_handled_items_survive_a_rerun_and_a_gone_cause_is_marked_not_deleted(world):
    clerk = make_user("clerk", roles=(roles.CLERK,), regions=(world["a"],))
    night.run_night(region=world["prefecture"], day=NIGHT)
    item = WarningItem.objects.get(person=world["lifted"], kind=ListKind.HIGH_COST)
    handling.move_item(item=item, to=ItemStatus.VERIFIED, by=clerk, note="入户核实")
    handling.assign_items(item_ids=[item.pk], assignee=clerk, by=clerk)
    # The claim is corrected down below the threshold: the cause is gone the next night.
    reverse(world["lifted"].claims.get())
    night.run_night(region=world["prefecture"], day=NEXT_NIGHT)
    item.refresh_from_db()
    assert (item.status, item.assignee, item.cause_gone_on) == (ItemStatus.VERIFIED, clerk, NEXT_NIGHT)
    assert "入户核实" in item.notes
    assert item.evidence.filter(cause_gone=True, data_date=NEXT_NIGHT).exists()
    # ...and comes back: the same item, not a new one.
    settled(world["lifted"], policy=world["policy"], total="11000.00", scope="11000.00")
    night.run_night(region=world["prefecture"], day=date(2024, 7, 2))
    item.refresh_from_db()
    assert item.cause_gone_on is None and item.status == ItemStatus.VERIFIED
    assert WarningItem.objects.filter(person=world["lifted"], kind=ListKind.HIGH_COST).count() == 1


@pytest.mark.django_db
def test_one_merge_for_two_counties_keeps_each_countys_counts(world):
    night.run_night(region=world["prefecture"], day=NIGHT)
    reverse(world["lifted"].claims.get())  # county a: its item's cause goes
    newcomer = make_person(world["b"], name="新增户")  # county b: one item stays, one is new
    settled(newcomer, policy=world["policy"], total="40000.00", scope="40000.00")
    run = night.run_night(region=world["prefecture"], day=NEXT_NIGHT)
    counts = {part.region.code: (part.new_count, part.unchanged_count, part.closed_count, part.attempts)
              for part in run.parts.filter(kind=ListKind.HIGH_COST).select_related("region")}
    assert counts == {"522701": (0, 0, 1, 1), "522702": (1, 1, 0, 1)}
    assert run.lists.get(kind=ListKind.HIGH_COST).candidates == 2


@pytest.mark.django_db
def test_a_later_night_adds_evidence_instead_of_overwriting_it(world):
    night.run_night(region=world["prefecture"], day=NIGHT)
    settled(world["lifted"], policy=world["policy"], total="500.00", scope="500.00")
    night.run_night(region=world["prefecture"], day=NEXT_NIGHT)
    item = WarningItem.objects.get(person=world["lifted"], kind=ListKind.HIGH_COST)
    assert [(e.data_date, e.figures["out_of_pocket"]) for e in item.evidence.order_by("data_date")] == [
        (NIGHT, "12000.00"), (NEXT_NIGHT, "12500.00")]
    assert item.figures["out_of_pocket"] == "12500.00" and item.last_seen_on == NEXT_NIGHT


@pytest.mark.django_db
def test_a_county_without_thresholds_fails_its_part_and_the_night_still_closes(world):
    world["policy"].monitoring.delete()
    run = night.run_night(region=world["prefecture"], day=NIGHT)
    assert run.status == RunStatus.FAILED
    failed = run.parts.filter(status=PartStatus.FAILED)
    assert set(failed.values_list("kind", flat=True)) == {ListKind.HIGH_COST, ListKind.ASSISTANCE_FLOOR}
    assert "has no monitoring thresholds" in failed.first().error
    assert run.parts.filter(kind=ListKind.DEADLINE, status=PartStatus.DONE).count() == 2


@pytest.mark.django_db
def test_run_warnings_command(world):
    out = StringIO()
    call_command("run_warnings", "--region", "522700", "--date", "2024-06-28", stdout=out)
    assert NightRun.objects.get().data_date == NIGHT
    assert "522701" in out.getvalue()
    assert RunPart.objects.filter(status=PartStatus.DONE).count() == 2 * len(night.night_kinds())
