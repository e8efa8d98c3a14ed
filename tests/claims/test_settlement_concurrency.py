"""Settling claims of one person at the same moment never exceeds an annual cap or limit (SPEC §4.2).

Runs on PostgreSQL only, with real concurrent transactions: each thread has its own connection. Skipped on a
developer's SQLite, failed in CI when PostgreSQL is missing (``tests.conftest.require``).

The window between reading the year-to-date and committing the lines is widened on purpose (the service's
year-to-date read sleeps after it returns), so that without the person lock every thread would read the same empty
year and each pay up to the cap: the test then fails, it does not just get lucky.
"""

import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.models import Sum

from claims.models import Claim, PaymentLine, Settlement
from claims.models.choices import Layer
from claims.services import settlement as settlement_service
from tests.conftest import require
from tests.factories import region_tree

from .factories import make_claim, make_clerk, make_hospital, make_patient, spec_example_policy

D = Decimal
BASIC_CAP = D("50000.00")
ASSISTANCE_LIMIT = D("8000.00")
READ_WINDOW_SECONDS = 0.3

pytestmark = pytest.mark.services


def _settle_all_at_once(claim_ids: list[int], by) -> list[BaseException]:
    """Start one thread per claim, release them together, wait for all; returns the errors raised."""
    barrier = threading.Barrier(len(claim_ids))
    errors: list[BaseException] = []

    def worker(claim_id: int) -> None:
        try:
            claim = Claim.objects.get(pk=claim_id)
            barrier.wait(timeout=30)
            settlement_service.settle_claim(claim=claim, by=by)
        except BaseException as error:  # reported to the test thread, which fails on it
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(claim_id,)) for claim_id in claim_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a settlement thread hung"
    return errors


@pytest.mark.parametrize("claims_at_once", [2, 4])
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_settlements_of_one_person_never_exceed_the_caps(monkeypatch, claims_at_once):
    require(connection.vendor == "postgresql", "needs PostgreSQL")
    regions = region_tree()
    policy = spec_example_policy(regions["prefecture"], basic_annual_cap=str(BASIC_CAP))
    policy.assistance_rules.update(annual_limit=ASSISTANCE_LIMIT)
    person = make_patient(regions["a"], codes=("dibao",))
    hospital = make_hospital(regions["a"])
    clerk = make_clerk()
    # Each claim alone pays basic 38 625.00 and assistance 6 689.38 (the SPEC example): any two together would
    # exceed both the basic cap (50 000) and the assistance limit (8 000) if they were settled side by side.
    claims = [make_claim(person, hospital, admitted_on=date(2024, 3, day)) for day in range(1, claims_at_once + 1)]

    reads: list[Decimal] = []
    original_read = settlement_service.year_to_date

    def slow_year_to_date(*args, **kwargs):
        ytd = original_read(*args, **kwargs)
        reads.append(ytd.basic_paid)
        time.sleep(READ_WINDOW_SECONDS)
        return ytd

    monkeypatch.setattr(settlement_service, "year_to_date", slow_year_to_date)

    errors = _settle_all_at_once([claim.pk for claim in claims], clerk)

    assert errors == []
    settlements = list(Settlement.objects.filter(claim__in=claims, reversed_at__isnull=True))
    assert len(settlements) == claims_at_once  # every claim settled, none refused
    for settlement in settlements:
        lines = {line.layer: line.amount for line in PaymentLine.objects.filter(settlement=settlement)}
        money = [lines[layer] for layer in (Layer.BASIC, Layer.CRITICAL, Layer.ASSISTANCE, Layer.HOSPITAL,
                                            Layer.PATIENT)]
        assert all(amount >= 0 for amount in money)
        assert sum(money) == settlement.claim.total_cost == settlement.total

    def year_sum(layer: str) -> Decimal:
        return PaymentLine.objects.filter(person=person, year=2024, layer=layer).aggregate(s=Sum("amount"))["s"]

    assert year_sum(Layer.BASIC) == BASIC_CAP
    assert year_sum(Layer.ASSISTANCE) == ASSISTANCE_LIMIT
    # Serialised: every read saw all the settlements committed before it, so no two reads saw the same year.
    assert sorted(reads) == [D("0.00"), D("38625.00")] + [BASIC_CAP] * (claims_at_once - 2)
