"""The ledger services lock the enrollment row they change, not the person and region rows they read with it.

PostgreSQL only (SQLite has no row locks): skipped on a developer's SQLite, failed in CI without PostgreSQL. While
one transaction holds the service's lock, another connection tries each row with NOWAIT: the enrollment row must
be taken, the person and region rows free.
"""

import threading
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, connections, transaction

from enrollment.models import Enrollment, Person, Region
from enrollment.services import ledger
from tests.conftest import require
from tests.factories import make_person, region_tree

pytestmark = pytest.mark.services


def _try_lock_elsewhere(model, pk) -> bool:
    """Whether another connection can lock the row right now (NOWAIT: no waiting, an error if it is taken)."""
    outcome = {}

    def worker():
        try:
            with transaction.atomic():
                model.objects.select_for_update(nowait=True).get(pk=pk)
            outcome["locked"] = True
        except DatabaseError:
            outcome["locked"] = False
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=30)
    assert "locked" in outcome, "the other connection hung"
    return outcome["locked"]


# serialized_rollback: the flush after a transactional test would otherwise drop the seeded reference rows for
# the tests after it, and re-create the groups that the next serialized test restores.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ledger_lock_takes_the_enrollment_row_only():
    require(connection.vendor == "postgresql", "needs PostgreSQL")
    region = region_tree()["a"]
    person = make_person(region)
    enrollment = Enrollment.objects.create(person=person, plan_year=2026, region=region,
                                           contribution_due=Decimal("380.00"), subsidy_amount=Decimal("0.00"))
    with transaction.atomic():
        locked = ledger._locked(enrollment)
        assert locked.person == person and locked.region == region  # read with it, in the same query
        assert not _try_lock_elsewhere(Enrollment, enrollment.pk)
        assert _try_lock_elsewhere(Person, person.pk)
        assert _try_lock_elsewhere(Region, region.pk)
