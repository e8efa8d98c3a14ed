"""Starting an export (导出任务): record what was asked and queue the task after the commit. Apart from
`enrollment.services.export_jobs`, which holds the work the task runs, so imports run one way:
this module → tasks → services.export_jobs."""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from ..models import ExportJob, RegionMembership
from ..tasks import export_job
from .export_jobs import EXPORTERS, export_ttl, purge_expired_exports


def start_export(*, kind: str, title: str, user, filters: dict) -> ExportJob:
    """Record the export and queue its task (after the commit); returns the job whose page shows the progress."""
    if kind not in EXPORTERS:
        raise ValueError(f"unknown export kind {kind!r}")
    if not user.is_active:
        raise PermissionDenied
    purge_expired_exports()
    scope = sorted(RegionMembership.objects.filter(user=user).values_list("region__code", flat=True))
    job = ExportJob.objects.create(
        kind=kind, title=title[:200], created_by=user, filters=filters, region_scope=scope,
        expires_at=timezone.now() + export_ttl())
    job_id = job.pk
    transaction.on_commit(lambda: export_job.delay(job_id))
    return job
