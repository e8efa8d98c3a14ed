"""The hourly purge of expired export files as a django-celery-beat periodic task (editable in the admin)."""

from django.db import migrations

TASK_NAME = "导出文件：每小时清理过期文件"


def add_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "enrollment.purge_expired_exports", "crontab": crontab, "kwargs": "{}", "enabled": True,
                  "description": "删除已过期的导出文件（导出记录保留：谁在何时导出了什么）。"})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("enrollment", "0006_export_job"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
