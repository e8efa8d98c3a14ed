"""Keyset pages of the reviewers' queues (claims.paging, issue 10 §5): every page by the key of a row, not OFFSET.

What must hold at any depth: the pages, walked forwards or backwards or reached by number, are the queue's order cut
into pieces — no row twice, none left out, ties broken by id, the undated rows (paused, exempted) last —; a row
inserted meanwhile moves no row of the next page; filters, tabs and region scoping hold on every page; a page costs
a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from claims import views
from claims.calendar import invalidate_calendar, work_calendar
from claims.models import HospitalBatch
from claims.models.batches import BatchState
from claims.models.reimbursement import CaseState
from claims.paging import InvalidCursor, KeysetPaginator
from claims.queues import batch_queue, case_queue
from claims.views import BATCH_KEY, CASE_KEY
from enrollment import roles
from tests.claims.test_queues import World
from tests.conftest import require
from tests.factories import make_user

D = dt.date.fromisoformat


@pytest.fixture(autouse=True)
def _english_plain_http(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SECURE_SSL_REDIRECT = False
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.LANGUAGE_CODE = "en"
    invalidate_calendar()
    with translation.override("en"):
        yield
    invalidate_calendar()


@pytest.fixture
def world(regions):
    return World(regions)


@pytest.fixture
def head(regions):
    return make_user("paging_head", roles=(roles.HEAD,), regions=(regions["a"],))


@pytest.fixture
def queue_with_ties(world, head):
    """17 open cases of region a: runs of equal due dates and equal received dates (ties broken by id only),
    undated ones (paused, exempted) after the dated ones, and cases of region b and closed ones in between."""
    today = timezone.localdate()
    for index in range(12):
        due = today + dt.timedelta(days=index // 4)  # four cases per due date
        world.case(due, received_on=D("2026-08-20") if index % 2 else D("2026-08-19"))
        if index % 3 == 0:
            world.case(due, region="b")
            world.case(due, state=CaseState.PAID)
    for _ in range(3):
        world.case(None, state=CaseState.RETURNED, received_on=D("2026-08-20"))
    world.case(None, exempt=True, exempt_kind="special", exempt_reason="特殊病案", exempt_signed_off_by=head)
    world.case(None, received_on=D("2026-08-18"))  # no due date yet: paused
    return case_queue(head, today=today, calendar=work_calendar(), mine=False)


def expected_order(queryset) -> list[int]:
    """The queue's order computed in Python from the rows themselves: due date (undated last), received, id."""
    rows = list(queryset.values_list("sla_due_on", "received_on", "pk"))
    rows.sort(key=lambda row: (row[0] is None, row[0] or dt.date.min, row[1], row[2]))
    return [row[2] for row in rows]


def pks(page) -> list[int]:
    return [row.pk for row in page.object_list]


# --------------------------------------------------------------------------------------------------------------
# The paginator on the case queue
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_page", [1, 3, 4, 12, 17, 20])
def test_pages_forwards_backwards_and_by_number_cut_the_order_into_pieces(queue_with_ties, per_page):
    order = expected_order(queue_with_ties)
    assert len(order) == 17
    assert [row.pk for row in queue_with_ties] == order  # the selector's own order is the same
    pieces = [order[start:start + per_page] for start in range(0, len(order), per_page)]

    # An exact count, one that ran out of its budget; page N's row found by OFFSET, or from the histogram.
    for count, histogram in ((len(order), None), (None, None), (len(order), KeysetPaginator.groups),
                             (None, KeysetPaginator.groups)):
        paginator = KeysetPaginator(queue_with_ties, per_page, CASE_KEY, count=count, histogram=histogram)
        walked, page = [], paginator.first()
        while True:
            walked.append(pks(page))
            if not page.has_next:
                break
            page = paginator.after(page.last_key)
        assert walked == pieces

        for number, piece in enumerate(pieces, start=1):
            page = paginator.page(number)
            assert pks(page) == piece, (number, count, histogram)
            assert (page.has_previous, page.has_next) == (number > 1, number < len(pieces))

        if count is not None:  # the last page holds what the last numbered page holds
            page, backwards = paginator.last(), []
            assert page.number == len(pieces)
            while True:
                backwards.append(pks(page))
                if not page.has_previous:
                    break
                page = paginator.before(page.first_key)
            assert backwards == pieces[::-1]


