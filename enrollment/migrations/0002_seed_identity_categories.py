"""Seed the identity categories of SPEC §2; staff may add more in the admin."""

from django.db import migrations

CATEGORIES = [
    # code, name, certifying department, monitored
    ("tekun", "特困人员", "civil_affairs", False),
    ("orphan", "孤儿", "civil_affairs", False),
    ("unsupported_child", "事实无人抚养儿童", "civil_affairs", False),
    ("dibao", "低保对象", "civil_affairs", False),
    ("dibao_edge", "低保边缘家庭成员", "civil_affairs", False),
    ("returned_poverty", "返贫致贫人口", "rural_revitalization", False),
    ("unstable_lifted", "脱贫不稳定户", "rural_revitalization", True),
    ("edge_vulnerable", "边缘易致贫户", "rural_revitalization", True),
    ("sudden_hardship", "突发严重困难户", "rural_revitalization", True),
    ("registered_poor", "建档立卡贫困人口", "poverty_office", False),
    ("stable_lifted", "稳定脱贫人口", "rural_revitalization", False),
    ("illness_poor", "因病致贫重病患者", "medical_insurance", False),
]


def seed(apps, schema_editor):
    IdentityCategory = apps.get_model("enrollment", "IdentityCategory")
    for order, (code, name, department, monitored) in enumerate(CATEGORIES, start=1):
        IdentityCategory.objects.update_or_create(
            code=code,
            defaults={"name": name, "certified_by": department, "is_monitored": monitored, "sort_order": order},
        )


class Migration(migrations.Migration):
    dependencies = [("enrollment", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
