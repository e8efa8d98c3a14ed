"""Settle the registered claims of a region, a hospital or a period in one batch — the nightly run.

    manage.py settle_claims --user night_clerk
    manage.py settle_claims --region 522701 --hospital H000123 --until 2024-06-30 --user clerk_a

Claims are those registered (not settled, not rejected) within the user's regions (region scoping applies as in
the admin), narrowed by the options. ``claims.services.batch_settlement.settle_claims`` does the work: chunks of
whole people, each its own transaction; claims that cannot be settled are listed on stderr with the reason and do
not stop the others. The exit status is 0 when the run finished (refusals included) and 1 on a bad argument or an
error that stopped the run (the chunks committed before it stay settled; running again settles the rest).
"""

import time
from datetime import date

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from claims.models import Claim, Hospital
from claims.models.choices import VisitType
from claims.models.claims import ClaimStatus
from claims.services.batch_settlement import DEFAULT_CHUNK_SIZE, settle_claims
from claims.services.settlement import SETTLE_PERMISSION
from enrollment.models import Region
from enrollment.scoping import scope_queryset, subtree_ids, user_can_reach_region


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--until: {value!r} is not a date (YYYY-MM-DD).")


def served_until(day: date) -> Q:
    """Claims whose date of service (discharge for inpatient care, visit otherwise; Claim.service_date) is on or
    before `day`."""
    discharged = Q(visit_type=VisitType.INPATIENT, discharged_on__isnull=False)
    return (discharged & Q(discharged_on__lte=day)) | (~discharged & Q(admitted_on__lte=day))


class Command(BaseCommand):
    help = "Settle registered claims in one batch (by region, hospital, date of service), as a given clerk."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username of the settling clerk (their regions apply)")
        parser.add_argument("--region", help="region code: claims of this region and the regions under it")
        parser.add_argument("--hospital", help="hospital code")
        parser.add_argument("--until", help="last date of service to settle (YYYY-MM-DD)")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                            help=f"claims per transaction (whole people; default {DEFAULT_CHUNK_SIZE})")

    def handle(self, *args, user, region, hospital, until, chunk_size, **options):
        try:
            clerk = get_user_model().objects.get(username=user, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No active user {user!r}.")
        if not clerk.has_perm(SETTLE_PERMISSION):
            raise CommandError(f"User {user!r} may not settle claims ({SETTLE_PERMISSION}).")
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        claims = scope_queryset(Claim.objects.all(), clerk, for_change=True).filter(status=ClaimStatus.REGISTERED)
        if region:
            found = Region.objects.filter(code=region).first()
            if found is None or not user_can_reach_region(clerk, found):
                raise CommandError(f"No region {region!r} among user {user!r}'s regions.")
            claims = claims.filter(region_id__in=subtree_ids(found.path))
        if hospital:
            found = Hospital.objects.filter(code=hospital).first()
            if found is None:
                raise CommandError(f"No hospital {hospital!r}.")
            claims = claims.filter(hospital=found)
        if until:
            claims = claims.filter(served_until(_date(until)))

        started = time.perf_counter()
        result = settle_claims(claims=claims, by=clerk, chunk_size=chunk_size)
        elapsed = time.perf_counter() - started
        for refusal in result.refusals:
            self.stderr.write(f"{refusal.claim_number or refusal.claim_id}: {refusal.message}")
        self.stdout.write(f"{result.settled} claims settled, {result.refused} refused, in {result.chunks} "
                          f"transactions, {elapsed:.1f} s.")
