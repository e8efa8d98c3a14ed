"""Exports as background jobs: the request returns at once with the job's page; the task builds the file; only
the requester opens the page or downloads the file; the file is deleted when the job expires."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from enrollment.exports import PersonExportResource
from enrollment.models import ExportJob
from enrollment.models.exports import ExportStatus
from enrollment.services import export_jobs
from enrollment.services.export_jobs import execute_export_job, purge_expired_exports
from tests.export_helpers import download_export, job_of
from tests.factories import make_person, make_user

from . import _admin_world
from ._admin_world import ADMIN, export_post_data

_admin_over_plain_http = _admin_world._admin_over_plain_http


def ask(client, user, query=""):
    client.force_login(user)
    return client.post(f"{ADMIN}/person/export/{query}", export_post_data(PersonExportResource, "csv"))


@pytest.mark.django_db
def test_the_request_returns_at_once_and_the_page_refreshes_until_the_file_is_ready(client, clerk_a, regions):
    make_person(regions["a"], name="甲一")
    response = ask(client, clerk_a, "?q=甲")
    job = job_of(response)  # the task waits for the commit; nothing is built inside the request
    assert (job.status, job.created_by, job.filters["query"], job.region_scope) == (
        ExportStatus.PENDING, clerk_a, "q=%E7%94%B2", ["522701"])
    page = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in page and 'id="export-download"' not in page
    content = download_export(client, response).decode("utf-8-sig")
    assert "甲一" in content
    job.refresh_from_db()
    assert (job.total_rows, job.processed_rows, job.progress_percent) == (1, 1, 100)
    page = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in page and 'id="export-download"' in page


@pytest.mark.django_db
def test_the_task_runs_on_commit_in_process_on_the_embedded_default(client, clerk_a, regions,
                                                                   django_capture_on_commit_callbacks):
    make_person(regions["a"], name="甲二")
    with django_capture_on_commit_callbacks(execute=True):
        response = ask(client, clerk_a)
    assert job_of(response).status == ExportStatus.DONE


@pytest.mark.django_db
def test_only_the_requester_opens_the_page_and_the_file(client, clerk_a, regions):
    make_person(regions["a"], name="甲三")
    response = ask(client, clerk_a)
    download_export(client, response)
    job = job_of(response)
    colleague = make_user("colleague_a", roles=("经办员",), regions=(regions["a"],))
    superuser = make_user("root", is_superuser=True)
    for other in (colleague, superuser):
        client.force_login(other)
        assert client.get(reverse("enrollment:export-status", args=[job.pk])).status_code == 404
        assert client.get(reverse("enrollment:export-download", args=[job.pk])).status_code == 404
        assert job.title not in client.get(reverse("enrollment:export-list")).content.decode()


@pytest.mark.django_db
def test_an_expired_export_is_deleted(client, clerk_a, regions):
    make_person(regions["a"], name="甲四")
    response = ask(client, clerk_a)
    download_export(client, response)
    job = job_of(response)
    storage, name = job.file.storage, job.file.name
    assert storage.exists(name)
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(reverse("enrollment:export-download", args=[job.pk])).status_code == 404
    assert not storage.exists(name)
    job.refresh_from_db()
    assert (job.status, job.file.name) == (ExportStatus.EXPIRED, "")
    assert purge_expired_exports() == 0  # done once


@pytest.mark.django_db
def test_the_hourly_task_purges_an_expired_file_nobody_asks_for_again(client, clerk_a, regions):
    from django_celery_beat.models import PeriodicTask

    from enrollment.tasks import purge_expired_exports_task

    schedule = PeriodicTask.objects.get(task="enrollment.purge_expired_exports")
    assert schedule.enabled and schedule.crontab.minute == "15" and schedule.crontab.hour == "*"
    make_person(regions["a"], name="甲六")
    response = ask(client, clerk_a)
    download_export(client, response)
    job = job_of(response)
    storage, name = job.file.storage, job.file.name
    assert name and storage.exists(name)
    assert purge_expired_exports_task.apply().get() == 0  # not expired yet: kept
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert purge_expired_exports_task.apply().get() == 1
    assert not storage.exists(name)
    job.refresh_from_db()
    assert job.status == ExportStatus.EXPIRED


@pytest.mark.django_db
def test_a_lost_database_connection_is_retried_then_recorded(client, clerk_a, regions):
    make_person(regions["a"], name="甲五")
    job = job_of(ask(client, clerk_a))
    failing = mock.Mock(side_effect=OperationalError("gone"))
    with mock.patch.dict(export_jobs.EXPORTERS, {job.kind: failing}):
        with pytest.raises(OperationalError):
            execute_export_job(job_id=job.pk, last_try=False)
        job.refresh_from_db()
        assert job.status == ExportStatus.PENDING  # the task's retry claims it again
        with pytest.raises(OperationalError):
            execute_export_job(job_id=job.pk, last_try=True)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and job.message
    assert execute_export_job(job_id=job.pk) is None  # a finished job is left alone


@pytest.mark.django_db
def test_the_task_uses_the_rights_the_user_holds_when_it_runs(client, clerk_a, regions):
    make_person(regions["a"], name="甲六")
    job = job_of(ask(client, clerk_a))
    clerk_a.groups.clear()
    execute_export_job(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and not job.file


@pytest.mark.django_db
def test_export_pages_query_counts(client, clerk_a, regions, django_assert_max_num_queries):
    make_person(regions["a"], name="甲七")
    for _ in range(3):
        download_export(client, ask(client, clerk_a))
    job = ExportJob.objects.filter(created_by=clerk_a).first()
    with django_assert_max_num_queries(8):
        assert client.get(reverse("enrollment:export-list")).status_code == 200
    with django_assert_max_num_queries(6):
        assert client.get(reverse("enrollment:export-status", args=[job.pk])).status_code == 200
