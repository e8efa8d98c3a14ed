"""Pages of the background exports (导出任务): the requester's list of exports, one export's progress (the page
reloads itself until the file is ready) and the download. Every page shows the requester's own jobs only: another
user, whatever their role, gets 404 — the file holds what the requester's role may see.

URL names (enrollment/urls.py): enrollment:export-list, export-status (job pk), export-download (job pk).
"""

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from .models.exports import ExportStatus
from .services.export_jobs import purge_expired_exports, user_export_jobs

LIST_LENGTH = 50


def _page(request, template: str, title: str, **context):
    return render(request, template, {**admin.site.each_context(request), "title": title, **context})


@staff_member_required
@require_GET
def export_list(request):
    purge_expired_exports()
    jobs = list(user_export_jobs(request.user)[:LIST_LENGTH])
    return _page(request, "enrollment/export_list.html", _("My exports"), jobs=jobs)


@staff_member_required
@require_GET
def export_status(request, pk: int):
    job = get_object_or_404(user_export_jobs(request.user), pk=pk)
    return _page(request, "enrollment/export_status.html", _("Export: %(title)s") % {"title": job.title}, job=job,
                 downloadable=job.status == ExportStatus.DONE and job.expires_at > timezone.now())


@staff_member_required
@require_GET
def export_download(request, pk: int):
    job = get_object_or_404(user_export_jobs(request.user), pk=pk, status=ExportStatus.DONE)
    if job.expires_at <= timezone.now():
        purge_expired_exports()
        raise Http404(_("This export has expired; ask for it again."))
    return FileResponse(job.file.open("rb"), as_attachment=True, filename=job.file_name)
