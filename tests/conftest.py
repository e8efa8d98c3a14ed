import os

import pytest

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
def _celery_eager(settings):
    """Unit and HTTP tests run tasks in-process; tests of the real worker use celery_worker explicitly."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
