"""Building a plan year's ledger (生成参保台账) from the admin: a form to start a build, the list of builds with their
progress, and a page that follows one build until it is done. The work is a Celery task (in-process on the
embedded default); the pages only start it and read its LedgerRun row."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..models import LedgerRun, Region
from ..models.regions import RegionLevel
from ..scoping import scope_queryset, visible_regions
from ..services.ledger_runs import start_ledger_build
from .base import RegionScopedAdminMixin


class BuildLedgerForm(forms.Form):
    region = forms.ModelChoiceField(label=_("region"), queryset=Region.objects.none(),
                                    help_text=_("The region and everything under it, county by county."))
    plan_year = forms.IntegerField(label=_("plan year"), min_value=2000)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # The user's own regions and those under them, down to counties: a clerk's choice is short.
        self.fields["region"].queryset = (
            visible_regions(user).filter(level__in=[RegionLevel.PROVINCE, RegionLevel.PREFECTURE,
                                                    RegionLevel.COUNTY]).order_by("path"))
        self.fields["plan_year"].initial = timezone.localdate().year


@admin.register(LedgerRun)
class LedgerRunAdmin(RegionScopedAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "region", "plan_year", "status", "progress", "created_rows", "identities_ended",
                    "problems_found", "trigger", "created_by")
    list_select_related = ("region", "created_by")
    list_filter = ("status", "plan_year")
    readonly_fields = [f.name for f in LedgerRun._meta.fields if f.name != "id"]
    change_list_template = "admin/enrollment/ledgerrun/change_list.html"

    @admin.display(description=_("progress"))
    def progress(self, run):
        return format_html('<a href="{}">{} %</a>', reverse("admin:enrollment_ledgerrun_status", args=[run.pk]),
                           run.progress_percent)

    def has_add_permission(self, request):
        return False  # builds are started on the build page, not typed in

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("build/", self.admin_site.admin_view(self.build_view), name="enrollment_ledgerrun_build"),
            path("<int:pk>/status/", self.admin_site.admin_view(self.status_view), name="enrollment_ledgerrun_status"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "build_url": reverse("admin:enrollment_ledgerrun_build")
                         if request.user.has_perm("enrollment.add_ledgerrun") else None}
        return super().changelist_view(request, extra_context)

    def build_view(self, request):
        if not request.user.has_perm("enrollment.add_ledgerrun"):
            raise PermissionDenied
        form = BuildLedgerForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            try:
                run = start_ledger_build(region=form.cleaned_data["region"], plan_year=form.cleaned_data["plan_year"],
                                         by=request.user, trigger=gettext("build page"))
            except (PermissionDenied, ValidationError) as error:
                form.add_error(None, " ".join(getattr(error, "messages", [str(error)])))
            else:
                messages.success(request, gettext("The %(year)s ledger of %(region)s is being built.")
                                 % {"year": run.plan_year, "region": run.region.name})
                return redirect("admin:enrollment_ledgerrun_status", pk=run.pk)
        recent = scope_queryset(LedgerRun.objects.select_related("region"), request.user)[:5]
        return TemplateResponse(request, "admin/enrollment/ledgerrun/build.html", {
            **self.admin_site.each_context(request), "title": _("Build a plan year's ledger"), "form": form,
            "opts": self.opts, "recent": recent})

    def status_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(self.get_queryset(request).select_related("region", "created_by"), pk=pk)
        problems_url = (reverse("admin:enrollment_ledgerproblem_changelist")
                        + f"?status__exact=open&plan_year={run.plan_year}")
        return TemplateResponse(request, "admin/enrollment/ledgerrun/status.html", {
            **self.admin_site.each_context(request), "title": _("Ledger build: %(run)s") % {"run": run}, "run": run,
            "opts": self.opts, "problems_url": problems_url})


__all__ = ["BuildLedgerForm", "LedgerRunAdmin"]
