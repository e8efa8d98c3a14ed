"""A real Celery worker on Redis runs a whole night: beat's task fans out one task per county and list, the parts
join in the database, and the run closes — with PostgreSQL, not the eager mode that hides serialisation and
transaction bugs."""

import os
import time
from datetime import date

import pytest
from django.db import connection

from monitoring.models import ListKind, NightRun, PartStatus, RunStatus, WarningItem
from monitoring.services.night import night_kinds
from monitoring.tasks import compute_part_task, run_night_task
from tests.factories import make_identity, make_person

from ..conftest import require
from .factories import monitored_policy, settled

pytest_plugins = ("celery.contrib.pytest",)

NIGHT = date(2024, 6, 28)


@pytest.fixture
def celery_app():
    from config.celery import app

    return app


@pytest.fixture
def celery_worker_parameters():
    # Without a result backend the worker's start-up ping (which waits for a result) cannot work.
    return {"perform_ping_check": False, "shutdown_timeout": 30.0}


@pytest.fixture
def live_broker(settings):
    broker = os.environ.get("CELERY_BROKER_URL", "")
    require(bool(broker), "CELERY_BROKER_URL is not set (a Redis broker for the real-worker test)")
    require(connection.vendor == "postgresql", "the real-worker test needs PostgreSQL (DATABASE_URL)")
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    app.conf.broker_url = broker
    yield app
    app.conf.task_always_eager = previous


def wait_for(condition, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_runs_a_whole_night_and_a_redelivered_part_changes_nothing(live_broker, request, regions):
    policy = monitored_policy(regions["prefecture"])
    for county in ("a", "b"):
        person = make_person(regions[county])
        make_identity(person, "unstable_lifted", date(2020, 1, 1))
        settled(person, policy=policy, total="12000.00", scope="12000.00")
    worker = request.getfixturevalue("celery_worker")
    assert worker is not None
    run_night_task.delay("522700", NIGHT.isoformat())
    wait_for(lambda: NightRun.objects.filter(status=RunStatus.FINISHED).exists())
    run = NightRun.objects.get()
    assert run.parts.count() == 2 * len(night_kinds())
    assert not run.parts.exclude(status=PartStatus.DONE).exists()
    assert WarningItem.objects.filter(kind=ListKind.HIGH_COST).count() == 2
    before = sorted(WarningItem.objects.values_list("pk", "kind", "subject_key", "status"))
    # The broker delivers a part's task again (visibility timeout, worker killed after the commit): nothing moves.
    part = run.parts.get(region=regions["a"], kind=ListKind.HIGH_COST)
    compute_part_task.delay(part.pk)
    run_night_task.delay("522700", NIGHT.isoformat())  # and a second night for the same date
    wait_for(lambda: NightRun.objects.filter(status=RunStatus.FINISHED).count() == 2)
    assert sorted(WarningItem.objects.values_list("pk", "kind", "subject_key", "status")) == before
