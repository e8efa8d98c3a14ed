"""Dashboard, queues, the item page and bulk assignment: region isolation, query counts, figures = lists."""

from datetime import date

import pytest
from django.core.cache import cache
from django.urls import reverse

from enrollment import roles
from monitoring.models import ItemStatus, ListKind, WarningItem
from monitoring.services import night
from tests.factories import make_identity, make_person, make_user

from .factories import monitored_policy, settled

NIGHT = date(2024, 6, 28)


@pytest.fixture
def world(regions):
    cache.clear()
    policy = monitored_policy(regions["prefecture"])
    for i in range(3):
        person = make_person(regions["a"], name=f"甲{i}")
        make_identity(person, "unstable_lifted", date(2020, 1, 1))
        settled(person, policy=policy, total="12000.00", scope="12000.00")
    other = make_person(regions["b"], name="乙")
    settled(other, policy=policy, total="30000.00", scope="30000.00")
    night.run_night(region=regions["province"], day=NIGHT)
    return regions


@pytest.fixture
def clerk(world):
    return make_user("clerk_a", roles=(roles.CLERK,), regions=(world["a"],))


@pytest.mark.django_db
def test_dashboard_figures_equal_the_lists_behind_them(client, world, clerk, django_assert_max_num_queries):
    client.force_login(clerk)
    response = client.get(reverse("monitoring:dashboard"))
    assert response.status_code == 200
    kinds = {k["kind"]: k for k in response.context["kinds"]}
    for kind, card in kinds.items():
        listed = client.get(card["url"]).context["page"].paginator.count
        assert card["present"] == listed, kind
        for _status, _label, count, url in card["statuses"]:
            assert client.get(url).context["page"].paginator.count == count
    assert kinds[ListKind.HIGH_COST]["present"] == 3  # county A only: B's item is not the clerk's
    assert kinds[ListKind.INSURANCE_GAP]["present"] == 3
    assert response.context["board"].last_run["data_date"] == NIGHT


@pytest.mark.django_db
def test_dashboard_query_count_is_pinned_and_cached_per_run(client, world, clerk, django_assert_max_num_queries):
    client.force_login(clerk)
    # The run, the live warning counts (items by list and status, parts over the nights), the night's stored
    # figures; the rest is session, user and the region links.
    with django_assert_max_num_queries(12):
        board = client.get(reverse("monitoring:dashboard")).context["board"]
    assert board.from_snapshot
    with django_assert_max_num_queries(12):
        client.get(reverse("monitoring:dashboard"))
    prefecture_user = make_user("pref", roles=(roles.CLERK,), regions=(world["prefecture"],))
    client.force_login(prefecture_user)
    board = client.get(reverse("monitoring:dashboard")).context["board"]
    assert board.items[ListKind.HIGH_COST]["present"] == 4  # the prefecture rolls up both counties


@pytest.mark.django_db
def test_a_clerk_cannot_open_another_countys_dashboard_or_items(client, world, clerk):
    client.force_login(clerk)
    assert client.get(reverse("monitoring:dashboard") + "?region=522702").status_code == 404
    foreign = WarningItem.objects.filter(region=world["b"]).first()
    assert client.get(reverse("monitoring:item", args=[foreign.pk])).status_code == 404
    assert client.post(reverse("monitoring:item_action", args=[foreign.pk, "verify"])).status_code == 404
    listed = client.get(reverse("monitoring:items")).context["page"].paginator.count
    assert listed == WarningItem.objects.filter(region=world["a"]).count()


@pytest.mark.django_db
def test_queue_query_count_is_pinned(client, world, clerk, django_assert_max_num_queries):
    client.force_login(clerk)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("monitoring:items") + "?status=open")
    assert len(response.context["page"].object_list) == WarningItem.objects.filter(region=world["a"]).count()


@pytest.mark.django_db
def test_verify_exclude_and_bulk_assign_through_the_pages(client, world, clerk):
    client.force_login(clerk)
    item, other = WarningItem.objects.filter(region=world["a"], kind=ListKind.HIGH_COST)[:2]
    client.post(reverse("monitoring:item_action", args=[item.pk, "verify"]), {"note": "入户核实属实"})
    item.refresh_from_db()
    assert item.status == ItemStatus.VERIFIED and "入户核实属实" in item.notes
    assert item.history.first().history_user == clerk
    response = client.post(reverse("monitoring:item_action", args=[other.pk, "exclude"]), {"reason": ""},
                           follow=True)
    assert "Give the reason" in response.content.decode()
    other.refresh_from_db()
    assert other.status == ItemStatus.PENDING
    client.post(reverse("monitoring:assign"), {"items": [item.pk, other.pk], "assignee": clerk.pk})
    assert set(WarningItem.objects.filter(assignee=clerk).values_list("pk", flat=True)) == {item.pk, other.pk}
    mine = client.get(reverse("monitoring:items") + "?assignee=me").context["page"].paginator.count
    assert mine == 2


@pytest.mark.django_db
def test_bulk_assignment_refuses_items_outside_the_region(client, world, clerk):
    client.force_login(clerk)
    foreign = WarningItem.objects.filter(region=world["b"]).first()
    mine = WarningItem.objects.filter(region=world["a"]).first()
    client.post(reverse("monitoring:assign"), {"items": [foreign.pk, mine.pk], "assignee": clerk.pk})
    assert not WarningItem.objects.filter(assignee__isnull=False).exists()


@pytest.mark.django_db
def test_a_role_without_monitoring_permissions_sees_nothing(client, world):
    hospital_user = make_user("hosp", roles=(roles.HOSPITAL,), regions=(world["a"],))
    client.force_login(hospital_user)
    assert client.get(reverse("monitoring:dashboard")).status_code == 403
    assert client.get(reverse("monitoring:items")).status_code == 403
