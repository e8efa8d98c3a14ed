import os

import pytest
from django.utils import translation

from enrollment import roles

from .factories import make_user, region_tree

# CI sets CI=true and real service URLs; tests that need PostgreSQL, Redis or Chromium then fail instead of
# skipping, so a green CI run proves they ran.
CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str):
    """Skip on a developer's machine, fail in CI, when a service a test needs is missing."""
    if condition:
        return
    if CI:
        pytest.fail(f"CI requires: {reason}")
    pytest.skip(reason)


def budgeted_count_extra() -> int:
    """Statements an admin list's count adds on PostgreSQL, where it runs under a time budget
    (enrollment.counting.exact_count_within): SAVEPOINT, SET LOCAL statement_timeout and ROLLBACK TO SAVEPOINT
    around the COUNT, which replaced one EXPLAIN. Fixed per page, not per row."""
    from django.db import connection

    return 3 if connection.vendor == "postgresql" else 0


@pytest.fixture
def regions(db):
    return region_tree()


@pytest.fixture
def clerk_a(regions):
    return make_user("clerk_a", roles=(roles.CLERK,), regions=(regions["a"],))


@pytest.fixture
def clerk_b(regions):
    return make_user("clerk_b", roles=(roles.CLERK,), regions=(regions["b"],))


@pytest.fixture
def province_user(regions):
    return make_user("province", roles=(roles.CLERK,), regions=(regions["province"],))


@pytest.fixture
def head_a(regions):
    return make_user("head_a", roles=(roles.HEAD,), regions=(regions["a"],))


@pytest.fixture(autouse=True)
def _test_environment(settings):
    """What every test shares.

    - The test client speaks plain HTTP to a DEBUG-off site: no HTTPS redirect, and static files without the
      manifest that `collectstatic` writes at deployment.
    - Users are made per test: a fast password hasher keeps the suite quick.
    - Messages are asserted in the msgid language (English). The Chinese catalogue's completeness is pinned by
      tests/project/test_translations.py and Chinese rendering by tests/project/test_chinese_first.py.
    """
    settings.SECURE_SSL_REDIRECT = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _fresh_work_calendar():
    """The working-day calendar is cached per process; a test that edits it and rolls back sends no signal."""
    from claims.calendar import invalidate_calendar

    invalidate_calendar()
    yield
    invalidate_calendar()


@pytest.fixture(autouse=True)
def _celery_eager(settings):
    """Unit and HTTP tests run tasks in-process; tests of the real worker use celery_worker explicitly."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters, cached sessions, hospital access and policy bundles live in the (per-process) cache;
    a test that rolls its rows back sends no signal, and the next test may reuse the same ids."""
    from django.core.cache import cache

    from claims.policy_cache import forget_policy_bundles

    cache.clear()
    forget_policy_bundles()
    yield
    cache.clear()
    forget_policy_bundles()
