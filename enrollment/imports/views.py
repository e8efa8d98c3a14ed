"""Import pages in the admin's look: upload → dry run → confirm → progress → result, and template downloads.

URL names (enrollment/urls.py): enrollment:import-start (?kind=roster preselects a kind), import-confirm,
import-result (job pk), import-status (job pk, JSON), import-template (kind).
"""

from io import BytesIO

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from ..models import ImportJob, RegionMembership
from ..models.imports import ImportKind, ImportStatus
from ..scoping import sees_everything, visible_regions
from .errors import RowError
from .service import confirm_import_job, is_checked, may_import, start_import_job
from .workbook import TEMPLATE_FORMAT, template_file_name, template_workbook

_TOKEN_SALT = "enrollment.imports.confirm"  # noqa: S105 - a signing namespace, not a secret
_TOKEN_MAX_AGE = 24 * 3600
_QUEUED_SESSION_KEY = "enrollment_import_queued"
_FINISHED = (ImportStatus.DONE, ImportStatus.FAILED)


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind of file"))
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("An .xlsx workbook, or CSV text in UTF-8 or GB18030, with the Chinese column headers "
                               "of the template."))

    def __init__(self, *args, kinds, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind.value, kind.label) for kind in kinds]


def _allowed_kinds(user) -> list[ImportKind]:
    kinds = [kind for kind in ImportKind if may_import(user, kind)]
    if not kinds:
        raise PermissionDenied
    return kinds


def _page(request, template: str, title: str, **context):
    return render(request, template, {**admin.site.each_context(request), "title": title, **context})


def visible_import_jobs(user):
    """Jobs a user may look at: their own, and (with the view permission) those of staff of their regions."""
    jobs = ImportJob.objects.select_related("created_by")
    if sees_everything(user):
        return jobs
    if not user.has_perm("enrollment.view_importjob"):
        return jobs.filter(created_by_id=user.pk)
    colleagues = RegionMembership.objects.filter(user_id=OuterRef("created_by_id"), region__in=visible_regions(user))
    return jobs.filter(Q(created_by_id=user.pk) | Exists(colleagues))


def _confirm_token(job: ImportJob) -> str:
    return signing.dumps({"job": job.pk, "user": job.created_by_id}, salt=_TOKEN_SALT)


@staff_member_required
def import_start(request):
    kinds = _allowed_kinds(request.user)
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES, kinds=kinds)
        if form.is_valid():
            job, result = start_import_job(kind=form.cleaned_data["kind"], upload=form.cleaned_data["file"],
                                           user=request.user)
            if result is None:  # a big file: checked in the background, the result page shows the progress
                return redirect("enrollment:import-result", pk=job.pk)
            title = _("Check of %(file)s") % {"file": job.original_name}
            return _page(request, "enrollment/import_dry_run.html", title, job=job, result=result,
                         token=_confirm_token(job) if result.ok else "",
                         start_url=f"{reverse('enrollment:import-start')}?kind={job.kind}")
    else:
        wanted = request.GET.get("kind")
        form = UploadForm(kinds=kinds, initial={"kind": wanted if wanted in kinds else kinds[0].value})
    templates = [(kind.label, reverse("enrollment:import-template", args=[kind.value])) for kind in kinds]
    return _page(request, "enrollment/import_start.html", _("Import a file"), form=form, templates=templates)


@staff_member_required
@require_POST
def import_confirm(request):
    try:
        data = signing.loads(request.POST.get("token", ""), salt=_TOKEN_SALT, max_age=_TOKEN_MAX_AGE)
    except signing.BadSignature:
        raise PermissionDenied
    if data.get("user") != request.user.pk:
        raise PermissionDenied
    job = get_object_or_404(ImportJob, pk=data.get("job"))
    if is_checked(job):
        queued = confirm_import_job(job=job, user=request.user)
        if queued:
            request.session[_QUEUED_SESSION_KEY] = [*request.session.get(_QUEUED_SESSION_KEY, [])[-20:], job.pk]
    return redirect("enrollment:import-result", pk=job.pk)


@staff_member_required
@require_GET
def import_result(request, pk: int):
    job = get_object_or_404(visible_import_jobs(request.user), pk=pk)
    checked = is_checked(job)
    queued = checked and job.pk in request.session.get(_QUEUED_SESSION_KEY, [])
    awaiting_confirmation = checked and not queued
    return _page(
        request, "enrollment/import_result.html", _("Import of %(file)s") % {"file": job.original_name},
        job=job, finished=job.status in _FINISHED, queued=queued, awaiting_confirmation=awaiting_confirmation,
        state=_state(job),
        token=_confirm_token(job) if awaiting_confirmation and job.created_by_id == request.user.pk else "",
        errors=[RowError.from_dict(item) for item in job.errors or []],
        status_url=reverse("enrollment:import-status", args=[job.pk]),
        start_url=f"{reverse('enrollment:import-start')}?kind={job.kind}")


@staff_member_required
@require_GET
def import_status(request, pk: int):
    job = get_object_or_404(visible_import_jobs(request.user), pk=pk)
    return JsonResponse({
        "state": _state(job),
        "status": job.status,
        "status_label": str(job.get_status_display()),
        "phase": _phase(job),
        "checked": is_checked(job),
        "finished": job.status in _FINISHED,
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "percent": job.progress_percent,
        "created": job.created_count,
        "updated": job.updated_count,
        "rejected": job.rejected_count,
        "result_url": reverse("enrollment:import-result", args=[job.pk]),
    })


def _phase(job: ImportJob) -> str:
    if job.status == ImportStatus.RUNNING:
        # The service stores the planned counts when the check is over and the write begins.
        return "writing" if job.created_count or job.updated_count else "checking"
    if job.status == ImportStatus.PENDING:
        return "checked" if is_checked(job) else "waiting"
    return job.status


def _state(job: ImportJob) -> str:
    """What the result page shows; the page reloads itself when this changes."""
    return f"{job.status}:{is_checked(job):d}"


@staff_member_required
@require_GET
def import_template(request, kind: str):
    if kind not in ImportKind.values:
        raise Http404
    if not may_import(request.user, kind):
        raise PermissionDenied
    return FileResponse(BytesIO(template_workbook(kind, request.user)), as_attachment=True,
                        filename=template_file_name(kind), content_type=TEMPLATE_FORMAT.get_content_type())
