"""Exports are background jobs: a request answers with a redirect to the job's page. In a test the job's task is
queued on commit of a transaction that never commits, so `download_export` runs it as the worker would, then
opens the page and downloads the file as the user."""

from django.urls import resolve

from enrollment.models import ExportJob
from enrollment.models.exports import ExportStatus
from enrollment.services.export_jobs import execute_export_job


def job_of(response) -> ExportJob:
    assert response.status_code == 302, getattr(response, "content", b"")[:500]
    match = resolve(response["Location"])
    assert match.view_name == "enrollment:export-status", response["Location"]
    return ExportJob.objects.get(pk=match.kwargs["pk"])


def download_export(client, response) -> bytes:
    job = job_of(response)
    if job.status == ExportStatus.PENDING:
        execute_export_job(job_id=job.pk)
    page = client.get(response["Location"])
    assert page.status_code == 200
    job.refresh_from_db()
    assert job.status == ExportStatus.DONE, job.message
    download = client.get(f"{response['Location']}download/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    return b"".join(download.streaming_content) if download.streaming else download.content
