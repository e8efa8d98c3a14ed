"""The admin's list exports (导出) as background jobs.

django-import-export builds the file inside the request; `SafeExportMixin._do_file_export` instead stores what the
export page asked for — the list's filters (its query string), the format, the resource and the columns chosen,
or the ticked rows — and redirects to the job's page. The task below rebuilds the same queryset through the same
ModelAdmin for the same user, so the list's filters, the region scope, the masking and `record_export` are the
admin's own, not a copy of them.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.exceptions import PermissionDenied
from django.http import QueryDict
from django.test import RequestFactory
from django.utils.translation import gettext as _
from import_export.formats.base_formats import BINARY_FORMATS

from ..services.export_jobs import ExportOutput, ExportProgress, register_exporter

KIND = "admin"


def export_filters(model_admin, request, file_format, export_form=None) -> dict:
    formats = model_admin.get_export_formats()
    filters = {
        "model": model_admin.model._meta.label_lower,
        "query": request.GET.urlencode(),
        "format": next(i for i, f in enumerate(formats) if isinstance(file_format, f)),
        "resource": model_admin.get_resource_index(export_form) if export_form is not None else 0,
        "fields": model_admin.get_export_resource_fields_from_form(export_form) if export_form is not None else None,
    }
    if export_form is not None and "export_items" in export_form.changed_data:
        filters["ids"] = [str(pk) for pk in export_form.cleaned_data["export_items"]]
    return filters


def _request_for(user, query: str):
    """A GET of the list as the user made it: what ChangeList and the ModelAdmin's hooks read."""
    request = RequestFactory().get("/", QueryDict(query))
    request.user = user
    request._messages = CookieStorage(request)  # a malformed search adds a message; nobody reads it here
    return request


def build_admin_export(job, progress: ExportProgress) -> ExportOutput:
    filters = job.filters
    model = apps.get_model(filters["model"])
    model_admin = admin.site._registry.get(model)
    if model_admin is None:
        raise PermissionDenied(_("This list can no longer be exported."))
    request = _request_for(job.created_by, filters.get("query", ""))
    if not model_admin.has_export_permission(request):
        raise PermissionDenied(_("You may no longer export this list."))
    queryset = model_admin.get_export_queryset(request)
    if filters.get("ids"):
        queryset = queryset.filter(pk__in=filters["ids"])
    progress.total(queryset.count())
    resource_class = model_admin.get_export_resource_classes(request)[filters.get("resource") or 0]
    resource = resource_class(**model_admin.get_export_resource_kwargs(request))
    resource.progress = progress
    file_format = model_admin.get_export_formats()[filters.get("format") or 0]()
    dataset = resource.export(queryset=queryset, export_fields=filters.get("fields") or None,
                              force_native_type=isinstance(file_format, tuple(BINARY_FORMATS)))
    content = file_format.export_data(dataset)
    if not file_format.is_binary() and isinstance(content, str):
        content = content.encode(model_admin.to_encoding or "utf-8")
    return ExportOutput(content=content, file_name=model_admin.get_export_filename(request, queryset, file_format),
                        rows=len(dataset))


register_exporter(KIND, build_admin_export)
