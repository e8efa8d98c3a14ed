"""The dashboard's figures of a night, stored when the night closes (`DashboardSnapshot`), so that a page view
reads one row instead of aggregating the ledger and a year of settlements."""

from __future__ import annotations

from ..models import DashboardSnapshot, NightRun
from ..selectors import region_figures


def store_snapshots(*, run: NightRun) -> int:
    """Compute the figures once for the run's region and every region below it and store one row per region;
    a second call for the same run (a redelivered closing task) changes nothing."""
    figures = region_figures(run.region, year=run.data_date.year, day=run.data_date)
    rows = [DashboardSnapshot(run=run, region_id=region_id, year=run.data_date.year, figures=value)
            for region_id, value in figures.items()]
    DashboardSnapshot.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
