"""The night's schedule (django-celery-beat) in the admin: heads read it everywhere, a province head changes when it
runs and switches it on or off, in Chinese; which task runs and with what stays with superusers."""

import pytest
from django.urls import reverse
from django.utils import translation
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from enrollment import roles
from monitoring.admin_schedule import describe_crontab
from tests.conftest import require
from tests.factories import make_user
from tests.project.test_translations import MO

pytestmark = pytest.mark.django_db

NIGHT_TASK = "预警名单：每晚计算"  # written by monitoring's migration 0003


@pytest.fixture
def night():
    return PeriodicTask.objects.get(name=NIGHT_TASK)


@pytest.fixture
def province_head(regions):
    return make_user("head_p", roles=(roles.HEAD,), regions=(regions["province"],))


def _change(night, **fields):
    data = {"name": night.name, "enabled": "on" if night.enabled else "", "description": night.description,
            "crontab": night.crontab_id, "start_time_0": "", "start_time_1": ""}
    data.update(fields)
    return data


def test_a_province_head_changes_when_the_night_runs(client, province_head, night,
                                                     django_assert_max_num_queries):
    earlier = CrontabSchedule.objects.create(minute="0", hour="23", timezone="Asia/Shanghai")
    client.force_login(province_head)
    url = reverse("admin:django_celery_beat_periodictask_change", args=[night.pk])
    with django_assert_max_num_queries(20):
        page = client.get(url)
    assert page.status_code == 200 and page.context["has_change_permission"]
    form = page.context["adminform"].form
    # The schedule's own fields only: not the Celery task, its arguments or the other schedule kinds.
    assert {"enabled", "crontab", "start_time", "description"} <= set(form.fields)
    assert not {"args", "kwargs", "queue", "interval", "solar", "clocked"} & set(form.fields)

    response = client.post(url, _change(night, crontab=earlier.pk, enabled="", task="enrollment.import_job",
                                        regtask="enrollment.import_job", kwargs='{"job_id": 1}'))
    assert response.status_code == 302, response.context["adminform"].form.errors
    night.refresh_from_db()
    assert (night.crontab_id, night.enabled) == (earlier.pk, False)
    assert (night.task, night.kwargs) == ("monitoring.run_night", "{}")  # what runs is not the head's to change


def test_a_province_head_edits_the_crontab_but_adds_no_other_schedule(client, province_head, night):
    client.force_login(province_head)
    url = reverse("admin:django_celery_beat_crontabschedule_change", args=[night.crontab_id])
    response = client.post(url, {"minute": "15", "hour": "2", "day_of_month": "*", "month_of_year": "*",
                                 "day_of_week": "*", "timezone": "Asia/Shanghai",
                                 "periodictask_set-TOTAL_FORMS": "0", "periodictask_set-INITIAL_FORMS": "0"})
    assert response.status_code == 302
    assert CrontabSchedule.objects.get(pk=night.crontab_id).hour == "2"
    for model in ("crontabschedule", "periodictask", "intervalschedule"):
        assert client.get(reverse(f"admin:django_celery_beat_{model}_add")).status_code == 403
    interval = IntervalSchedule.objects.create(every=1, period="days")
    assert client.get(reverse("admin:django_celery_beat_intervalschedule_change", args=[interval.pk])
                      ).status_code == 403


def test_a_county_head_reads_the_schedule_without_changing_it(client, head_a, night):
    client.force_login(head_a)
    url = reverse("admin:django_celery_beat_periodictask_change", args=[night.pk])
    page = client.get(url)
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert client.post(url, _change(night, enabled="")).status_code == 403
    assert PeriodicTask.objects.get(pk=night.pk).enabled
    assert client.get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 200


def test_other_roles_do_not_see_the_schedule(client, clerk_a, night):
    client.force_login(clerk_a)
    assert client.get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 403


def test_a_superuser_keeps_the_full_page(client, admin_user, night):
    client.force_login(admin_user)
    page = client.get(reverse("admin:django_celery_beat_periodictask_change", args=[night.pk]))
    assert {"task", "regtask", "args", "kwargs", "interval"} <= set(page.context["adminform"].form.fields)


def test_the_schedule_is_described_in_chinese(client, settings, province_head, night):
    require(MO.exists(), "the compiled Chinese catalogue is missing")
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(province_head)
    with translation.override("zh-hans"):
        assert describe_crontab(night.crontab) == "在 01:30（Asia/Shanghai）"
        page = client.get(reverse("admin:django_celery_beat_periodictask_change", args=[night.pk])
                          ).content.decode()
        crontabs = client.get(reverse("admin:django_celery_beat_crontabschedule_changelist")).content.decode()
    assert "运行时间" in page and "在 01:30（Asia/Shanghai）" in page and "At 01:30" not in page
    assert "在 01:30（Asia/Shanghai）" in crontabs and "At 01:30" not in crontabs
