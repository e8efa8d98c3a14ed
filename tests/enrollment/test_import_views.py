"""Import pages over HTTP: upload → dry run → confirm → result, the background path, templates, and a real
Celery worker on Redis (marked `services`)."""

import io
import os
import re
import time

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from enrollment import roles
from enrollment.imports import COLUMNS
from enrollment.models import Identity, ImportJob, Person
from enrollment.models.imports import ImportStatus
from enrollment.services.ledger_runs import open_plan_years

from ..conftest import require
from ..factories import make_user
from .test_imports import ROSTER_HEADERS, csv_bytes, roster_rows

# celery_worker (an embedded worker thread) for the `services` test below.
pytest_plugins = ("celery.contrib.pytest",)


@pytest.fixture(autouse=True)
def _env(settings, tmp_path):
    """Plain HTTP to a DEBUG-off site (no HTTPS redirect, static files without a manifest), stored uploads in a
    temporary directory, fast password hashing, English messages."""
    settings.SECURE_SSL_REDIRECT = False
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def client_a(client, clerk_a):
    client.force_login(clerk_a)
    return client


def upload(client, rows=None, *, kind="roster", name="roster.csv", headers=ROSTER_HEADERS, follow=False):
    content = csv_bytes(headers, roster_rows() if rows is None else rows)
    return client.post(reverse("enrollment:import-start"),
                       {"kind": kind, "file": SimpleUploadedFile(name, content, content_type="text/csv")},
                       follow=follow)


def confirm_token_for(job) -> str:
    from django.core import signing

    return signing.dumps({"job": job.pk, "user": job.created_by_id}, salt="enrollment.imports.confirm")


def confirm_token(response) -> str:
    match = re.search(r'name="token" value="([^"]+)"', response.content.decode())
    assert match, "the dry-run page offers no confirm button"
    return match.group(1)


def test_start_page_offers_the_kinds_the_user_may_import(client_a):
    response = client_a.get(reverse("enrollment:import-start") + "?kind=identities")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<option value="identities" selected>' in page
    assert 'value="regions"' not in page  # a clerk may not add regions
    assert reverse("enrollment:import-template", args=["roster"]) in page
    assert "admin/base_site.html" in [t.name for t in response.templates]


def test_upload_dry_run_confirm_result(client_a, clerk_a):
    response = upload(client_a)
    assert response.status_code == 200
    page = response.content.decode()
    assert Person.objects.count() == 0, "the dry run writes nothing"
    job = ImportJob.objects.get()
    assert (job.status, job.total_rows, job.created_by, job.original_name) == (
        ImportStatus.PENDING, 4, clerk_a, "roster.csv")
    counts = response.context["result"].counts
    assert [(label, c.create) for label, c in counts] == [("households", 2), ("people", 4), ("identities", 3)]
    assert 'id="import-counts"' in page

    response = client_a.post(reverse("enrollment:import-confirm"), {"token": confirm_token(response)})
    assert response.status_code == 302
    assert response.url == reverse("enrollment:import-result", args=[job.pk])

    job.refresh_from_db()
    assert (job.status, job.created_count, job.updated_count, job.rejected_count) == (ImportStatus.DONE, 9, 0, 0)
    assert job.progress_percent == 100
    assert Person.objects.count() == 4 and Identity.objects.count() == 3
    assert {h.history_user_id for h in Person.history.all()} == {clerk_a.pk}

    result_page = client_a.get(response.url)
    assert result_page.status_code == 200
    assert 'id="import-outcome"' in result_page.content.decode()


def test_confirming_a_job_again_does_nothing(client_a):
    token = confirm_token(upload(client_a))
    client_a.post(reverse("enrollment:import-confirm"), {"token": token})
    response = client_a.post(reverse("enrollment:import-confirm"), {"token": token})
    assert response.status_code == 302
    assert Person.history.count() == 4


def test_file_with_errors_lists_them_and_cannot_be_confirmed(client_a):
    rows = roster_rows()
    rows[2][3] = "529999"
    response = upload(client_a, rows)
    page = response.content.decode()
    assert 'name="token"' not in page
    assert "<td>4</td>" in page and "<td>行政区划代码</td>" in page and "Unknown region code 529999." in page
    job = ImportJob.objects.get()
    assert (job.status, job.rejected_count) == (ImportStatus.FAILED, 1)
    assert job.errors == [{"row": 4, "column": "行政区划代码", "message": "Unknown region code 529999."}]
    assert Person.objects.count() == 0
    result_page = client_a.get(reverse("enrollment:import-result", args=[job.pk])).content.decode()
    assert "Unknown region code 529999." in result_page


