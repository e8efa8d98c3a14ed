"""The night's schedule (django-celery-beat's database scheduler) in the admin: one for the whole province, so read
by heads everywhere and changed only at province level, like the other shared reference data (roles.PROVINCE_WRITES).
"""

from django.contrib import admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from enrollment.admin.base import ProvinceWritesMixin, StrictLookupsMixin

# django_celery_beat comes before monitoring in INSTALLED_APPS, so its admins are registered by now: keep each one's
# pages and add the province rule and the strict look-ups every other admin has.
for _model in (PeriodicTask, CrontabSchedule, IntervalSchedule, SolarSchedule, ClockedSchedule):
    _base = type(admin.site._registry[_model]) if admin.site.is_registered(_model) else admin.ModelAdmin
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, type(f"Province{_base.__name__}", (ProvinceWritesMixin, StrictLookupsMixin, _base), {}))
