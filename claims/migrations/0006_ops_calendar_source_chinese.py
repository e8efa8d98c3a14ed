"""The seeded calendar years' source text in Chinese (it is shown on the calendar pages)."""

from django.db import migrations

OLD = "chinese-calendar (initial seed)"
NEW = "国务院办公厅节假日安排（chinese-calendar 数据包，初始导入）"


def forwards(apps, schema_editor):
    apps.get_model("claims", "CalendarYear").objects.filter(source=OLD).update(source=NEW)


def backwards(apps, schema_editor):
    apps.get_model("claims", "CalendarYear").objects.filter(source=NEW).update(source=OLD)


class Migration(migrations.Migration):
    dependencies = [("claims", "0005_case_open_due_order")]
    operations = [migrations.RunPython(forwards, backwards)]
