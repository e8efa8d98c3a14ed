"""Recomputing open deadlines after a calendar change runs as a background run (DeadlineRecompute, Celery task
claims.recompute_deadlines, in-process on the embedded default) with a progress page."""

import datetime as dt

import pytest
from django.urls import reverse

from claims.models import DeadlineRecompute
from claims.models.calendar import CalendarDay, DayKind, RecomputeStatus
from claims.services.calendar import execute_recompute
from enrollment import roles
from tests.factories import make_region, make_user

from .test_calendar_db import _fresh_calendar_cache_in_english, open_case, world  # noqa: F401 - fixtures

D = dt.date.fromisoformat


@pytest.mark.django_db
def test_a_calendar_change_starts_one_run_that_recomputes_after_commit(world, django_capture_on_commit_callbacks):  # noqa: F811
    case = open_case(world, D("2026-09-18"), 10)
    with django_capture_on_commit_callbacks(execute=True):
        CalendarDay.objects.create(day=D("2026-10-08"), kind=DayKind.HOLIDAY, name="临时")
        CalendarDay.objects.filter(day=D("2026-10-08")).get().save()
    run = DeadlineRecompute.objects.get()  # two changes, one run
    assert (run.status, run.total, run.processed, run.cases_changed) == (RecomputeStatus.DONE, 1, 1, 1)
    assert run.finished_at is not None and run.progress_percent == 100
    case.refresh_from_db()
    assert case.sla_due_on == D("2026-10-10")
    # A redelivered or repeated task leaves a finished run alone.
    assert execute_recompute(run.pk) is None


@pytest.mark.django_db
def test_loading_a_year_on_its_page_links_to_the_progress(client, world, django_capture_on_commit_callbacks):  # noqa: F811
    head = make_user("cal_head", roles=(roles.HEAD,), regions=(make_region("520000", "贵州省"),))
    case = open_case(world, D("2031-09-26"), 10)
    assert case.sla_provisional
    client.force_login(head)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:claims_calendaryear_add"), {
            "year": "2031", "source": "国办发明电〔2030〕7号",
            "schedule": "2031-10-01 休 国庆节\n2031-10-02 休 国庆节"})
    assert response.status_code == 302
    run = DeadlineRecompute.objects.get()
    assert run.created_by == head and run.status == RecomputeStatus.DONE
    url = reverse("admin:claims_calendaryear_recompute", args=[run.pk])
    page = client.get(response["Location"])
    assert url in page.content.decode()  # the message links to the run
    status = client.get(url)
    assert status.status_code == 200
    body = status.content.decode()
    assert 'id="recompute-progress"' in body and 'http-equiv="refresh"' not in body  # finished: no reload
    case.refresh_from_db()
    assert (case.sla_due_on, case.sla_provisional) == (D("2031-10-14"), False)


@pytest.mark.django_db
def test_a_waiting_run_page_refreshes_itself_and_needs_the_calendar_right(client, regions,
                                                                          django_assert_max_num_queries):
    run = DeadlineRecompute.objects.create(trigger="test")
    url = reverse("admin:claims_calendaryear_recompute", args=[run.pk])
    client.force_login(make_user("clerk_cal", roles=(roles.CLERK,), regions=(regions["a"],)))
    client.get(url)  # session and permission caches warm
    with django_assert_max_num_queries(8):
        page = client.get(url)
    assert page.status_code == 200 and 'http-equiv="refresh"' in page.content.decode()
    client.force_login(make_user("hospital_cal", roles=(roles.HOSPITAL,), regions=(regions["a"],)))
    assert client.get(url).status_code == 403
