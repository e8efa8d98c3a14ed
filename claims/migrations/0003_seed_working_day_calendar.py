"""Seed the working-day calendar with the State Council schedules 2004–2026 (the chinese-calendar package).

Every fresh database gets them; staff correct or add years in the admin (claims.services.calendar.load_year).
Years already present are left as they are. Nothing to recompute: a fresh database has no open cases.
"""

from django.db import migrations


def seed(apps, schema_editor):
    from claims.rules.calendar_seed import chinese_calendar_seed

    CalendarYear = apps.get_model("claims", "CalendarYear")
    CalendarDay = apps.get_model("claims", "CalendarDay")
    seed = chinese_calendar_seed(range(2004, 2027))
    present = set(CalendarYear.objects.values_list("year", flat=True))
    years = sorted(seed.loaded_years - present)
    taken = set(CalendarDay.objects.filter(day__year__in=years).values_list("day", flat=True))
    CalendarDay.objects.bulk_create(
        [CalendarDay(day=row.day, kind=row.kind, name=row.name) for row in seed.rows
         if row.day.year in years and row.day not in taken])
    CalendarYear.objects.bulk_create(
        [CalendarYear(year=year, source="chinese-calendar (initial seed)") for year in years])


class Migration(migrations.Migration):
    dependencies = [("claims", "0002_hospitalbatch_advance_working_days")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
