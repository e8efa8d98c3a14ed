"""The working-day calendar (工作日历, SPEC §4.4): a year's schedule is entered (or reloaded from the published
State Council schedule) on the year's page; single days are edited in the day list. The calendar is shared by
every region: only users at province level change it (`roles.PROVINCE_WRITES`). Writes go through
`claims.services.calendar`, which validates the whole schedule first and recomputes open deadlines after.
"""

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dates import WEEKDAYS
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from enrollment.admin.base import ProvinceWritesMixin, StrictLookupsMixin

from ..models import CalendarDay, CalendarYear, DeadlineRecompute
from ..models.calendar import DayKind
from ..services import calendar as calendar_services
from ..services.calendar_recompute import start_recompute

# Besides the stored codes and their labels, the one-character marks of the published schedules (休 / 班).
KIND_SPELLINGS = {
    **{value: value for value in DayKind.values},
    **{str(label): value for value, label in DayKind.choices},
    "休": DayKind.HOLIDAY,
    "假": DayKind.HOLIDAY,
    "班": DayKind.MAKEUP_WORKDAY,
    "调休上班": DayKind.MAKEUP_WORKDAY,
}


class _Rollback(Exception):
    """Raised inside a savepoint to undo a trial run of the service."""


def schedule_text(year: int) -> str:
    rows = CalendarDay.objects.filter(day__year=year).values_list("day", "kind", "name")
    # The published schedules' own marks (休 / 班), which parse_schedule reads back: no English codes on the page.
    marks = {DayKind.HOLIDAY: "休", DayKind.MAKEUP_WORKDAY: "班"}
    return "\n".join(f"{day.isoformat()} {marks.get(kind, kind)} {name}".rstrip() for day, kind, name in rows)


def parse_schedule(text: str) -> list[tuple[str, str, str]]:
    """Lines of "date kind [name]" (spaces, tabs or commas between them) → rows for `load_year`, which checks
    them. An unknown kind is passed on as written, so the service's message names it."""
    rows = []
    for line in text.splitlines():
        parts = line.replace(",", " ").replace("，", " ").split(maxsplit=2)
        if not parts:
            continue
        kind = parts[1] if len(parts) > 1 else ""
        rows.append((parts[0], KIND_SPELLINGS.get(kind, kind), parts[2].strip() if len(parts) > 2 else ""))
    return rows


class CalendarYearForm(forms.ModelForm):
    schedule = forms.CharField(
        label=_("holidays and make-up working days"), required=False,
        widget=forms.Textarea(attrs={"rows": 24, "cols": 60, "style": "font-family: monospace"}),
        help_text=_("One day per line: the date, 休 (holiday) or 班 (make-up working day), and the holiday's name, "
                    "e.g. “2026-10-01 休 国庆节”. Days not listed are ordinary days (Monday–Friday working)."))

    class Meta:
        model = CalendarYear
        fields = ("year", "source")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["schedule"].initial = schedule_text(self.instance.year)

    def clean(self):
        cleaned = super().clean()
        year = cleaned.get("year") or self.instance.year
        self.schedule_rows = parse_schedule(cleaned.get("schedule", ""))
        if year and not self.errors:
            # The service checks every row (date in the year, kind, weekend make-up days, duplicates); try it in a
            # savepoint so its refusal shows on the form and the real write happens in save_model.
            try:
                with transaction.atomic():
                    calendar_services.load_year(year=year, rows=self.schedule_rows, recompute=False)
                    raise _Rollback
            except _Rollback:
                pass
            except ValidationError as error:
                self.add_error("schedule", error)
        return cleaned