def test_a_forged_or_foreign_token_is_refused(client, client_a, clerk_b):
    token = confirm_token(upload(client_a))
    assert client_a.post(reverse("enrollment:import-confirm"), {"token": token + "x"}).status_code == 403
    client.force_login(clerk_b)
    assert client.post(reverse("enrollment:import-confirm"), {"token": token}).status_code == 403
    assert Person.objects.count() == 0


def test_other_users_do_not_see_a_job(client, client_a, regions):
    upload(client_a)
    job = ImportJob.objects.get()
    outsider = make_user("outsider", roles=(roles.CLERK,), regions=(regions["b"],))
    client.force_login(outsider)
    assert client.get(reverse("enrollment:import-result", args=[job.pk])).status_code == 404
    assert client.get(reverse("enrollment:import-status", args=[job.pk])).status_code == 404


def test_pages_need_staff_login_and_the_permission(client, regions):
    url = reverse("enrollment:import-start")
    response = client.get(url)
    assert response.status_code == 302 and reverse("admin:login") in response.url
    reviewer = make_user("reviewer", roles=(roles.REVIEWER,), regions=(regions["a"],))
    client.force_login(reviewer)
    assert client.get(url).status_code == 403
    assert client.get(reverse("enrollment:import-template", args=["roster"])).status_code == 403


def test_big_file_is_checked_and_imported_in_the_background(client_a, settings,
                                                            django_capture_on_commit_callbacks):
    settings.ROSTER_BACKGROUND_THRESHOLD = 2
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(client_a)
    job = ImportJob.objects.get()
    assert len(callbacks) == 1, "the check was handed to Celery (eager in tests), not run in the request"
    assert response.status_code == 302 and response.url == reverse("enrollment:import-result", args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.total_rows, job.processed_rows, job.progress_percent) == (ImportStatus.PENDING, 4, 4, 100)
    assert (job.created_count, job.updated_count) == (9, 0), "the planned counts of the check"
    assert Person.objects.count() == 0
    status = client_a.get(reverse("enrollment:import-status", args=[job.pk])).json()
    assert (status["phase"], status["checked"], status["finished"]) == ("checked", True, False)

    page = client_a.get(response.url)
    assert 'id="import-plan"' in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_a.post(reverse("enrollment:import-confirm"), {"token": confirm_token(page)})
    # The import, handed to Celery; after its commit, the ledger's follow-up build of each open plan year.
    follow_ups = [c for c in callbacks if getattr(c, "task_name", "") == "enrollment.build_ledger_run"]
    assert len(follow_ups) == len(open_plan_years(timezone.localdate()))
    assert len(callbacks) - len(follow_ups) == 1, "the import was handed to Celery, not run in the request"

    job.refresh_from_db()
    assert (job.status, job.progress_percent, job.processed_rows, job.total_rows) == (ImportStatus.DONE, 100, 4, 4)
    assert (job.created_count, job.updated_count, job.rejected_count) == (9, 0, 0)
    assert Person.objects.count() == 4
    status = client_a.get(reverse("enrollment:import-status", args=[job.pk])).json()
    assert (status["finished"], status["percent"], status["created"]) == (True, 100, 9)
    assert status["result_url"] == response.url
    page = client_a.get(response.url).content.decode()
    assert 'id="import-outcome"' in page and "<td>9</td>" in page


def test_big_file_with_errors_is_rejected_by_the_background_check(client_a, settings,
                                                                  django_capture_on_commit_callbacks):
    settings.ROSTER_BACKGROUND_THRESHOLD = 2
    rows = roster_rows()
    rows[1][0] = "123"
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client_a, rows)
    job = ImportJob.objects.get()
    assert (job.status, job.rejected_count, [e["row"] for e in job.errors]) == (ImportStatus.FAILED, 1, [3])
    page = client_a.get(response.url).content.decode()
    assert 'name="token"' not in page and "<td>身份证号</td>" in page


