"""Building a plan year's ledger for a region (生成参保台账) as a run with progress, and the ledger's follow-up
after roster and identity imports.

A run works county by county — each county its own transaction — so its progress is visible while it runs and a
failure keeps what earlier counties committed (a rerun adds only what is missing: every step is idempotent).
Per county: new identity holders get 应参保 rows (``build_ledger``), unpaid rows whose subsidising identity has
ended are listed for review (``mark_ended_identities``), and the problems are found (``detect_ledger_problems``).

``start_ledger_build`` records the run and hands it to Celery after the commit (in-process on the embedded
default); ``execute_ledger_run`` is what the task and ``manage.py build_ledger`` run.
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from ..models import Enrollment, LedgerProblem, LedgerRun, Region, RegionMembership
from ..models.ledger import EnrollmentStatus, ProblemKind, ProblemStatus
from ..models.ledger_runs import LedgerRunStatus
from ..models.regions import RegionLevel
from ..scoping import user_can_reach_region
from ..selectors import enrolment_terms
from ..task_queue import start_after_commit
from .ledger import BATCH_SIZE, _holder_rows, build_ledger, detect_ledger_problems

FOLLOWED_IMPORTS = ("roster", "identities")


def open_plan_years(today: date) -> list[int]:
    """Plan years whose ledger is still worked on: this year, and next year once its collection has begun
    (集中征缴期, September–December)."""
    return [today.year, today.year + 1] if today.month >= 9 else [today.year]


def _counties(region: Region) -> list[Region]:
    counties = list(Region.objects.filter(path__startswith=region.path, level=RegionLevel.COUNTY).order_by("code"))
    return counties or [region]


def start_ledger_build(*, region: Region, plan_year: int, by, trigger: str = "",
                       check_permission: bool = True, dispatch: bool = True) -> LedgerRun:
    """Record a build of ``plan_year``'s ledger for ``region`` and start it (Celery after the commit).

    ``check_permission=False`` only for the system's own follow-up of an import (the importer may not build)."""
    if check_permission:
        if not by.has_perm("enrollment.add_ledgerrun"):
            raise PermissionDenied(_("You may not build the ledger."))
        if not user_can_reach_region(by, region):
            raise PermissionDenied(_("This region is not one you work for."))
    if not 2000 <= plan_year <= timezone.localdate().year + 1:
        raise ValidationError(_("Plan year %(year)s cannot be built.") % {"year": plan_year}, code="plan_year")
    run = LedgerRun.objects.create(region=region, plan_year=plan_year, created_by=by, trigger=trigger[:100],
                                   total_steps=len(_counties(region)))

    if dispatch:
        start_after_commit("enrollment.build_ledger_run", run.pk)
    return run


def mark_ended_identities(*, region: Region, plan_year: int, by, on_date: date | None = None) -> int:
    """List for review (a ledger problem) every unpaid 应参保 row in the subtree carrying a subsidy although the
    person no longer holds an identity that subsidises them — their identity ended since the row was made.
    Returns how many problems were opened; one already open is not repeated."""
    on_date = on_date or timezone.localdate()
    terms = enrolment_terms(list(Region.objects.filter(path__startswith=region.path)), plan_year)
    codes = {code for t in terms.values() for code in t.rules}
    holders = {person_id for person_id, _r, _b, _i in _holder_rows(region, plan_year, on_date, codes=codes)}
    rows = (Enrollment.objects.filter(region__path__startswith=region.path, plan_year=plan_year,
                                      status=EnrollmentStatus.SHOULD_ENROL, subsidy_amount__gt=0)
            .exclude(person__problems__in=LedgerProblem.objects.filter(
                plan_year=plan_year, kind=ProblemKind.IDENTITY_ENDED, status=ProblemStatus.OPEN))
            .values_list("person_id", "region_id", "subsidy_amount"))
    problems = [
        LedgerProblem(person_id=person_id, plan_year=plan_year, region_id=region_id, kind=ProblemKind.IDENTITY_ENDED,
                      description=_("No identity subsidises this person any more, but the unpaid row still carries a "
                                    "subsidy of %(amount)s yuan: review it.") % {"amount": amount})
        for person_id, region_id, amount in rows if person_id not in holders]
    bulk_create_with_history(problems, LedgerProblem, batch_size=BATCH_SIZE, default_user=by)
    return len(problems)


def execute_ledger_run(run_id: int) -> LedgerRun | None:
    """Run a recorded build; a run already running or finished is left alone (a redelivered task)."""
    claimed = LedgerRun.objects.filter(pk=run_id, status=LedgerRunStatus.PENDING).update(
        status=LedgerRunStatus.RUNNING)
    run = LedgerRun.objects.select_related("region", "created_by").filter(pk=run_id).first()
    if not claimed or run is None:
        return run
    try:
        counties = _counties(run.region)
        LedgerRun.objects.filter(pk=run.pk).update(total_steps=len(counties))
        for county in counties:
            with transaction.atomic():
                created = build_ledger(region=county, plan_year=run.plan_year, by=run.created_by).created
                ended = mark_ended_identities(region=county, plan_year=run.plan_year, by=run.created_by)
                found = detect_ledger_problems(region=county, plan_year=run.plan_year, by=run.created_by).total_created
            run.done_steps += 1
            run.created_rows += created
            run.identities_ended += ended
            run.problems_found += found + ended
            LedgerRun.objects.filter(pk=run.pk).update(
                done_steps=run.done_steps, created_rows=run.created_rows, identities_ended=run.identities_ended,
                problems_found=run.problems_found)
    except Exception as error:
        message = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        LedgerRun.objects.filter(pk=run.pk).update(
            status=LedgerRunStatus.FAILED, finished_at=timezone.now(), message=message[:500])
        if not isinstance(error, ValidationError):
            raise
        # Missing policy data (no contribution standard, no policy version): the run says so on its page;
        # the import or page that started it is not failed by it.
        run.refresh_from_db()
        return run
    LedgerRun.objects.filter(pk=run.pk).update(status=LedgerRunStatus.DONE, finished_at=timezone.now())
    run.refresh_from_db()
    return run


def follow_up_import(*, kind: str, user) -> list[LedgerRun]:
    """After a roster or identity import: rebuild the open plan years' ledger of the importing user's regions, so
    new identity holders get rows and rows of ended identities are listed. Runs after the import's commit."""
    if kind not in FOLLOWED_IMPORTS or user is None:
        return []
    regions = [m.region for m in RegionMembership.objects.filter(user=user).select_related("region")]
    # A region under another of the user's regions is covered by that one's run.
    regions = [r for r in regions if not any(o.pk != r.pk and r.path.startswith(o.path) for o in regions)]
    runs = []
    for region in regions:
        for year in open_plan_years(timezone.localdate()):
            runs.append(start_ledger_build(region=region, plan_year=year, by=user, check_permission=False,
                                           trigger=_("after an import by %(user)s") % {"user": user.get_username()}))
    return runs


__all__ = ["execute_ledger_run", "follow_up_import", "mark_ended_identities", "open_plan_years",
           "start_ledger_build"]
