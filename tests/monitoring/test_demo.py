"""The demo region has nights already run: every list non-empty, items at each status."""

import pytest
from django.core.management import call_command
from django.db.models import Count

from monitoring.models import ItemStatus, NightRun, RunStatus, WarningItem
from monitoring.services.night import night_kinds


@pytest.mark.django_db
def test_seed_demo_runs_the_nights_with_every_list_and_status(tmp_path):
    call_command("seed_demo", "--persons", "600", "--password-file", str(tmp_path / "logins.txt"),
                 stdout=open(tmp_path / "out.txt", "w"))  # noqa: SIM115
    assert NightRun.objects.filter(status=RunStatus.FINISHED).count() == 2
    kinds = dict(WarningItem.objects.values_list("kind").annotate(n=Count("pk")))
    assert all(kinds.get(kind, 0) > 0 for kind in night_kinds()), kinds
    statuses = set(WarningItem.objects.values_list("status", flat=True))
    assert statuses == set(ItemStatus.values)
    assert "Monitoring:" in (tmp_path / "out.txt").read_text()