@admin.register(CalendarYear)
class CalendarYearAdmin(ProvinceWritesMixin, StrictLookupsMixin, SimpleHistoryAdmin):
    form = CalendarYearForm
    list_display = ("year", "holiday_count", "makeup_count", "source", "loaded_at")
    fields = ("year", "source", "schedule", "loaded_at")
    readonly_fields = ("loaded_at",)
    actions = ("recompute_deadlines", "reload_published")

    def get_readonly_fields(self, request, obj=None):
        return ("year", "loaded_at") if obj else ("loaded_at",)

    def save_model(self, request, obj, form, change):
        calendar_services.load_year(year=obj.year, rows=form.schedule_rows, source=obj.source, by=request.user,
                                    recompute=False)
        saved = CalendarYear.objects.get(year=obj.year)
        obj.pk, obj.loaded_at = saved.pk, saved.loaded_at
        self._start_recompute(request, gettext("calendar year %(year)s loaded") % {"year": obj.year})

    def _start_recompute(self, request, trigger: str):
        """Open deadlines are recomputed by a background run; the message links to its progress page."""
        run = start_recompute(by=request.user, trigger=trigger)
        url = reverse("admin:claims_calendaryear_recompute", args=[run.pk])
        messages.info(request, format_html('{} <a href="{}">{}</a>', gettext("Open deadlines are being recomputed."),
                                           url, gettext("Follow the progress")))
        return url

    def get_urls(self):
        return [
            path("recompute/<int:pk>/", self.admin_site.admin_view(self.recompute_view),
                 name="claims_calendaryear_recompute"),
            *super().get_urls(),
        ]

    def recompute_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(DeadlineRecompute.objects.select_related("created_by"), pk=pk)
        return TemplateResponse(request, "admin/claims/calendaryear/recompute.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "run": run,
            "title": gettext("Recomputing open deadlines")})

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            holidays=_day_count(DayKind.HOLIDAY), makeup_days=_day_count(DayKind.MAKEUP_WORKDAY))

    @admin.display(description=_("holidays and make-up working days"))
    def schedule(self, year):
        """The schedule as read-only text, for those who may only view the calendar (the form's field otherwise)."""
        return format_html("<pre>{}</pre>", schedule_text(year.year))

    @admin.display(description=_("holidays"), ordering="holidays")
    def holiday_count(self, year):
        return year.holidays

    @admin.display(description=_("make-up working days"), ordering="makeup_days")
    def makeup_count(self, year):
        return year.makeup_days

    @admin.action(description=_("Recompute open deadlines"), permissions=["change"])
    def recompute_deadlines(self, request, queryset):
        return redirect(self._start_recompute(request, gettext("started by hand")))

    @admin.action(description=_("Reload from the published schedule (chinese-calendar)"), permissions=["change"])
    def reload_published(self, request, queryset):
        result = calendar_services.seed_calendar(years=list(queryset.values_list("year", flat=True)), replace=True,
                                                 by=request.user, recompute=False)
        if result.loaded:
            messages.success(request, gettext("Reloaded: %(years)s.") % {"years": ", ".join(map(str, result.loaded))})
        if result.skipped:
            messages.warning(request, gettext("The published schedule does not cover %(years)s; enter these years by "
                                              "hand.") % {"years": ", ".join(map(str, result.skipped))})
        if result.loaded:
            return redirect(self._start_recompute(request, gettext("published schedule reloaded")))
        return None


def _day_count(kind: str):
    days = CalendarDay.objects.filter(day__year=OuterRef("year"), kind=kind).order_by()
    return Coalesce(Subquery(days.values("kind").annotate(n=Count("pk")).values("n")[:1]), 0)


class CalendarYearFilter(admin.SimpleListFilter):
    title = _("year")
    parameter_name = "year"

    def lookups(self, request, model_admin):
        years = {day.year for day in CalendarDay.objects.dates("day", "year")}
        years |= set(CalendarYear.objects.values_list("year", flat=True))
        return [(str(year), str(year)) for year in sorted(years, reverse=True)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        year = int(value)
        return queryset.filter(day__gte=dt.date(year, 1, 1), day__lte=dt.date(year, 12, 31))


@admin.register(CalendarDay)
class CalendarDayAdmin(ProvinceWritesMixin, StrictLookupsMixin, SimpleHistoryAdmin):
    list_display = ("day", "weekday", "kind", "name")
    list_filter = (CalendarYearFilter, "kind")
    search_fields = ("name",)
    fields = ("day", "kind", "name")

    @admin.display(description=_("weekday"))
    def weekday(self, day):
        return WEEKDAYS[day.day.weekday()]
