"""The night's periodic task shipped with an English description (0003); staff read it on the schedule's page in
Chinese. Only the shipped text is replaced: a description staff have since written is theirs."""

from django.db import migrations

TASK_NAME = "预警名单：每晚计算"
SHIPPED = "Every top-level region and everything under it, as of the night's date."
CHINESE = "每个顶级地区及其下属全部地区，按当晚的日期计算。"


def to_chinese(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=TASK_NAME, description=SHIPPED).update(description=CHINESE)


def to_english(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=TASK_NAME, description=CHINESE).update(description=SHIPPED)


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0003_monitor_beat_schedule")]

    operations = [migrations.RunPython(to_chinese, to_english)]
