"""The nightly warning run as a django-celery-beat periodic task (editable in the admin: 周期任务)."""

from django.db import migrations

TASK_NAME = "预警名单：每晚计算"


def add_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="1", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "monitoring.run_night", "crontab": crontab, "kwargs": "{}", "enabled": True,
                  "description": "Every top-level region and everything under it, as of the night's date."})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_monitor_answers"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