def test_the_histogram_counts_rows_per_due_and_received_date_in_the_queues_order(queue_with_ties):
    groups = KeysetPaginator(queue_with_ties, 5, CASE_KEY).groups()
    assert sum(rows for _due, _received, rows in groups) == 17
    assert [(due, received) for due, received, _rows in groups] == sorted(
        {(due, received) for due, received, _pk in queue_with_ties.values_list("sla_due_on", "received_on", "pk")},
        key=lambda group: (group[0] is None, group[0] or dt.date.min, group[1]))
    assert groups[-1][0] is None  # the undated rows last
    # Every position's key found through its group is the key OFFSET finds, from either end.
    paginator = KeysetPaginator(queue_with_ties, 5, CASE_KEY, histogram=KeysetPaginator.groups)
    for position in range(17):
        key = paginator._key_from_histogram(position)
        assert key is not None and key == paginator._key_at(position, from_end=False) == paginator._key_at(
            16 - position, from_end=True)
    assert paginator._key_from_histogram(17) is None


def test_a_row_inserted_meanwhile_moves_no_row_of_the_next_page(world, queue_with_ties):
    paginator = KeysetPaginator(queue_with_ties, 5, CASE_KEY)
    first = paginator.first()
    second = paginator.after(first.last_key)
    # Someone registers cases that sort onto the first page, and one at the very end, while the reviewer reads it.
    today = timezone.localdate()
    world.case(today - dt.timedelta(days=3))
    world.case(today, received_on=D("2026-08-01"))
    world.case(None, state=CaseState.RETURNED, received_on=D("2026-12-31"))
    assert pks(paginator.after(first.last_key)) == pks(second)
    # Offset pages would have shifted by two rows: page 2 by position now starts with the old first page's end.
    assert [row.pk for row in queue_with_ties.all()[5:10]] != pks(second)


def test_links_that_cannot_be_read_are_refused(queue_with_ties):
    paginator = KeysetPaginator(queue_with_ties, 5, CASE_KEY)
    for cursor in ("", "2026-09-01", "2026-09-01_2026-08-20", "x_2026-08-20_1", "2026-09-01__1",
                   "2026-09-01_2026-08-20_abc", "2026-13-01_2026-08-20_1"):
        with pytest.raises(InvalidCursor):
            paginator.after(cursor)
    # An undated key is valid (the paused rows), and a page after the last row shows the end of the queue.
    last = paginator.last()
    assert pks(paginator.after(last.last_key)) == pks(last)


def test_batch_queue_pages_by_its_annotated_due_date(world, regions, head):
    def batch(number, state, received_on, **fields):
        return HospitalBatch.objects.create(
            hospital=world.hospital_a, region=regions["a"], number=number, period_start=D("2026-08-01"),
            period_end=D("2026-08-31"), received_on=received_on, advance_ratio="0.70", advance_working_days=10,
            final_working_days=15, state=state, **fields)

    for index in range(4):  # advance due dates (received) and final due dates (advance paid) interleave
        batch(f"R{index}", BatchState.RECEIVED, D("2026-09-01"), advance_due_on=D("2026-09-10") + dt.timedelta(
            days=index % 2))
        batch(f"A{index}", BatchState.ADVANCE_PAID, D("2026-08-25"), advance_due_on=D("2026-09-05"),
              advance_paid_on=D("2026-09-04"), final_due_on=D("2026-09-10") + dt.timedelta(days=index % 3))
    queue = batch_queue(head, today=D("2026-09-08"))
    order = [row.pk for row in queue]
    assert len(order) == 8
    paginator = KeysetPaginator(queue, 3, BATCH_KEY, count=len(order))
    walked, page = [], paginator.first()
    while True:
        walked += pks(page)
        if not page.has_next:
            break
        page = paginator.after(page.last_key)
    assert walked == order
    assert pks(paginator.page(2)) == order[3:6]
    assert pks(paginator.last()) == order[6:]


# --------------------------------------------------------------------------------------------------------------
# The queue page
# --------------------------------------------------------------------------------------------------------------


