"""The night's schedule (django-celery-beat's database scheduler) in the admin: one for the whole province, so read
by heads everywhere and changed only at province level, like the other shared reference data (roles.PROVINCE_WRITES).

A head changes when the night runs (its crontab, the start date) and switches it on or off. Which task runs, with
what arguments and execution options, names a Celery task and its input: that stays with superusers (operations), so
a head's page shows those fields read-only and the form cannot change them.
"""

from cron_descriptor import (
    ExpressionDescriptor,
    FormatException,
    MissingFieldException,
    Options,
    WrongArgumentException,
)
from django.contrib import admin
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django_celery_beat.admin import PeriodicTaskAdmin, PeriodicTaskForm, PeriodicTaskInline
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from enrollment.admin.base import ProvinceWritesMixin, StrictLookupsMixin

# What a head sees of a periodic task, and which of it they may change.
HEAD_FIELDSETS = (
    (None, {"fields": ("name", "task_name", "enabled", "description")}),
    (_("Schedule"), {"fields": ("crontab", "crontab_translation", "start_time", "last_run_at")}),
)
HEAD_READ_ONLY = ("name", "task_name", "last_run_at", "crontab_translation")


def describe_crontab(crontab) -> str:
    """When a crontab fires, in the user's language ("在 01:30"); django-celery-beat's own description is always
    English ("At 01:30 AM"), from cron-descriptor's default locale."""
    if crontab is None:
        return ""
    options = Options()
    options.locale_code = "zh_CN" if (translation.get_language() or "").startswith("zh") else "en_US"
    options.use_24hour_time_format = True
    expression = " ".join(str(part) for part in (crontab.minute, crontab.hour, crontab.day_of_month,
                                                 crontab.month_of_year, crontab.day_of_week))
    try:
        text = ExpressionDescriptor(expression, options).get_description()
    except (FormatException, MissingFieldException, WrongArgumentException):
        text = expression
    return f"{text}（{crontab.timezone}）"


class HeadScheduleForm(PeriodicTaskForm):
    """The task keeps the Celery task it runs: the page does not offer it, so the form takes it from the row."""

    def clean(self):
        self.cleaned_data["regtask"] = None
        self.cleaned_data["task"] = self.instance.task
        return super().clean()


class _TaskNames:
    # The package names the task field "Task Name" without marking it for translation.
    @admin.display(description=_("Celery task"))
    def task_name(self, obj):
        return obj.task


class NightTaskInline(_TaskNames, PeriodicTaskInline):
    """The tasks a crontab runs, on its page: which and whether on (their arguments are on each task's page)."""

    fields = ("name", "task_name", "enabled")
    readonly_fields = fields


class TaskFilter(admin.AllValuesFieldListFilter):
    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = _("Celery task")  # the package's field name is "Task Name", untranslated


class _PeriodicTaskPages(_TaskNames):
    """The periodic task's pages: crontabs described in Chinese; for heads, only the schedule's own fields."""

    def get_list_filter(self, request):
        return [(("task", TaskFilter) if name == "task" else name) for name in super().get_list_filter(request)]

    def get_list_display(self, request):
        # "scheduler" is a model property the package shows under its English attribute name.
        return [("schedule_shown" if name == "scheduler" else name) for name in super().get_list_display(request)]

    @admin.display(description=_("Schedule"))
    def schedule_shown(self, obj):
        return describe_crontab(obj.crontab) if obj.crontab_id else obj.scheduler

    @admin.display(description=_("When it runs"))
    def crontab_translation(self, obj):
        return describe_crontab(obj.crontab)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The package's view adds English crontab descriptions for its script; ours are in Chinese, so its own
        # changeform_view is stepped over.
        extra_context = {**(extra_context or {}), "readable_crontabs": {
            crontab.pk: describe_crontab(crontab) for crontab in CrontabSchedule.objects.all()}}
        return super(PeriodicTaskAdmin, self).changeform_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        return super().get_fieldsets(request, obj) if request.user.is_superuser else HEAD_FIELDSETS

    def get_readonly_fields(self, request, obj=None):
        return super().get_readonly_fields(request, obj) if request.user.is_superuser else HEAD_READ_ONLY

    def get_form(self, request, obj=None, **kwargs):
        if not request.user.is_superuser:
            kwargs["form"] = HeadScheduleForm
        return super().get_form(request, obj, **kwargs)


class _SchedulePages:
    inlines = [NightTaskInline]


class _CrontabPages(_SchedulePages):

    @admin.display(description=_("When it runs"))
    def human_readable(self, obj):
        return describe_crontab(obj)


# django_celery_beat comes before monitoring in INSTALLED_APPS, so its admins are registered by now: keep each one's
# pages and add the province rule and the strict look-ups every other admin has.
for _model in (PeriodicTask, CrontabSchedule, IntervalSchedule, SolarSchedule, ClockedSchedule):
    _base = type(admin.site._registry[_model]) if admin.site.is_registered(_model) else admin.ModelAdmin
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    _mixins = {PeriodicTask: (_PeriodicTaskPages,), CrontabSchedule: (_CrontabPages,)}.get(_model, (_SchedulePages,))
    admin.site.register(_model, type(f"Province{_base.__name__}",
                                     (*_mixins, ProvinceWritesMixin, StrictLookupsMixin, _base), {}))