def test_result_page_polls_while_a_job_waits_for_a_worker(client_a, settings, django_capture_on_commit_callbacks):
    settings.ROSTER_BACKGROUND_THRESHOLD = 2
    # Without running the on-commit callbacks the tasks are never sent: the job waits.
    response = upload(client_a, follow=True)
    job = ImportJob.objects.get()
    page = response.content.decode()
    assert 'id="import-progress"' in page and reverse("enrollment:import-status", args=[job.pk]) in page
    status = client_a.get(reverse("enrollment:import-status", args=[job.pk])).json()
    assert (status["status"], status["phase"], status["checked"], status["finished"]) == (
        "pending", "waiting", False, False)
    assert client_a.post(reverse("enrollment:import-confirm"), {"token": confirm_token_for(job)}).status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.PENDING and Person.objects.count() == 0, "an unchecked job is not imported"

    with django_capture_on_commit_callbacks(execute=True):
        from enrollment.tasks import check_import_job

        check_import_job.delay(job.pk)
    page = client_a.get(reverse("enrollment:import-result", args=[job.pk]))
    client_a.post(reverse("enrollment:import-confirm"), {"token": confirm_token(page)})  # callbacks not run
    page = client_a.get(reverse("enrollment:import-result", args=[job.pk])).content.decode()
    assert 'id="import-progress"' in page, "a confirmed job waiting for its worker shows the progress bar"
    assert 'data-state="pending:1"' in page


@pytest.mark.parametrize("kind", ["roster", "identities", "enrollments"])
def test_template_download_has_the_headers_and_an_example(client_a, kind):
    response = client_a.get(reverse("enrollment:import-template", args=[kind]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = workbook.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == [column.header for column in COLUMNS[kind]]
    assert len(rows) == 2 and rows[1][0]


def test_regions_template_for_a_user_who_may_add_regions(client, db):
    root = make_user("root", is_superuser=True)
    client.force_login(root)
    response = client.get(reverse("enrollment:import-template", args=["regions"]))
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).worksheets[0]
    assert [cell.value for cell in sheet[1]] == ["行政区划代码", "名称", "层级", "上级代码", "分担类别"]


def test_the_roster_template_imports_as_it_stands(client_a):
    """The example row uses a region the clerk works in and a valid ID: uploading the template checks clean."""
    template = client_a.get(reverse("enrollment:import-template", args=["roster"]))
    content = b"".join(template.streaming_content)
    response = client_a.post(reverse("enrollment:import-start"), {
        "kind": "roster", "file": SimpleUploadedFile("模板.xlsx", content)})
    result = response.context["result"]
    assert result.ok, result.errors
    assert [(label, c.create) for label, c in result.counts] == [("households", 1), ("people", 1), ("identities", 1)]


# --- a real worker --------------------------------------------------------------------------------------------
@pytest.fixture
def celery_app():
    from config.celery import app

    return app


@pytest.fixture
def celery_worker_parameters():
    # Without a result backend the worker's start-up ping (which waits for a result) cannot work.
    return {"perform_ping_check": False, "shutdown_timeout": 30.0}


@pytest.fixture
def live_broker(settings):
    broker = os.environ.get("CELERY_BROKER_URL", "")
    require(bool(broker), "CELERY_BROKER_URL is not set (a Redis broker for the real-worker test)")
    # SQLite's shared in-memory test database answers "table is locked" to a second thread writing while
    # the test reads; the worker thread needs a real server.
    require(connection.vendor == "postgresql", "the real-worker test needs PostgreSQL (DATABASE_URL)")
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    app.conf.broker_url = broker
    yield app
    app.conf.task_always_eager = previous


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_background_import_on_a_real_worker(live_broker, request, client, regions, settings):
    settings.ROSTER_BACKGROUND_THRESHOLD = 2
    clerk = make_user("clerk_worker", roles=(roles.CLERK,), regions=(regions["a"],))
    client.force_login(clerk)
    worker = request.getfixturevalue("celery_worker")  # started only once the broker is known to be there
    assert worker is not None
    upload(client)
    job = ImportJob.objects.get()
    wait_for(job, lambda: job.status != ImportStatus.RUNNING and job.processed_rows == job.total_rows)
    assert (job.status, job.total_rows, job.created_count) == (ImportStatus.PENDING, 4, 9), job.errors
    page = client.get(reverse("enrollment:import-result", args=[job.pk]))
    client.post(reverse("enrollment:import-confirm"), {"token": confirm_token(page)})
    wait_for(job, lambda: job.status in (ImportStatus.DONE, ImportStatus.FAILED))
    assert (job.status, job.progress_percent, job.created_count) == (ImportStatus.DONE, 100, 9), job.errors
    assert Person.objects.count() == 4
    assert {h.history_user_id for h in Person.history.all()} == {clerk.pk}


def wait_for(job, done, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if done():
            return
        time.sleep(0.2)
    raise AssertionError(f"the job did not get there in {seconds} s: {job.status} {job.processed_rows}")