def shown(response) -> list[str]:
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a></th>', response.content.decode())


def link(response, name: str) -> str | None:
    return response.context["pages"][name]


def walk(client, url, params=None) -> tuple[list[str], list]:
    """Every page from the first by its "next" links; the claim numbers in order, and the responses."""
    responses = [client.get(url, params or {})]
    while link(responses[-1], "next"):
        responses.append(client.get(url + link(responses[-1], "next")))
    return [number for response in responses for number in shown(response)], responses


@pytest.mark.django_db
def test_queue_page_links_walk_the_whole_queue_with_its_filters_and_tab(client, world, head, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    today = timezone.localdate()
    overdue_a2 = [world.case(today - dt.timedelta(days=1 + index % 2), hospital=world.hospital_a2)
                  for index in range(7)]
    for _ in range(5):  # overdue at the other hospital, and on track at this one: filtered away
        world.case(today - dt.timedelta(days=1))
        world.case(today + dt.timedelta(days=40), hospital=world.hospital_a2)
    client.force_login(head)
    url = reverse("claims:case_queue")
    params = {"due": "overdue", "hospital": world.hospital_a2.pk}

    numbers, responses = walk(client, url, params)
    expected = [c.claim.number for c in sorted(overdue_a2, key=lambda c: (c.sla_due_on, c.received_on, c.pk))]
    assert numbers == expected
    assert [response.context["page_obj"].number for response in responses] == [1, 2, 3]
    for response in responses[1:]:  # every link keeps the tab and the filter
        assert "due=overdue" in link(response, "previous") and f"hospital={world.hospital_a2.pk}" in link(
            response, "first")
    assert "Page 3 of 3 (7 in all)" in responses[-1].content.decode()

    # Backwards from the last page, and by number (the "go to page" form keeps the filters as hidden fields).
    last = client.get(url, {**params, "p": "last"})
    assert shown(last) == expected[6:] and last.context["page_obj"].number == 3
    previous = client.get(url + link(last, "previous"))
    assert shown(previous) == expected[3:6] and previous.context["page_obj"].number == 2
    assert shown(client.get(url, {**params, "p": 2})) == expected[3:6]
    assert ("due", "overdue") in last.context["pages"]["keep"]
    assert not any(key in ("p", "after", "before") for key, _value in previous.context["pages"]["keep"])
    assert shown(client.get(url, {**params, "p": 99})) == expected[6:]  # past the end: the last page

    # A hand-edited link: the first page and a message, not an error.
    broken = client.get(url, {**params, "after": "2026-01-01_oops_1"}, follow=True)
    assert shown(broken) == expected[:3]
    assert "page link was not valid" in broken.content.decode()
    assert shown(client.get(url, {**params, "p": "x"})) == expected[:3]


@pytest.mark.django_db
def test_queue_pages_never_leave_the_users_regions(client, world, regions, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    today = timezone.localdate()
    a = [world.case(today + dt.timedelta(days=index)) for index in range(5)]
    b = [world.case(today + dt.timedelta(days=index), region="b") for index in range(3)]
    reviewer_b = make_user("paging_reviewer_b", roles=(roles.REVIEWER,), regions=(regions["b"],))
    client.force_login(reviewer_b)
    url = reverse("claims:case_queue")
    numbers, _responses = walk(client, url)
    assert numbers == [case.claim.number for case in b]
    # A link carrying the key of another region's case seeks from there, still within region b only.
    key = f"{a[0].sla_due_on.isoformat()}_{a[0].received_on.isoformat()}_{a[0].pk}"
    assert set(shown(client.get(url, {"after": key}))) <= {case.claim.number for case in b}
    assert shown(client.get(url, {"p": "last"})) == [b[2].claim.number]


def _count_budget_queries() -> int:
    return 4 if connection.vendor == "postgresql" else 0  # savepoint, SET LOCAL, rollback to and release


@pytest.mark.django_db
def test_page_queries_are_pinned_at_any_depth_and_counts_are_reused(client, world, head, monkeypatch,
                                                                    django_assert_max_num_queries,
                                                                    django_assert_num_queries):
    monkeypatch.setattr(views, "PAGE_SIZE", 5)
    today = timezone.localdate()
    for index in range(40):
        world.case(today + dt.timedelta(days=index % 9) if index % 10 else None,
                   state=CaseState.RECEIVED if index % 10 else CaseState.RETURNED)
    client.force_login(head)
    url = reverse("claims:case_queue")
    client.get(url)  # the calendar, as a running process has it cached; the tab counts are now cached too
    middle = client.get(url, {"p": 4})
    # user, permissions (2), hospital link, regions (3), filter choices (2) — measured 9 (the session is cached) —
    # and the page: its rows, a second query where it reaches the undated rows, the key when going by number.
    base = 9
    for params in ({}, {"p": 4}, {"p": 6}, {"p": "last"}, {"after": middle.context["page_obj"].last_key, "p": 5},
                   {"before": middle.context["page_obj"].first_key, "p": 3}):
        with django_assert_max_num_queries(base + 3):
            response = client.get(url, params)
        assert len(shown(response)) == 5, params
    # A new filter is a new view: its counts are taken once (under the budget), then reused while paging.
    with django_assert_max_num_queries(base + 3 + 1 + _count_budget_queries()):
        client.get(url, {"state": "received"})
    with django_assert_max_num_queries(base + 3):
        client.get(url, {"state": "received", "p": 2})


@pytest.mark.django_db
def test_cached_counts_follow_a_saved_case(client, world, head):
    today = timezone.localdate()
    case = world.case(today - dt.timedelta(days=1))
    world.case(today + dt.timedelta(days=20))
    client.force_login(head)
    url = reverse("claims:case_queue")
    tabs = {tab["value"]: int(tab["count"]) for tab in client.get(url).context["tabs"]}
    assert (tabs[""], tabs["overdue"]) == (2, 1)
    case.sla_due_on = today + dt.timedelta(days=30)  # e.g. a lifted pause: a save, which renews every count
    case.save()
    tabs = {tab["value"]: int(tab["count"]) for tab in client.get(url).context["tabs"]}
    assert (tabs[""], tabs["overdue"], tabs["on_track"]) == (2, 0, 2)


# --------------------------------------------------------------------------------------------------------------
# PostgreSQL: the seek is an index range, for the whole queue and for the exempted tab
# --------------------------------------------------------------------------------------------------------------


def _plan_of(sql: str, params=None) -> str:
    """The plan PostgreSQL chooses when it can avoid a scan of the whole table and a sort at all."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.services
def test_a_deep_page_seeks_in_the_index_instead_of_skipping_rows(queue_with_ties):
    require(connection.vendor == "postgresql", "needs PostgreSQL")
    paginator = KeysetPaginator(queue_with_ties, 5, CASE_KEY)
    page = paginator.first()
    with CaptureQueriesContext(connection) as captured:
        assert paginator.after(page.last_key).object_list
    statement = captured.captured_queries[0]["sql"]
    assert " OFFSET " not in statement
    plan = _plan_of(statement)
    # The key is an index condition (a range the scan starts from), not a filter over skipped rows.
    assert "case_open_due_order" in plan and re.search(r"Index Cond: .*ROW\(", plan), plan
    # The undated rows (paused, exempted: the end of the queue) in order from an index too, the last page backwards.
    with CaptureQueriesContext(connection) as captured:
        assert paginator.last().object_list
    plan = _plan_of(captured.captured_queries[0]["sql"])
    assert re.search(r"Index Scan Backward using case_open_(undated|due)_order", plan) and "Sort" not in plan, plan


@pytest.mark.django_db
def test_the_page_links_are_chinese(client, world, head, monkeypatch, settings):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    today = timezone.localdate()
    for index in range(5):
        world.case(today + dt.timedelta(days=index))
    client.force_login(head)
    with translation.override("zh-hans"):
        settings.LANGUAGE_CODE = "zh-hans"
        content = client.get(reverse("claims:case_queue"), {"p": 2}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    for chinese in ("第 2 / 3 页（共 5 条）", "第一页", "上一页", "下一页", "最后一页", "转到页"):
        assert chinese in content, chinese
    for english in ("first page", "last page", "Go to page", "in all"):
        assert english not in content, english
